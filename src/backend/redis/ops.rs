//! The operations of the Redis backend, one round trip each (`clear` and
//! `len` one per `SCAN` batch): reads, writes, removes, counts, clears.

use std::borrow::Borrow;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::RedisCacheError;
use super::record::{decode, encode, key_digest, Record};
use super::{Inner, CLEAR_BATCH};
use crate::cache::RemovalCause;

/// Parses a `{now, record-or-nil}` script reply.
fn stamped(reply: Option<(u64, Option<Vec<u8>>)>) -> (u64, Option<Vec<u8>>) {
    reply.unwrap_or((0, None))
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    V: Clone + Serialize + DeserializeOwned,
{
    /// Reads the live entry for `q` (refreshing its idle deadline if
    /// `refresh`), returning the stored key with the value. Reports an
    /// entry found past this process's lifetime as `Expired` (and deletes
    /// it when refreshing). Counts nothing.
    pub(crate) fn read<Q>(&self, q: &Q, refresh: bool) -> Result<Option<(K, V)>, RedisCacheError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let dkey = self.data_key(&key_digest(q));
        let (live, bytes) = match self.lifetime_ms {
            None => {
                let bytes: Option<Vec<u8>> = self.pool.run(|c| {
                    let mut cmd = if refresh { redis::cmd("GETEX") } else { redis::cmd("GET") };
                    cmd.arg(&dkey);
                    if refresh {
                        cmd.arg("PX").arg(self.idle_ms);
                    }
                    Ok(cmd.query(c)?)
                })?;
                match bytes {
                    Some(b) => (true, b),
                    None => return Ok(None),
                }
            }
            Some(lifetime) => {
                let idle = if refresh { self.idle_ms } else { 0 };
                let reply: Option<(u8, Vec<u8>)> =
                    self.pool.run(|c| Ok(self.scripts.read.key(&dkey).arg(idle).arg(lifetime).invoke(c)?))?;
                match reply {
                    None => return Ok(None),
                    Some((2, _)) => return Err(RedisCacheError::Malformed { key: dkey }),
                    Some((status, b)) => (status == 1, b),
                }
            }
        };
        let rec: Record<K, V> = decode(&dkey, &bytes)?;
        if !live {
            if refresh {
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
        let dkey = self.data_key(&key_digest(&key));
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
        let dkey = self.data_key(&key_digest(q));
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
        p.push_str(":d:*");
        p
    }

    /// One `SCAN` step over the data keys.
    fn scan(&self, cursor: u64) -> Result<(u64, Vec<String>), RedisCacheError> {
        let pattern = self.data_pattern();
        self.pool.run(|c| {
            Ok(redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(CLEAR_BATCH).query(c)?)
        })
    }

    pub(crate) fn count(&self) -> Result<usize, RedisCacheError> {
        let (mut cursor, mut n) = (0, 0);
        loop {
            let (next, keys) = self.scan(cursor)?;
            n += keys.len();
            if next == 0 {
                return Ok(n);
            }
            cursor = next;
        }
    }

    /// Deletes every entry of the prefix, reporting each; returns how many.
    pub(crate) fn clear_all(&self) -> Result<usize, RedisCacheError> {
        let mut cursor = 0;
        let mut total = 0;
        loop {
            let (next, keys) = self.scan(cursor)?;
            if !keys.is_empty() {
                total += self.take_batch(&keys)?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if let Some(channel) = &self.channel {
            let msg = format!("{}*", self.origin);
            self.pool.run(|c| Ok(redis::cmd("PUBLISH").arg(channel).arg(msg).query::<()>(c)?))?;
        }
        Ok(total)
    }

    fn take_batch(&self, keys: &[String]) -> Result<usize, RedisCacheError> {
        let reply: Vec<redis::Value> = self.pool.run(|c| {
            let mut inv = self.scripts.take_batch.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            Ok(inv.invoke(c)?)
        })?;
        let mut values = reply.into_iter();
        let now: u64 = match values.next() {
            Some(v) => redis::from_redis_value(v).map_err(redis::RedisError::from)?,
            None => return Err(RedisCacheError::Reply("empty reply to a batch delete".to_owned())),
        };
        let mut removed = Vec::new();
        let mut bad = None;
        for (dkey, v) in keys.iter().zip(values) {
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
