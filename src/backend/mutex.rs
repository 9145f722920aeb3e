//! The `mutex` backend: the single-threaded store (a slab, a hash table and
//! the timer wheel) behind one lock.
//!
//! The simple, obviously correct reference. Every operation takes the lock
//! once, briefly: hashing happens before it, the removal listener and any
//! loader's `init` after it (the front-end sees to both). Capacity is
//! enforced inside each insert, so the cache is never above its bound (zero
//! slack).

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::Duration;

use crate::backend::store::Store;
use crate::builder::{BuildError, Config};
use crate::clock::Ticks;
use crate::core::{Core, Departures, ExpiryRules, Gate, Stamps};
use crate::frontend::Cache;
use crate::kind::BackendKind;
use crate::sync::Mutex;

/// A cache behind one mutex: every operation is linearizable, the bound is
/// exact, LRU is exact. See the [crate docs](crate) for the contract it
/// meets.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::prelude::*;
///
/// let cache: MutexCache<String, u64> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(300))
///     .max_capacity(2)
///     .no_sweeper()
///     .build()?;
/// for (n, key) in ["a", "b", "c"].into_iter().enumerate() {
///     cache.insert(key.to_string(), n as u64);
///     assert!(cache.len() <= 2, "evicts inside the insert: never above its bound");
/// }
/// assert_eq!(cache.stats().removals(RemovalCause::Capacity), 1);
/// # Ok::<(), BuildError>(())
/// ```
pub type MutexCache<K, V> = Cache<K, V, MutexCore<K, V>>;

/// The storage of a [`MutexCache`]: one store (slab, table, timer wheel, policy) behind one lock.
///
/// ```
/// use ttlkit::backend::mutex::MutexCore;
/// use ttlkit::core::Core;
///
/// // The core's name is the backend's name.
/// assert_eq!(<MutexCore<u8, u8> as Core<u8, u8>>::NAME, "mutex");
/// ```
pub struct MutexCore<K, V> {
    pub(crate) store: Mutex<Store<K, V>>,
}

impl<K, V> Core<K, V> for MutexCore<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    const NAME: &'static str = BackendKind::Mutex.name();
    const READS_TAKE_THE_WRITE_LOCK: bool = true;

    fn build(config: &Config<K, V>) -> Result<Self, BuildError> {
        let policy =
            config.policy_entries.map(|n| config.policy.build_for_slots(usize::try_from(n).unwrap_or(usize::MAX)));
        let store = Store::new(config.rules, config.max_capacity, config.weighted(), policy, config.hasher)
            .with_own_deadlines(config.own.clone());
        Ok(MutexCore { store: Mutex::new(store) })
    }

    fn read<Q>(&self, hash: u64, key: &Q, now: Ticks, refresh: bool, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut store = self.store.lock();
        if refresh {
            store.get(hash, key, now, out.list()).cloned()
        } else {
            store.peek(hash, key, now).cloned()
        }
    }

    fn read_for_load(&self, hash: u64, key: &K, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V> {
        let mut store = self.store.lock();
        let found = store.get(hash, key, now, out.list()).cloned();
        gate.after_change();
        found
    }

    fn upsert(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        now: Ticks,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> bool {
        let mut store = self.store.lock();
        if !gate.admits() {
            return false;
        }
        store.write(hash, key, value, weight, ttl, now, out.list());
        gate.after_change();
        true
    }

    fn remove<Q>(&self, hash: u64, key: &Q, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut store = self.store.lock();
        if !gate.admits() {
            return None;
        }
        let value = store.remove(hash, key, now, out.list());
        gate.after_change();
        store.shrink_if_sparse();
        value
    }

    fn expire(&self, now: Ticks, budget: usize, out: &mut Departures<K, V>) -> (usize, bool) {
        let mut store = self.store.lock();
        let done = store.purge_expired(now, budget, out.list());
        store.shrink_if_sparse();
        done
    }

    fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) {
        let mut store = self.store.lock();
        store.clear(now, out.list());
        gate.after_change();
        store.shrink_if_sparse();
    }

    fn len(&self) -> usize {
        self.store.lock().len()
    }

    fn inspect<Q>(&self, hash: u64, key: &Q, now: Ticks) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.store.lock().inspect(hash, key, now)
    }

    fn for_each_live(&self, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        self.store.lock().for_each_live(now, f);
    }

    fn weighted_size(&self) -> u64 {
        self.store.lock().weight()
    }

    fn ranked(&self, n: usize, now: Ticks, hottest: bool) -> Option<Vec<(K, V)>> {
        self.store.lock().ranked(n, now, hottest)
    }

    fn set_rules(&self, rules: ExpiryRules, _now: Ticks) -> bool {
        self.store.lock().set_rules(rules);
        true
    }

    fn set_max_capacity(&self, max: u64, now: Ticks, out: &mut Departures<K, V>) -> Result<(), BuildError> {
        let mut store = self.store.lock();
        store.set_max_weight(max, now, out.list())?;
        store.shrink_if_sparse();
        Ok(())
    }

    fn retain(
        &self,
        now: Ticks,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> Option<usize> {
        let mut store = self.store.lock();
        let removed = store.retain(now, keep, out.list());
        gate.after_change();
        store.shrink_if_sparse();
        Some(removed)
    }
}

#[cfg(test)]
#[path = "mutex_tests.rs"]
mod tests;
