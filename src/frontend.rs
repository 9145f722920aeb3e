//! The front-end: the one in-process implementation of [`SlidingTtlCache`],
//! over any [`Core`].
//!
//! Everything here is the same for every backend, so it is written once:
//! hashing, the clock, statistics, listener delivery after every lock is
//! released (even when the core panicked: what left before the panic is
//! still reported), single-flight loads and their gates, and the sweeps.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::builder::{check_duration, BuildError, Config, FromConfig, Weigher, MAX_DURATION};
use crate::cache::{CacheStats, SlidingTtlCache, Unsupported};
use crate::clock::ClockSource;
use crate::core::{Core, Departures};
use crate::entry::{Computed, Fetched, Op};
use crate::expiry::Timeouts;
use crate::inspect::{EntryInfo, Iter};
use crate::invalidation::{Gate, LoadTicket};
use crate::listener::{notify, RemovalListener};
use crate::load_error::LoadError;
use crate::load_settings::LoadSettings;
use crate::loader::{LoadTarget, Loader};
use crate::maintenance::reloads::PoolUser;
use crate::stale::{shelve, Shelf};
use crate::stats::{LoadRecorder, StatsCounter};
use crate::sweeper::{Sweep, Sweeper, BATCH};
use crate::sync::{Arc, Mutex, RandomState};

/// A cache: ttlkit's front-end over the storage core `C`.
///
/// Users name it through its aliases, [`MutexCache`](crate::MutexCache),
/// `ShardedCache` (feature `sharded`) and `MokaCache` (feature `moka`);
/// a crate that writes its own [`Core`] names `Cache<K, V, TheirCore<K, V>>`
/// (see [`ttlkit::core`](crate::core)). Clones share one cache; the last
/// handle to drop stops its sweeps.
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::Cache;
///
/// // Generic over the storage core: works for every in-process backend.
/// fn warm<C: ttlkit::core::Core<u32, String>>(cache: &Cache<u32, String, C>) {
///     for n in 0..3 {
///         cache.insert(n, n.to_string());
///     }
/// }
/// let cache: MutexCache<u32, String> = CacheBuilder::new().build()?;
/// warm(&cache);
/// let handle = cache.clone(); // clones share one cache
/// assert_eq!(handle.len(), 3);
/// # Ok::<(), BuildError>(())
/// ```
pub struct Cache<K, V, C> {
    shared: Arc<Frontend<K, V, C>>,
    /// Shared by user handles only: the last one to drop stops the sweeps.
    sweeper: Option<Arc<Sweeper>>,
}

pub(crate) struct Frontend<K, V, C> {
    pub(crate) core: C,
    hasher: RandomState,
    pub(crate) clock: ClockSource,
    pub(crate) stats: StatsCounter,
    listener: Option<RemovalListener<K, V>>,
    /// The one place an entry's weight is decided (see [`Self::weigh`]).
    weigher: Option<Weigher<K, V>>,
    pub(crate) loader: Loader<K, V>,
    /// Refresh-ahead, the load timeout and the spawner.
    pub(crate) loads: LoadSettings<K, V>,
    /// Values that expired lately, with `serve_stale_for`.
    pub(crate) shelf: Option<Shelf<K, V>>,
    /// With a reloader: keeps the reload pool's idle threads waiting for
    /// work while the cache lives.
    _reload_pool: Option<PoolUser>,
    /// The timeouts the rules come from: for [`EntryInfo`]'s time left to
    /// each deadline, and to derive new rules when one changes (the lock
    /// also orders concurrent changes).
    timeouts: Mutex<Timeouts>,
    /// The capacity bound now (`set_max_capacity` moves it).
    max_capacity: Mutex<Option<u64>>,
    /// `C::NAME` and `C::len`, kept so `Debug` needs no bounds on K and V.
    name: &'static str,
    len_of: fn(&C) -> usize,
}

#[cfg(test)]
impl<K: Hash + Eq, V, C> Cache<K, V, C> {
    /// See [`Loader::holders`].
    pub(crate) fn load_holders(&self, key: &K) -> usize {
        self.shared.loader.holders(key)
    }
}

impl<K, V, C> Clone for Cache<K, V, C> {
    fn clone(&self) -> Self {
        Cache { shared: Arc::clone(&self.shared), sweeper: self.sweeper.clone() }
    }
}

impl<K, V, C> fmt::Debug for Cache<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.shared.name)
            .field("len", &(self.shared.len_of)(&self.shared.core))
            .field("sweeper", &self.sweeper.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V, C> Cache<K, V, C> {
    /// The capacity bound now: the one it was built with, or the last
    /// [`set_max_capacity`](SlidingTtlCache::set_max_capacity) that took.
    ///
    /// ```
    /// use ttlkit::prelude::*;
    ///
    /// let cache: MutexCache<u8, u8> = CacheBuilder::new().max_capacity(10).build()?;
    /// cache.set_max_capacity(4)?;
    /// assert_eq!(cache.max_capacity(), Some(4));
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn max_capacity(&self) -> Option<u64> {
        *self.shared.max_capacity.lock()
    }

    /// A handle that does not keep the cache alive.
    pub(crate) fn downgrade(&self) -> crate::sync::Weak<Frontend<K, V, C>> {
        Arc::downgrade(&self.shared)
    }

    /// A handle on `shared` that starts and stops no sweeps (the user's
    /// handles own them).
    pub(crate) fn from_shared(shared: Arc<Frontend<K, V, C>>) -> Self {
        Cache { shared, sweeper: None }
    }

    /// The core, for the cores' own tests.
    #[cfg(test)]
    pub(crate) fn core(&self) -> &C {
        &self.shared.core
    }

    #[cfg(all(test, feature = "sharded"))]
    pub(crate) fn frontend(&self) -> &Frontend<K, V, C> {
        &self.shared
    }
}

impl<K, V, C> FromConfig<K, V> for Cache<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn from_config(config: Config<K, V>) -> Result<Self, BuildError> {
        let core = C::build(&config)?;
        let shared = Arc::new(Frontend {
            core,
            hasher: config.hasher,
            clock: config.clock,
            stats: StatsCounter::default(),
            listener: config.listener,
            weigher: config.weigher,
            loader: Loader::default(),
            shelf: config.loads.serve_stale_for.map(|d| Shelf::new(d, config.max_capacity)),
            _reload_pool: config.loads.reloader.as_ref().map(|_| PoolUser::register()),
            loads: config.loads,
            timeouts: Mutex::new(Timeouts {
                idle: config.time_to_idle,
                live: config.time_to_live,
                granularity: config.granularity_set.then(|| config.rules.granularity()),
            }),
            max_capacity: Mutex::new(config.max_capacity),
            name: C::NAME,
            len_of: C::len,
        });
        let sweeper = match config.sweep_interval {
            Some(every) => {
                Some(Arc::new(Sweeper::start(Arc::downgrade(&shared), every).map_err(BuildError::SpawnSweeper)?))
            }
            None => None,
        };
        Ok(Cache { shared, sweeper })
    }
}

impl<K, V, C> Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    /// Runs one core operation with a list for its departures, then reports
    /// them with no lock held, even when the operation panicked (a weigher,
    /// a policy): what left before the panic is gone and must be heard of.
    /// The panic then carries on.
    #[inline]
    pub(crate) fn reporting<R>(&self, op: impl FnOnce(&mut Departures<K, V>) -> R) -> R {
        let mut out = Departures::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| op(&mut out)));
        if !out.is_empty() {
            let left = out.take();
            if let Some(shelf) = &self.shelf {
                shelve(shelf, &left, self.clock.now());
            }
            notify(self.listener.as_ref(), &self.stats, left);
        }
        outcome.unwrap_or_else(|panic| resume_unwind(panic))
    }

    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The entry's weight: the user's weigher's, else 1. Called before the
    /// core is, so a weigher that panics leaves every core as it was.
    #[inline]
    pub(crate) fn weigh(&self, key: &K, value: &V) -> u32 {
        self.weigher.as_ref().map_or(1, |w| w(key, value))
    }

    /// Takes `key`'s stale value off the shelf: it was written, removed or
    /// loaded.
    #[inline]
    pub(crate) fn forget_stale(&self, key: &K) {
        if let Some(shelf) = &self.shelf {
            shelf.forget(key);
        }
    }

    /// A read; `refresh` for a hit (`get`), not for `peek`.
    #[inline]
    pub(crate) fn read<Q>(&self, key: &Q, refresh: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.clock.now();
        self.reporting(|out| self.core.read(hash, key, now, refresh, out))
    }

    /// Stores through `gate` (with an own time to live `ttl`); counts the
    /// insert if it stored.
    fn store(&self, key: K, value: V, ttl: Option<Duration>, ticket: Option<&LoadTicket<'_>>) -> bool {
        let hash = self.hash(&key);
        let weight = self.weigh(&key, &value);
        let gate = match ticket {
            Some(ticket) => Gate::commit(ticket),
            None => Gate::write(self.loader.marks(), hash, C::READS_TAKE_THE_WRITE_LOCK),
        };
        let now = self.clock.now();
        let stale = self.shelf.as_ref().map(|_| key.clone());
        let stored = self.reporting(|out| self.core.upsert(hash, key, value, weight, ttl, now, &gate, out));
        if stored {
            self.stats.insert();
        }
        if let Some(key) = stale {
            self.forget_stale(&key);
        }
        stored
    }

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let gate = Gate::write(self.loader.marks(), hash, C::READS_TAKE_THE_WRITE_LOCK);
        let now = self.clock.now();
        let removed = self.reporting(|out| self.core.remove(hash, key, now, &gate, out));
        if let Some(shelf) = &self.shelf {
            shelf.forget(key);
        }
        removed
    }

    fn clear(&self) {
        let gate = Gate::clear_all(self.loader.marks(), C::READS_TAKE_THE_WRITE_LOCK);
        let now = self.clock.now();
        self.reporting(|out| self.core.clear(now, &gate, out));
        if let Some(shelf) = &self.shelf {
            shelf.clear();
        }
    }

    /// A load's last lookup, with its ticket (see [`LoadTarget::begin`]).
    pub(crate) fn begin_load_of(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        self.begin(key)
    }

    /// One bounded batch of expiry; returns (removed, more pending).
    fn expire_batch(&self) -> (usize, bool) {
        let now = self.clock.now();
        self.reporting(|out| self.core.expire(now, BATCH, out))
    }

    fn stats(&self) -> CacheStats {
        self.reporting(|out| self.core.flush(out));
        self.stats.snapshot()
    }

    /// Applies `change` to the timeouts and hands the core the rules that
    /// follow; refuses (changing nothing) rules that do not validate or a
    /// core that cannot change them.
    fn retime(&self, setting: &'static str, change: impl FnOnce(&mut Timeouts)) -> Result<(), BuildError> {
        let mut timeouts = self.timeouts.lock();
        let mut next = *timeouts;
        change(&mut next);
        let rules = next.rules()?;
        if !self.core.set_rules(rules, self.clock.now()) {
            return Err(BuildError::UnsupportedSetting { core: C::NAME, setting });
        }
        *timeouts = next;
        Ok(())
    }
}

impl<K, V, C> Sweep for Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn sweep_batch(&self) -> bool {
        self.expire_batch().1
    }
}

impl<K, V, C> LoadTarget<K, V> for Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn lookup(&self, key: &K) -> Option<V> {
        self.read(key, true)
    }

    fn begin(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        let hash = self.hash(key);
        let ticket = self.loader.marks().register(hash);
        let now = self.clock.now();
        let found = {
            let gate = Gate::arm(&ticket);
            self.reporting(|out| self.core.read_for_load(hash, key, now, &gate, out))
        };
        (ticket, found)
    }

    fn commit(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        // `store` also ends the key's stale window, stored or not.
        self.store(key, value, None, Some(ticket))
    }

    fn recorder(&self) -> LoadRecorder<'_> {
        LoadRecorder::new(&self.stats, Some(&self.clock))
    }
}

impl<K, V, C> SlidingTtlCache<K, V> for Cache<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn backend_name(&self) -> &'static str {
        C::NAME
    }

    #[inline]
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.shared.read(key, true);
        self.shared.stats.lookup(value.is_some());
        value
    }

    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared.read(key, false)
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared.read(key, false).is_some()
    }

    fn insert(&self, key: K, value: V) {
        self.shared.store(key, value, None, None);
    }

    fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Result<(), Unsupported> {
        self.shared.store(key, value, Some(ttl), None);
        Ok(())
    }

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shared.remove(key)
    }

    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        Frontend::try_fetch_sync(&self.shared, key, init).map(Fetched::into_value)
    }

    fn try_fetch_with<F, E>(&self, key: K, init: F) -> Result<Fetched<V>, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        Frontend::try_fetch_sync(&self.shared, key, init)
    }

    fn try_fetch_async<Fut, E>(
        &self,
        key: K,
        init: Fut,
    ) -> impl Future<Output = Result<Fetched<V>, LoadError<E>>> + Send
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        Frontend::try_fetch_async(&self.shared, key, init)
    }

    fn compute_with<F>(&self, key: K, f: F) -> Computed<V>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        self.shared.compute_sync(key, f)
    }

    fn compute_async<F, Fut>(&self, key: K, f: F) -> impl Future<Output = Computed<V>> + Send
    where
        F: FnMut(Option<V>) -> Fut + Send,
        Fut: Future<Output = Op<V>> + Send,
    {
        Frontend::compute_async(&self.shared, key, f)
    }

    fn len(&self) -> usize {
        self.shared.core.len()
    }

    fn clear(&self) {
        self.shared.clear();
    }

    fn purge_expired(&self) -> usize {
        let mut total = 0;
        loop {
            let (n, more) = self.shared.expire_batch();
            total += n;
            if !more {
                return total;
            }
        }
    }

    fn stats(&self) -> CacheStats {
        self.shared.stats()
    }

    fn entry_info<Q>(&self, key: &Q) -> Option<EntryInfo>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let f = &*self.shared;
        let now = f.clock.now();
        let stamps = f.core.inspect(f.hash(key), key, now)?;
        let t = *f.timeouts.lock();
        Some(EntryInfo::at(now, stamps, t.idle, t.live))
    }

    fn iter(&self) -> Iter<K, V> {
        let mut entries = Vec::with_capacity(self.shared.core.len());
        let now = self.shared.clock.now();
        self.shared.core.for_each_live(now, &mut |k, v| entries.push((k.clone(), v.clone())));
        Iter::new(entries)
    }

    fn weighted_size(&self) -> u64 {
        self.shared.core.weighted_size()
    }

    fn coldest(&self, n: usize) -> Option<Vec<(K, V)>> {
        self.shared.core.ranked(n, self.shared.clock.now(), false)
    }

    fn hottest(&self, n: usize) -> Option<Vec<(K, V)>> {
        self.shared.core.ranked(n, self.shared.clock.now(), true)
    }

    fn set_time_to_idle(&self, d: Duration) -> Result<(), BuildError> {
        let d = check_duration("time_to_idle", d, MAX_DURATION)?;
        self.shared.retime("set_time_to_idle", |t| t.idle = Some(d))
    }

    fn set_time_to_live(&self, d: Duration) -> Result<(), BuildError> {
        let d = check_duration("time_to_live", d, MAX_DURATION)?;
        self.shared.retime("set_time_to_live", |t| t.live = Some(d))
    }

    fn set_max_capacity(&self, max: u64) -> Result<(), BuildError> {
        if max == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        let f = &*self.shared;
        // Held across the change, so concurrent changes apply in one order.
        let mut bound = f.max_capacity.lock();
        let now = f.clock.now();
        f.reporting(|out| f.core.set_max_capacity(max, now, out))?;
        *bound = Some(max);
        Ok(())
    }

    fn retain<F>(&self, mut keep: F) -> usize
    where
        F: FnMut(&K, &V) -> bool,
    {
        let f = &*self.shared;
        let gate = Gate::clear_all(f.loader.marks(), C::READS_TAKE_THE_WRITE_LOCK);
        let now = f.clock.now();
        if let Some(n) = f.reporting(|out| f.core.retain(now, &mut keep, &gate, out)) {
            return n;
        }
        // A core that cannot judge and remove in one critical section: the
        // keys `keep` rejects are judged again, each under a ticket, so a
        // value written since the first look is never removed unseen.
        let mut rejected = Vec::new();
        f.core.for_each_live(now, &mut |k, v| {
            if !keep(k, v) {
                rejected.push(k.clone());
            }
        });
        rejected.iter().filter(|k| f.remove_if_rejected(k, &mut keep)).count()
    }

    fn begin_load(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        self.shared.begin(key)
    }

    fn commit_load(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        self.shared.commit(key, value, ticket)
    }

    fn load_recorder(&self) -> LoadRecorder<'_> {
        self.shared.recorder()
    }
}
