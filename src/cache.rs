//! The [`SlidingTtlCache`] contract, removal causes and statistics.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use crate::builder::BuildError;
pub use crate::cache_stats::CacheStats;
use crate::entry::{Computed, Entry, Fetch, Fetched, Op};
use crate::inspect::{EntryInfo, Iter};
use crate::invalidation::LoadTicket;
use crate::load_error::LoadError;
pub use crate::removal_cause::RemovalCause;
use crate::stats::LoadRecorder;
pub use crate::unsupported::Unsupported;

/// An in-memory cache with sliding-window expiry: every backend implements it.
///
/// Handles are cheap to clone and share one cache (like `Arc`). Every read
/// checks the entry's deadlines itself, so an expired entry is never
/// returned, whether or not maintenance has purged it yet.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, MutexCache, SlidingTtlCache};
/// use ttlkit::clock::MockClock;
///
/// fn warm<C: SlidingTtlCache<u32, String>>(cache: &C) {
///     for k in 0..3 {
///         cache.get_or_insert_with(k, || format!("value {k}"));
///     }
/// }
///
/// let clock = MockClock::new();
/// let cache: MutexCache<u32, String> =
///     CacheBuilder::new().time_to_idle(Duration::from_secs(60)).clock(clock.clone()).build()?;
/// warm(&cache);
/// assert_eq!(cache.get(&1).as_deref(), Some("value 1"));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(cache.get(&1), None, "idle for a full minute");
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub trait SlidingTtlCache<K, V>: Clone + Send + Sync + 'static
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The backend's name: [`BackendKind::name`](crate::BackendKind::name)
    /// for the in-process backends (`"mutex"`, `"moka"`, `"sharded"`), or
    /// another (`"redis"`, `"tiered"`).
    fn backend_name(&self) -> &'static str;

    /// Returns a clone of the live value for `key` and refreshes its idle
    /// deadline (not its lifetime). Counts a hit or a miss.
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Like [`get`](Self::get) but refreshes nothing: no deadline, no
    /// recency for the eviction policy, no statistics.
    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Whether a live entry exists for `key`. Refreshes nothing.
    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Stores `value`, starting a new idle window and a new lifetime. An
    /// existing live value is reported to the listener as `Replaced`.
    fn insert(&self, key: K, value: V);

    /// Like [`insert`](Self::insert), and the entry also expires `ttl` from
    /// now: a deadline of its own, which overrides the cache's
    /// [`Expiry`](crate::Expiry) for this write. The cache-wide time-to-idle
    /// and time-to-live still apply (the earliest deadline wins), and a later
    /// plain `insert` of the key starts a new lifetime without it (unless an
    /// `Expiry` gives one). Every in-process backend supports it; the
    /// default refuses with [`Unsupported`] (the Redis backend and the
    /// two-tier cache), storing nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlkit::clock::MockClock;
    /// use ttlkit::prelude::*;
    ///
    /// let clock = MockClock::new();
    /// let cache: MutexCache<&str, u32> = CacheBuilder::new()
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// cache.insert_with_ttl("token", 7, Duration::from_secs(5))?;
    /// clock.advance(Duration::from_secs(4));
    /// assert_eq!(cache.get("token"), Some(7)); // reads do not extend it
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(cache.get("token"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn insert_with_ttl(&self, key: K, value: V, ttl: std::time::Duration) -> Result<(), Unsupported> {
        let _ = (key, value, ttl);
        Err(Unsupported { backend: self.backend_name(), operation: "insert_with_ttl" })
    }

    /// Up to `n` live entries, clones, that the eviction policy would evict
    /// first (coldest first), refreshing and counting nothing; `None` where
    /// it cannot tell (the default: moka, Redis; CLOCK and SIEVE, whose
    /// reference bits live with the entries; a cache without a capacity,
    /// which runs no policy). W-TinyLFU's admission duels may reorder the
    /// first few, and the sharded backend interleaves its shards' rankings.
    /// Costs a pass over the policy's entries (a lock at a time).
    ///
    /// ```
    /// use ttlkit::prelude::*;
    ///
    /// let cache: MutexCache<u32, u32> = CacheBuilder::new().max_capacity(10).policy("lru").build()?;
    /// (0..5).for_each(|k| cache.insert(k, k));
    /// cache.get(&0);
    /// let next: Vec<u32> = cache.coldest(2).unwrap_or_default().into_iter().map(|(k, _)| k).collect();
    /// assert_eq!(next, [1, 2], "0 was just read");
    /// assert_eq!(cache.hottest(1).map(|e| e[0].0), Some(0));
    /// # Ok::<(), BuildError>(())
    /// ```
    fn coldest(&self, n: usize) -> Option<Vec<(K, V)>> {
        let _ = n;
        None
    }

    /// Up to `n` live entries the eviction policy protects most (hottest
    /// first), as [`coldest`](Self::coldest) ranks them from the other end.
    fn hottest(&self, n: usize) -> Option<Vec<(K, V)>> {
        let _ = n;
        None
    }

    /// Changes the capacity bound while the cache is in use. Shrinking
    /// evicts down to the new bound before it returns: expired entries
    /// first, then the policy's victims (`Capacity`); growing lets later
    /// inserts fill the room. The eviction policy keeps the sizing it was
    /// built with (its sketch, its segments), so after a large change its
    /// hit ratio may trail that of a cache built at the new size.
    ///
    /// Refused, changing nothing, with [`BuildError::ZeroCapacity`] for 0,
    /// [`BuildError::MissingSetting`] on a cache built without
    /// `max_capacity` (it runs no policy to evict with), and
    /// [`BuildError::UnsupportedSetting`] where the backend cannot (the
    /// default: moka's bound is fixed when it is built; Redis evicts on the
    /// server).
    ///
    /// ```
    /// use ttlkit::prelude::*;
    ///
    /// let cache: MutexCache<u32, u32> = CacheBuilder::new().max_capacity(10).build()?;
    /// (0..10).for_each(|k| cache.insert(k, k));
    /// cache.set_max_capacity(4)?;
    /// assert_eq!(cache.len(), 4);
    /// assert_eq!(cache.stats().removals(RemovalCause::Capacity), 6);
    /// # Ok::<(), BuildError>(())
    /// ```
    fn set_max_capacity(&self, max: u64) -> Result<(), BuildError> {
        let _ = max;
        Err(BuildError::UnsupportedSetting { core: self.backend_name(), setting: "set_max_capacity" })
    }

    /// Changes the time-to-idle while the cache is in use. It applies to
    /// the entries already held, from their stamps: an entry last read or
    /// written at `t` now expires at `t + d` (or earlier, by its other
    /// deadlines), so a shorter timeout can expire entries at once (they
    /// leave as `Expired` at the next sweep, purge or write that finds
    /// them; no read returns them). A default refresh granularity follows
    /// the new timeout; the sweep interval stays as built.
    ///
    /// Refused, changing nothing, with [`BuildError::ZeroDuration`] or
    /// [`BuildError::DurationTooLong`] for a duration the builder would
    /// refuse (or one shorter than an explicit refresh granularity), and
    /// [`BuildError::UnsupportedSetting`] where the backend cannot (the
    /// default: moka's timers are fixed when it is built; Redis).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlkit::clock::MockClock;
    /// use ttlkit::prelude::*;
    ///
    /// let clock = MockClock::new();
    /// let cache: MutexCache<u32, u32> =
    ///     CacheBuilder::new().time_to_idle(Duration::from_secs(600)).clock(clock.clone()).build()?;
    /// cache.insert(1, 1);
    /// clock.advance(Duration::from_secs(90));
    /// cache.set_time_to_idle(Duration::from_secs(60))?; // idle for 90 s: expired now
    /// assert_eq!(cache.get(&1), None);
    /// # Ok::<(), BuildError>(())
    /// ```
    fn set_time_to_idle(&self, d: std::time::Duration) -> Result<(), BuildError> {
        let _ = d;
        Err(BuildError::UnsupportedSetting { core: self.backend_name(), setting: "set_time_to_idle" })
    }

    /// Changes the time-to-live while the cache is in use, as
    /// [`set_time_to_idle`](Self::set_time_to_idle) does the idle timeout:
    /// an entry written at `t` now expires at `t + d` at the latest.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlkit::clock::MockClock;
    /// use ttlkit::prelude::*;
    ///
    /// let clock = MockClock::new();
    /// let cache: MutexCache<u32, u32> = CacheBuilder::new().clock(clock.clone()).build()?;
    /// cache.insert(1, 1); // nothing expires yet
    /// cache.set_time_to_live(Duration::from_secs(10))?;
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(cache.get(&1), None, "10 s after its write");
    /// # Ok::<(), BuildError>(())
    /// ```
    fn set_time_to_live(&self, d: std::time::Duration) -> Result<(), BuildError> {
        let _ = d;
        Err(BuildError::UnsupportedSetting { core: self.backend_name(), setting: "set_time_to_live" })
    }

    /// Removes the entry; returns its value if it was live (an expired entry
    /// is removed too, reported as `Expired`, and `None` is returned).
    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Returns the live value for `key`, or runs `init`, stores its result and
    /// returns it. Single-flight: however many callers ask for a missing
    /// key at once, sync or async ([`get_or_insert_async`](Self::get_or_insert_async)),
    /// `init` runs once and they all get its value. If `init` panics, the
    /// panic propagates to this caller only; nothing is cached or poisoned
    /// and a waiting caller retries.
    ///
    /// An `insert`, `remove` or `clear` of the key made while `init` runs
    /// wins: `init`'s value is returned to this caller and to those waiting
    /// on the same load, but it is not stored. With the builder's
    /// [`refresh_after`](crate::CacheBuilder::refresh_after) or
    /// [`serve_stale_for`](crate::CacheBuilder::serve_stale_for) it may
    /// reload a live value (here, unless the builder has a
    /// [`reloader`](crate::CacheBuilder::reloader), which reloads in the
    /// background) or return a stale one; [`entry`](Self::entry) tells
    /// which.
    ///
    /// # Panics
    ///
    /// If `init` itself asks for the same key (a recursive load), that inner
    /// call panics with "recursive load of the same key" instead of waiting
    /// forever for the load it is part of; like a `RefCell` borrowed twice,
    /// it is a programming error (the `try_` form returns
    /// [`LoadError::Recursive`]). Loads of *other* keys from inside `init`
    /// are fine. (An `init` that hands the same key to another thread and
    /// waits for it cannot be told apart from any other wait, and
    /// deadlocks; the cache's [`load_timeout`](crate::CacheBuilder::load_timeout)
    /// bounds that wait.) Also panics when it gives up waiting for another
    /// caller's load after the `load_timeout` (the `try_` form returns
    /// [`LoadError::TimedOut`]).
    fn get_or_insert_with<F>(&self, key: K, init: F) -> V
    where
        F: FnOnce() -> V,
    {
        match self.try_get_or_insert_with(key, || Ok::<V, Infallible>(init())) {
            Ok(v) => v,
            Err(e) => e.raise(),
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) with a fallible
    /// `init`. An error is not cached: it is returned (as
    /// [`LoadError::Init`], one `Arc<E>` shared by all of them) to this
    /// caller and to every caller that waited on the same load, and the
    /// next caller runs `init` again. `LoadError<E>` is a
    /// `std::error::Error` whenever `E` is `Display + Debug`, so `?` takes
    /// it into `anyhow::Result` or `Box<dyn Error>`. A recursive load is
    /// [`LoadError::Recursive`], a wait cut short by the `load_timeout`
    /// [`LoadError::TimedOut`].
    ///
    /// Single-flight by key alone: callers with different error types share
    /// one load; a caller whose leader failed with an error of another type
    /// runs its own `init`. Writes during the load win as for
    /// `get_or_insert_with`.
    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static;

    /// [`try_get_or_insert_with`](Self::try_get_or_insert_with), also
    /// telling where the value came from: what
    /// [`Entry::or_try_insert_with`] calls. The default (Redis, the tiered
    /// cache) says [`Fetch::Loaded`] when this call's `init` ran and
    /// [`Fetch::Hit`] otherwise.
    fn try_fetch_with<F, E>(&self, key: K, init: F) -> Result<Fetched<V>, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let mut ran = false;
        let value = self.try_get_or_insert_with(key, || {
            ran = true;
            init()
        })?;
        Ok(Fetched::new(value, if ran { Fetch::Loaded } else { Fetch::Hit }))
    }

    /// The async form of [`get_or_insert_with`](Self::get_or_insert_with):
    /// the live value for `key`, or `init`'s output, stored. `init` is a
    /// future, awaited only if this call leads the load.
    ///
    /// One flight table for sync and async callers: an async and a sync
    /// caller of one key share one load. Runtime-agnostic (no tokio needed)
    /// and `Send`, so it can be spawned. **A cancelled caller does not
    /// cancel the load**: `init` is `'static` because the load outlives
    /// whichever caller started it. If the caller driving it is dropped (a
    /// timeout, an aborted task), the others drive it on from where it was;
    /// if none is left, the cache's spawner finishes it, or (without one)
    /// it waits, parked, for the next caller of the key. `init` never runs
    /// twice for one load.
    ///
    /// On Redis and the tiered cache (the trait's default) it is **not**
    /// single-flight: it looks the key up, awaits `init` on a miss and
    /// inserts, calling the backend's blocking methods from the task.
    ///
    /// ```
    /// use ttlkit::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cache: MutexCache<u32, String> = CacheBuilder::new().build()?;
    /// let mut tasks = Vec::new();
    /// for _ in 0..8 {
    ///     let cache = cache.clone();
    ///     tasks.push(tokio::spawn(async move { cache.get_or_insert_async(7, async { "seven".to_string() }).await }));
    /// }
    /// for task in tasks {
    ///     assert_eq!(task.await?, "seven");
    /// }
    /// assert_eq!(cache.stats().loads_started, 1, "one init for eight tasks");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with): on a recursive
    /// load (an `init` future that awaits its own key), or after waiting the
    /// `load_timeout` for another caller's load.
    fn get_or_insert_async<Fut>(&self, key: K, init: Fut) -> impl Future<Output = V> + Send
    where
        Fut: Future<Output = V> + Send + 'static,
    {
        let loading = self.try_fetch_async(key, async move { Ok::<V, Infallible>(init.await) });
        async move {
            match loading.await {
                Ok(fetched) => fetched.value,
                Err(e) => e.raise(),
            }
        }
    }

    /// The async form of [`try_get_or_insert_with`](Self::try_get_or_insert_with),
    /// single-flight and cancellation-safe as
    /// [`get_or_insert_async`](Self::get_or_insert_async) is.
    fn try_get_or_insert_async<Fut, E>(&self, key: K, init: Fut) -> impl Future<Output = Result<V, LoadError<E>>> + Send
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let loading = self.try_fetch_async(key, init);
        async move { loading.await.map(Fetched::into_value) }
    }

    /// [`try_get_or_insert_async`](Self::try_get_or_insert_async), also
    /// telling where the value came from: what
    /// [`Entry::or_try_insert_with_async`] calls. The default (Redis, the
    /// tiered cache) is not single-flight: `get`, then on a miss `init` and
    /// `insert` (blocking calls of the backend, made from the task).
    fn try_fetch_async<Fut, E>(
        &self,
        key: K,
        init: Fut,
    ) -> impl Future<Output = Result<Fetched<V>, LoadError<E>>> + Send
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        async move {
            if let Some(v) = self.get(&key) {
                return Ok(Fetched::new(v, Fetch::Hit));
            }
            let recorder = self.load_recorder();
            let start = recorder.start();
            let result = init.await;
            recorder.finish(start, result.is_ok());
            let value = result.map_err(|e| LoadError::new(Arc::new(e)))?;
            self.insert(key, value.clone());
            Ok(Fetched::new(value, Fetch::Loaded))
        }
    }

    /// The key's [`Entry`]: loads that tell where their value came from,
    /// and an atomic compute ([`Entry::and_compute_with`]).
    fn entry(&self, key: K) -> Entry<'_, K, V, Self> {
        Entry::new(self, key)
    }

    /// What [`Entry::and_compute_with`] calls: `f` sees the live value and
    /// says what to do with it, atomically per key on the in-process
    /// backends (see there). The default (Redis, the tiered cache) is not
    /// atomic: it peeks, calls `f` once and writes.
    fn compute_with<F>(&self, key: K, mut f: F) -> Computed<V>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        let current = self.peek(&key);
        let op = f(current.as_ref());
        apply_op(self, key, current, op)
    }

    /// What [`Entry::and_compute_with_async`] calls; the default (Redis, the
    /// tiered cache) is not atomic, as for [`compute_with`](Self::compute_with).
    fn compute_async<F, Fut>(&self, key: K, mut f: F) -> impl Future<Output = Computed<V>> + Send
    where
        F: FnMut(Option<V>) -> Fut + Send,
        Fut: Future<Output = Op<V>> + Send,
    {
        async move {
            let current = self.peek(&key);
            let op = f(current.clone()).await;
            apply_op(self, key, current, op)
        }
    }

    /// The number of entries held, **including expired entries that have not
    /// been purged yet** (an upper bound on the live entries). After
    /// [`purge_expired`](Self::purge_expired) it is exact until time moves.
    fn len(&self) -> usize;

    /// Whether [`len`](Self::len) is zero.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry (reported as `Cleared`, or `Expired` for entries
    /// already past their deadline).
    fn clear(&self);

    /// Runs pending maintenance: removes every expired entry now (reported
    /// as `Expired`) and restores the capacity bound. Returns how many
    /// expired entries it removed. Works in bounded batches, releasing locks
    /// between them.
    fn purge_expired(&self) -> usize;

    /// Counters since the cache was built.
    fn stats(&self) -> CacheStats;

    /// The key's live entry as it stands (its age, the time left to each
    /// deadline, its weight), refreshing nothing and counting nothing;
    /// `None` if there is no live entry. The in-process backends answer;
    /// the default, for a backend that cannot look without touching (Redis,
    /// and a core that does not implement [`Core::inspect`](crate::core::Core::inspect)),
    /// is `None`.
    fn entry_info<Q>(&self, key: &Q) -> Option<EntryInfo>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _ = key;
        None
    }

    /// Clones of the live entries, refreshing nothing and counting nothing.
    /// Taken a lock at a time (one shard at a time in the sharded backend),
    /// so under concurrent writes it is weakly consistent: an entry written
    /// meanwhile may or may not be in it, and none is expired when taken.
    /// The default (Redis) is empty.
    fn iter(&self) -> Iter<K, V> {
        Iter::new(Vec::new())
    }

    /// Removes every live entry for which `keep` returns false (reported
    /// `Explicit`); returns how many it removed. Expired entries are left to
    /// the sweeps. `keep` runs under the cache's lock (a shard's, in the
    /// sharded backend), so it must not use the cache; each key is judged
    /// and removed in one step, and a load in flight meanwhile returns its
    /// value without storing it, as during a `clear`.
    ///
    /// The default (Redis) removes what [`iter`](Self::iter) shows, one
    /// `remove` at a time.
    fn retain<F>(&self, mut keep: F) -> usize
    where
        F: FnMut(&K, &V) -> bool,
    {
        let gone = self.iter().filter(|(k, v)| !keep(k, v)).map(|(k, _)| k).collect::<Vec<K>>();
        gone.iter().filter(|k| self.remove(*k).is_some()).count()
    }

    /// The total weight held (the entry count without a weigher), expired
    /// entries not yet purged included, like [`len`](Self::len).
    fn weighted_size(&self) -> u64 {
        self.len() as u64
    }

    /// Starts a load of `key` made outside the cache (the trait's default
    /// async load does, and code of yours may) and looks the key up once
    /// more (refreshing it on a hit, as `get` does, but not counted in the
    /// stats). If that lookup finds nothing, the caller loads: until the
    /// ticket is dropped, every `insert`, `remove` and `clear` of the key
    /// made after that lookup marks it, so that
    /// [`commit_load`](Self::commit_load) will not store a value they made
    /// stale. Writes before the lookup do not count against it: the lookup
    /// already saw them.
    ///
    /// The default, for a backend that cannot track its writes (Redis,
    /// where other processes write too), is an untracked ticket and a
    /// `peek`: `commit_load` then always stores, and a write during the load
    /// may be overwritten by it.
    fn begin_load(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        (LoadTicket::untracked(), self.peek(key))
    }

    /// Where loads of this cache made outside it (by the trait's default
    /// async load, say) count themselves: the cache's
    /// `loads_*` counters, `load_time` and its clock. The default, for a
    /// backend without load counters, records nothing.
    fn load_recorder(&self) -> LoadRecorder<'_> {
        LoadRecorder::untracked()
    }

    /// Stores a value loaded under `ticket`, unless a write, remove or clear
    /// of its key happened since [`begin_load`](Self::begin_load)'s lookup; returns
    /// whether it stored it. The check and the store are one atomic step.
    ///
    /// The default inserts unconditionally (see `begin_load`).
    fn commit_load(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        let _ = ticket;
        self.insert(key, value);
        true
    }
}

/// Makes `op` of a compute that saw `current` (the trait's non-atomic
/// default): a plain write, remove or nothing.
pub(crate) fn apply_op<C, K, V>(cache: &C, key: K, current: Option<V>, op: Op<V>) -> Computed<V>
where
    C: SlidingTtlCache<K, V>,
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    match (op, current) {
        (Op::Put(new), old) => {
            cache.insert(key, new.clone());
            match old {
                Some(old) => Computed::Replaced { old, new },
                None => Computed::Inserted(new),
            }
        }
        (Op::Remove, Some(_)) => match cache.remove(&key) {
            Some(old) => Computed::Removed(old),
            None => Computed::Unchanged(None),
        },
        (Op::Remove, None) => Computed::Unchanged(None),
        (Op::Keep, current) => Computed::Unchanged(current),
    }
}
