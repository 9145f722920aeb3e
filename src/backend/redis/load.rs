//! Loads that are single-flight across processes: a short-lived Redis lock
//! per key, taken with `SET NX PX`, released with a token check.

use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::record::key_digest;
use super::{Inner, Refresh};
use crate::invalidation::LoadTicket;
use crate::load_error::LoadError;
use crate::loader::LoadTarget;
use crate::stats::LoadRecorder;

/// How a load's caller was served, for the tiered cache's own hits and
/// misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// From Redis, without a load.
    Hit,
    /// By a load: this caller's (or, across processes, another's).
    Miss,
    /// By another thread's load in this process (not a miss).
    Coalesced,
}

/// Releases a held load lock when dropped, also while `init` unwinds.
struct HeldLock<'a, K, V> {
    inner: &'a Inner<K, V>,
    key: String,
    token: String,
}

impl<K, V> Drop for HeldLock<'_, K, V> {
    fn drop(&mut self) {
        let released =
            self.inner.pool.run(|c| Ok(self.inner.scripts.unlock.key(&self.key).arg(&self.token).invoke::<i64>(c)?));
        // A lock that cannot be released expires on its own.
        if let Err(e) = released {
            self.inner.failed(&e);
        }
    }
}

impl<K, V> LoadTarget<K, V> for Inner<K, V>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    V: Clone + Serialize + DeserializeOwned,
{
    fn lookup(&self, key: &K) -> Option<V> {
        match self.read(key, Refresh::Always) {
            Ok(found) => found.map(|(_, v)| v),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    fn begin(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        // Other processes write too, and the value is stored inside `init`
        // (below): nothing in this process could refuse it.
        (LoadTicket::untracked(), self.lookup(key))
    }

    fn commit(&self, _key: K, _value: V, _ticket: &LoadTicket<'_>) -> bool {
        // Stored by `load_shared` while it still holds the cross-process
        // lock, so that waiting processes find the value when it is freed.
        true
    }

    fn recorder(&self) -> LoadRecorder<'_> {
        // Redis takes only the system clock, so `Instant` times the loads.
        LoadRecorder::new(&self.stats, None)
    }
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq + Clone + Serialize + DeserializeOwned,
    V: Clone + Serialize + DeserializeOwned,
{
    /// The value for `key`, loaded at most once across threads and
    /// processes; also says how the caller was served (counted in the
    /// stats). `refresh` is what the first read does to the idle deadline.
    pub(crate) fn get_or_load<F, E>(&self, key: K, refresh: Refresh, init: F) -> (Result<V, LoadError<E>>, Served)
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        match self.read(&key, refresh) {
            Ok(Some((_, v))) => {
                self.stats.lookup(true);
                return (Ok(v), Served::Hit);
            }
            Ok(None) => {}
            Err(e) => self.failed(&e),
        }
        self.stats.lookup(false);
        let shared_key = key.clone();
        let (result, coalesced) = self.loader.load(self, key, move || self.load_shared(&shared_key, init));
        (result, if coalesced { Served::Coalesced } else { Served::Miss })
    }

    /// Runs in this process's leading thread: takes the key's Redis lock
    /// (or waits for another process's load), runs `init`, stores.
    fn load_shared<F, E>(&self, key: &K, init: F) -> Result<V, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let lock_key = self.lock_key(key_digest(key));
        let token = format!("{}-{}", self.origin, self.tokens.fetch_add(1, Ordering::Relaxed));
        let mut pause = Duration::from_millis(1);
        loop {
            let taken = self.pool.run(|c| {
                let reply: Option<String> =
                    redis::cmd("SET").arg(&lock_key).arg(&token).arg("NX").arg("PX").arg(self.lock_ms).query(c)?;
                Ok(reply.is_some())
            });
            match taken {
                Ok(true) => {
                    let _held = HeldLock { inner: self, key: lock_key, token };
                    // Another process may have stored the value between our
                    // miss and our lock.
                    if let Some(v) = self.lookup(key) {
                        return Ok(v);
                    }
                    let value = init()?;
                    if let Err(e) = self.write(key.clone(), value.clone()) {
                        self.failed(&e);
                    }
                    return Ok(value);
                }
                Ok(false) => {
                    // Another process is loading: wait for its value, or
                    // for its lock to be released or to expire.
                    thread::sleep(pause);
                    pause = (pause * 2).min(self.poll_max);
                    match self.read(key, Refresh::Always) {
                        Ok(Some((_, v))) => return Ok(v),
                        Ok(None) => {}
                        Err(e) => {
                            self.failed(&e);
                            return init();
                        }
                    }
                }
                Err(e) => {
                    // Redis is unreachable: load here, uncached.
                    self.failed(&e);
                    return init();
                }
            }
        }
    }
}
