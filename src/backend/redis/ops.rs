//! The operations of the Redis backend, one round trip each (`clear` and
//! `len` one per `SCAN` batch, on each master of a cluster): reads, writes,
//! removes, counts, clears.

use std::borrow::Borrow;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::cluster::{self, Node};
use super::conn::Link;
use super::error::RedisCacheError;
use super::record::{decode, encode, key_digest, Record};
use super::{Inner, CLEAR_BATCH};
use crate::cache::RemovalCause;

/// What a read does to the entry's idle deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// Leaves it (`peek`).
    No,
    /// Slides it to `now + idle` (`get`).
    Always,
    /// Slides it only when that moves it later by more than this many
    /// milliseconds: a tiered cache's L1 fill, whose touch would otherwise
    /// make Redis invalidate every tracking process's copy of the key.
    Lazy(u64),
}

/// Parses a `{now, record-or-nil}` script reply.
fn stamped(reply: Option<(u64, Option<Vec<u8>>)>) -> (u64, Option<Vec<u8>>) {
    reply.unwrap_or((0, None))
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    V: Clone + Serialize + DeserializeOwned,
{
    /// Reads the live entry for `q` (refreshing its idle deadline as
    /// `refresh` says), returning the stored key with the value. Reports an
    /// entry found past this process's lifetime as `Expired` (and deletes
    /// it when refreshing). Counts nothing.
    pub(crate) fn read<Q>(&self, q: &Q, refresh: Refresh) -> Result<Option<(K, V)>, RedisCacheError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let dkey = self.data_key(key_digest(q));
        let (live, bytes) = match (self.lifetime_ms, refresh) {
            (None, Refresh::No | Refresh::Always) => {
                let bytes: Option<Vec<u8>> = self.pool.run(|c| {
                    let mut cmd = match refresh {
                        Refresh::Always => redis::cmd("GETEX"),
                        _ => redis::cmd("GET"),
                    };
                    cmd.arg(&dkey);
                    if refresh == Refresh::Always {
                        cmd.arg("PX").arg(self.idle_ms);
                    }
                    Ok(cmd.query(c)?)
                })?;
                match bytes {
                    Some(b) => (true, b),
                    None => return Ok(None),
                }
            }
            (lifetime, _) => {
                let (idle, slack) = match refresh {
                    Refresh::No => (0, 0),
                    Refresh::Always => (self.idle_ms, 0),
                    Refresh::Lazy(slack) => (self.idle_ms, slack.max(1)),
                };
                let reply: Option<(u8, Vec<u8>)> = self.pool.run(|c| {
                    Ok(self.scripts.read.key(&dkey).arg(idle).arg(lifetime.unwrap_or(0)).arg(slack).invoke(c)?)
                })?;
                match reply {
                    None => return Ok(None),
                    Some((2, _)) => return Err(RedisCacheError::Malformed { key: dkey }),
                    Some((status, b)) => (status == 1, b),
                }
            }
        };
        let rec: Record<K, V> = decode(&dkey, &bytes)?;
        if !live {
            if refresh != Refresh::No {
                self.notify(vec![(rec.key, rec.value, RemovalCause::Expired)]);
            }
            return Ok(None);
        }
        if rec.key.borrow() != q {
            return Ok(None);
        }
        Ok(Some((rec.key, rec.value)))
    }

    /// Stores `value`, reporting what it displaced; counts the insert.
    pub(crate) fn write(&self, key: K, value: V) -> Result<(), RedisCacheError> {
        let dkey = self.data_key(key_digest(&key));
        let kbytes = encode(&key)?;
        let vbytes = encode(&value)?;
        let reply: Option<(u64, Option<Vec<u8>>)> = self.pool.run(|c| {
            Ok(self
                .scripts
                .insert
                .key(&dkey)
                .arg(&kbytes)
                .arg(&vbytes)
                .arg(self.idle_ms)
                .arg(self.lifetime_ms.unwrap_or(0))
                .arg(self.channel.as_deref().unwrap_or(""))
                .arg(&self.origin)
                .invoke(c)?)
        })?;
        self.stats.insert();
        let (now, old) = stamped(reply);
        if let Some(old) = old {
            let rec: Record<K, V> = decode(&dkey, &old)?;
            let cause = if rec.key != key {
                RemovalCause::Capacity
            } else if self.past_lifetime(rec.created_ms, now) {
                RemovalCause::Expired
            } else {
                RemovalCause::Replaced
            };
            self.notify(vec![(rec.key, rec.value, cause)]);
        }
        Ok(())
    }

    /// Deletes the entry for `q`; returns its value if it was live and `q`'s.
    pub(crate) fn take<Q>(&self, q: &Q) -> Result<Option<V>, RedisCacheError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let dkey = self.data_key(key_digest(q));
        let reply: Option<(u64, Option<Vec<u8>>)> = self.pool.run(|c| {
            Ok(self.scripts.remove.key(&dkey).arg(self.channel.as_deref().unwrap_or("")).arg(&self.origin).invoke(c)?)
        })?;
        let (now, old) = stamped(reply);
        let Some(old) = old else { return Ok(None) };
        let rec: Record<K, V> = decode(&dkey, &old)?;
        let ours = rec.key.borrow() == q;
        if self.past_lifetime(rec.created_ms, now) {
            self.notify(vec![(rec.key, rec.value, RemovalCause::Expired)]);
            return Ok(None);
        }
        let value = ours.then(|| rec.value.clone());
        self.notify(vec![(rec.key, rec.value, RemovalCause::Explicit)]);
        Ok(value)
    }

    /// The pattern matching every data key of this prefix (glob-escaped).
    fn data_pattern(&self) -> String {
        let mut p = String::with_capacity(self.prefix.len() + 4);
        for ch in self.prefix.chars() {
            if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(ch);
        }
        p.push_str(":{*}:d");
        p
    }

    /// The servers to scan: the one server (`None`), or each master.
    fn scan_targets(&self) -> Result<Vec<Option<Node>>, RedisCacheError> {
        let asked = self.pool.manager().infos().first().and_then(Node::of).map(|n| n.host).unwrap_or_default();
        self.pool.run_link(|link| match link {
            Link::One(_) => Ok(vec![None]),
            Link::Cluster(c) => Ok(cluster::masters(c.as_mut(), &asked)?.into_iter().map(Some).collect()),
        })
    }

    /// One `SCAN` step over the data keys of `node` (or of the one server).
    fn scan(&self, node: Option<&Node>, cursor: u64) -> Result<(u64, Vec<String>), RedisCacheError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor).arg("MATCH").arg(self.data_pattern()).arg("COUNT").arg(CLEAR_BATCH);
        self.pool.run_link(|link| match (link, node) {
            (Link::Cluster(c), Some(node)) => {
                Ok(redis::from_redis_value(c.route_command(&cmd, node.route())?).map_err(redis::RedisError::from)?)
            }
            (link, _) => Ok(cmd.query(link.conn())?),
        })
    }

    /// Runs `each` on every batch of data keys, server by server.
    fn for_each_batch(
        &self,
        mut each: impl FnMut(&[String]) -> Result<(), RedisCacheError>,
    ) -> Result<(), RedisCacheError> {
        for node in self.scan_targets()? {
            let mut cursor = 0;
            loop {
                let (next, keys) = self.scan(node.as_ref(), cursor)?;
                if !keys.is_empty() {
                    each(&keys)?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }

    pub(crate) fn count(&self) -> Result<usize, RedisCacheError> {
        let mut n = 0;
        self.for_each_batch(|keys| {
            n += keys.len();
            Ok(())
        })?;
        Ok(n)
    }

    /// Deletes every entry of the prefix, reporting each; returns how many.
    pub(crate) fn clear_all(&self) -> Result<usize, RedisCacheError> {
        let mut total = 0;
        self.for_each_batch(|keys| {
            total += self.take_batch(keys)?;
            Ok(())
        })?;
        if let Some(channel) = &self.channel {
            let msg = format!("{}*", self.origin);
            self.pool.run(|c| Ok(redis::cmd("PUBLISH").arg(channel).arg(msg).query::<()>(c)?))?;
        }
        Ok(total)
    }

    /// Deletes `keys`, reporting each entry: one script on one server; on
    /// a cluster (where a script touches one slot) one script per key, sent
    /// as one pipeline per master.
    fn take_batch(&self, keys: &[String]) -> Result<usize, RedisCacheError> {
        let replies: Vec<redis::Value> = self.pool.run_link(|link| match link {
            Link::One(c) => {
                let mut inv = self.scripts.take_batch.prepare_invoke();
                for k in keys {
                    inv.key(k);
                }
                Ok(vec![inv.invoke(c)?])
            }
            Link::Cluster(c) => {
                let mut pipe = redis::cluster::cluster_pipe();
                for k in keys {
                    pipe.add_command(redis::cmd("EVAL").arg(self.scripts.take_batch_source()).arg(1).arg(k).clone());
                }
                Ok(pipe.query(c.as_mut())?)
            }
        })?;
        // Each reply is `{now, record or false, ...}` for its share of `keys`.
        // (The time is the clock of the server that held the key.)
        let mut taken = Vec::with_capacity(keys.len());
        for reply in replies {
            let mut values = match reply {
                redis::Value::Array(values) => values.into_iter(),
                _ => return Err(RedisCacheError::Reply("a batch delete answered no array".to_owned())),
            };
            let Some(stamp) = values.next() else {
                return Err(RedisCacheError::Reply("empty reply to a batch delete".to_owned()));
            };
            let now = redis::from_redis_value::<u64>(stamp).map_err(redis::RedisError::from)?;
            taken.extend(values.map(|v| (now, v)));
        }
        let mut removed = Vec::new();
        let mut bad = None;
        for (dkey, (now, v)) in keys.iter().zip(taken) {
            let Some(bytes) = redis::from_redis_value::<Option<Vec<u8>>>(v).map_err(redis::RedisError::from)? else {
                continue;
            };
            match decode::<K, V>(dkey, &bytes) {
                Ok(rec) => {
                    let cause = if self.past_lifetime(rec.created_ms, now) {
                        RemovalCause::Expired
                    } else {
                        RemovalCause::Cleared
                    };
                    removed.push((rec.key, rec.value, cause));
                }
                Err(e) => bad = Some(e),
            }
        }
        let n = removed.len();
        self.notify(removed);
        match bad {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}
