//! The `mutex` backend: the single-threaded store (a slab, a hash table and
//! two deadline-ordered lists) behind one lock, plus the sweeper.
//!
//! The simple, obviously correct reference. Every operation takes the lock
//! once, briefly: hashing happens before it, the removal listener and any
//! loader's `init` after it. Capacity is enforced inside each insert, so the
//! cache is never above its bound (zero slack).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::backend::store::Store;
use crate::builder::{BuildError, Config, FromConfig};
use crate::cache::{CacheStats, SlidingTtlCache};
use crate::clock::ClockSource;
use crate::invalidation::LoadTicket;
use crate::kind::BackendKind;
use crate::listener::{notify, RemovalListener, Removed};
use crate::loader::{LoadTarget, Loader};
use crate::stats::StatsCounter;
use crate::sweeper::{Sweep, Sweeper};
use crate::sync::{Arc, Mutex};

/// Entries a sweep or purge removes per lock hold.
const PURGE_BATCH: usize = 256;

/// A cache behind one mutex, with an O(expired) sweeper. See the
/// [crate docs](crate) for the contract it meets.
pub struct MutexCache<K, V> {
    inner: Arc<Inner<K, V>>,
    /// Shared by user handles only; the last one to drop stops the sweeper.
    sweeper: Option<Arc<Sweeper>>,
}

struct Inner<K, V> {
    store: Mutex<Store<K, V>>,
    hasher: crate::sync::RandomState,
    clock: ClockSource,
    stats: StatsCounter,
    listener: Option<RemovalListener<K, V>>,
    loader: Loader<K, V>,
}

impl<K, V> Clone for MutexCache<K, V> {
    fn clone(&self) -> Self {
        MutexCache { inner: Arc::clone(&self.inner), sweeper: self.sweeper.clone() }
    }
}

impl<K, V> fmt::Debug for MutexCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexCache")
            .field("len", &self.inner.store.lock().len())
            .field("sweeper", &self.sweeper.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V> FromConfig<K, V> for MutexCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn from_config(config: Config<K, V>) -> Result<Self, BuildError> {
        let policy = config.policy_entries.map(|n| config.policy.build(usize::try_from(n).unwrap_or(usize::MAX)));
        let hasher = crate::sync::RandomState::default();
        let inner = Arc::new(Inner {
            store: Mutex::new(Store::new(config.rules, config.max_capacity, config.weigher, policy, hasher)),
            hasher,
            clock: config.clock,
            stats: StatsCounter::default(),
            listener: config.listener,
            loader: Loader::default(),
        });
        let sweeper = match config.sweep_interval {
            Some(every) => {
                Some(Arc::new(Sweeper::start(Arc::downgrade(&inner), every).map_err(BuildError::SpawnSweeper)?))
            }
            None => None,
        };
        Ok(MutexCache { inner, sweeper })
    }
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq,
{
    fn notify(&self, removed: Vec<Removed<K, V>>) {
        if !removed.is_empty() {
            notify(self.listener.as_ref(), &self.stats, removed);
        }
    }

    /// Runs `op` on the locked store, then reports what it removed, even
    /// when `op` panics (a weigher, or a policy the store has since
    /// repaired): what left the store is reported, then the panic goes on.
    fn locked<R>(&self, op: impl FnOnce(&mut Store<K, V>, &mut Vec<Removed<K, V>>) -> R) -> R {
        let mut removed = Vec::new();
        // Unwind safety: the store is consistent after a panic in `op`
        // (store_repair.rs), and the lock is released by the unwind.
        let result = catch_unwind(AssertUnwindSafe(|| op(&mut self.store.lock(), &mut removed)));
        self.notify(removed);
        result.unwrap_or_else(|panic| resume_unwind(panic))
    }

    /// A hit-path lookup: refreshes, tells the policy, removes the entry if
    /// it turned out expired.
    fn lookup<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let hash = self.hasher.hash_one(key);
        let now = self.clock.now();
        self.locked(|store, removed| store.get(hash, key, now, removed).cloned())
    }

    fn insert(&self, key: K, value: V) {
        self.store_gated(key, value, None);
    }

    /// An explicit insert (`ticket` is `None`), which marks the key's loads,
    /// or a load's store, refused if its ticket was marked; returns whether
    /// it stored.
    fn store_gated(&self, key: K, value: V, ticket: Option<&LoadTicket<'_>>) -> bool {
        let hash = self.hasher.hash_one(&key);
        let now = self.clock.now();
        let stored = self.locked(|store, removed| {
            if ticket.is_some_and(LoadTicket::invalidated) {
                return false;
            }
            store.insert(hash, key, value, now, removed);
            if ticket.is_none() {
                self.loader.marks().invalidate_locked(hash);
            }
            true
        });
        if stored {
            self.stats.insert();
        }
        stored
    }

    /// One batch of expiry; returns (removed, more pending).
    fn purge_batch(&self) -> (usize, bool) {
        let now = self.clock.now();
        self.locked(|store, removed| {
            let done = store.purge_expired(now, PURGE_BATCH, removed);
            store.shrink_if_sparse();
            done
        })
    }
}

impl<K, V> Sweep for Inner<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn sweep_batch(&self) -> bool {
        self.purge_batch().1
    }
}

impl<K, V> LoadTarget<K, V> for Inner<K, V>
where
    K: Hash + Eq,
    V: Clone,
{
    fn lookup(&self, key: &K) -> Option<V> {
        Inner::lookup(self, key)
    }

    fn begin(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        let hash = self.hasher.hash_one(key);
        let ticket = self.loader.marks().register(hash);
        let now = self.clock.now();
        let found = self.locked(|store, removed| {
            let found = store.get(hash, key, now, removed).cloned();
            ticket.arm();
            found
        });
        (ticket, found)
    }

    fn commit(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        self.store_gated(key, value, Some(ticket))
    }

    fn load_failed(&self) {
        self.stats.load_failure();
    }
}

impl<K, V> SlidingTtlCache<K, V> for MutexCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn backend_name(&self) -> &'static str {
        BackendKind::Mutex.name()
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.inner.lookup(key);
        self.inner.stats.lookup(value.is_some());
        value
    }

    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.inner.hasher.hash_one(key);
        let now = self.inner.clock.now();
        self.inner.store.lock().peek(hash, key, now).cloned()
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.inner.hasher.hash_one(key);
        let now = self.inner.clock.now();
        self.inner.store.lock().peek(hash, key, now).is_some()
    }

    fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value);
    }

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.inner.hasher.hash_one(key);
        let now = self.inner.clock.now();
        self.inner.locked(|store, removed| {
            let value = store.remove(hash, key, now, removed);
            self.inner.loader.marks().invalidate_locked(hash);
            store.shrink_if_sparse();
            value
        })
    }

    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        self.inner.loader.get_or_load(&*self.inner, &self.inner.stats, key, init)
    }

    fn len(&self) -> usize {
        self.inner.store.lock().len()
    }

    fn clear(&self) {
        let now = self.inner.clock.now();
        self.inner.locked(|store, removed| {
            store.clear(now, removed);
            self.inner.loader.marks().invalidate_all_locked();
            store.shrink_if_sparse();
        });
    }

    fn purge_expired(&self) -> usize {
        let mut total = 0;
        loop {
            let (n, more) = self.inner.purge_batch();
            total += n;
            if !more {
                return total;
            }
        }
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    fn begin_load(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        self.inner.begin(key)
    }

    fn commit_load(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        self.inner.commit(key, value, ticket)
    }
}

#[cfg(test)]
#[path = "mutex_tests.rs"]
mod tests;
