//! The [`SlidingTtlCache`] contract, removal causes and statistics.

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

use crate::builder::BuildError;
use crate::inspect::{EntryInfo, Iter};
use crate::invalidation::LoadTicket;
use crate::load_error::LoadError;
use crate::stats::LoadRecorder;
pub use crate::unsupported::Unsupported;

/// Why an entry left the cache; given to the removal listener.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ttlkit::prelude::*;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let cache: MutexCache<&str, u32> = CacheBuilder::new()
///     .removal_listener(move |key: &&str, _value, cause| log.lock().unwrap().push((*key, cause)))
///     .build()?;
/// cache.insert("a", 1);
/// cache.insert("a", 2);
/// cache.remove("a");
/// assert_eq!(*seen.lock().unwrap(), [("a", RemovalCause::Replaced), ("a", RemovalCause::Explicit)]);
/// assert!(!RemovalCause::Explicit.was_evicted());
/// assert!(RemovalCause::Capacity.was_evicted());
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RemovalCause {
    /// Its idle deadline or its max lifetime passed.
    Expired,
    /// The eviction policy chose it (or refused to admit it) to make room.
    Capacity,
    /// `remove` took it out.
    Explicit,
    /// An `insert` of the same key overwrote it.
    Replaced,
    /// `clear` took it out.
    Cleared,
}

impl RemovalCause {
    /// Every cause, in a stable order.
    pub const ALL: [RemovalCause; 5] = [
        RemovalCause::Expired,
        RemovalCause::Capacity,
        RemovalCause::Explicit,
        RemovalCause::Replaced,
        RemovalCause::Cleared,
    ];

    /// Whether the cache removed the entry on its own (expiry or capacity),
    /// as opposed to a caller's `remove`, `insert` or `clear`.
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Expired | RemovalCause::Capacity)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            RemovalCause::Expired => 0,
            RemovalCause::Capacity => 1,
            RemovalCause::Explicit => 2,
            RemovalCause::Replaced => 3,
            RemovalCause::Cleared => 4,
        }
    }
}

impl fmt::Display for RemovalCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemovalCause::Expired => "expired",
            RemovalCause::Capacity => "capacity",
            RemovalCause::Explicit => "explicit",
            RemovalCause::Replaced => "replaced",
            RemovalCause::Cleared => "cleared",
        })
    }
}

/// A snapshot of a cache's counters since it was built.
///
/// `hits` and `misses` count lookups by `get`, `get_or_insert_with` and
/// `try_get_or_insert_with`; `peek` and `contains_key` observe without
/// counting. `inserts` counts `insert` calls and values stored by a load.
/// A load (`try_get_or_insert_with`, `get_or_insert_with`, or an
/// `AsyncLoader` (feature `async`) over the cache) counts one hit, one
/// miss or one coalesced wait per call (an `AsyncLoader` call whose leader
/// was cancelled or panicked looks the key up again, and that lookup counts
/// too), and the `loads_*` counters and `load_time` count the `init`s it
/// ran.
///
/// ```
/// use ttlkit::prelude::*;
///
/// let cache: MutexCache<u32, u32> = CacheBuilder::new().build()?;
/// cache.insert(1, 10);
/// assert_eq!(cache.get(&1), Some(10));
/// assert_eq!(cache.get(&2), None);
/// cache.remove(&1);
/// let stats: CacheStats = cache.stats();
/// assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
/// assert_eq!(stats.hit_ratio(), 0.5);
/// assert_eq!(stats.removals(RemovalCause::Explicit), 1);
/// assert_eq!(stats.total_removals(), 1);
///
/// // Loads: each `init` run is started, then succeeded or failed.
/// cache.get_or_insert_with(3, || 30);
/// let _ = cache.try_get_or_insert_with(4, || Err::<u32, _>("down"));
/// let stats = cache.stats();
/// assert_eq!((stats.loads_started, stats.loads_succeeded, stats.loads_failed), (2, 1, 1));
/// assert_eq!((stats.misses, stats.loads_coalesced), (3, 0), "no caller waited on another's load");
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing live. A caller of a load that found the
    /// key missing but then waited on another caller's `init` and got its
    /// outcome is not a miss: it is in `loads_coalesced`.
    pub misses: u64,
    /// Values stored (inserts, overwrites and successful loads).
    pub inserts: u64,
    /// Loads (`init` calls) that returned an error or panicked; always
    /// equal to [`loads_failed`](Self::loads_failed), of which it is the
    /// older name.
    pub load_failures: u64,
    /// `init` calls started, sync and async: every one ends up in
    /// `loads_succeeded` or `loads_failed`, except an async `init` whose
    /// future was dropped (cancelled) before it finished, which is in
    /// neither. Callers served by the cache or by another caller's `init`
    /// start none. (The Redis backend counts each load this process leads,
    /// also one that ends up waiting for another process's value; its
    /// `load_time` includes that wait.)
    pub loads_started: u64,
    /// `init` calls that returned a value (stored or, when a write of the
    /// key came during the load, only returned).
    pub loads_succeeded: u64,
    /// `init` calls that returned an error or panicked (sync or async; an
    /// async `init` cancelled by dropping its future is not a failure).
    /// Callers that received a failed load's error by waiting on it are
    /// not counted here but in `loads_coalesced`.
    pub loads_failed: u64,
    /// Callers that missed the key, found another caller's load of it in
    /// flight, waited, and returned its value or its error without running
    /// their own `init`. Not misses, not loads. A waiter whose leader
    /// panicked or was cancelled, or whose leader's error was of another
    /// type, retries and counts as what that retry is.
    pub loads_coalesced: u64,
    /// Time spent inside the `init` calls counted in `loads_succeeded` and
    /// `loads_failed`, on the cache's clock (a `MockClock` moves it only
    /// when advanced; the Redis backend, which accepts only the system
    /// clock, times with `Instant`). Not the waiting of coalesced callers,
    /// not the store after `init`.
    pub load_time: Duration,
    /// Removal-listener calls that panicked (the panic was contained).
    pub listener_panics: u64,
    pub(crate) removals: [u64; 5],
}

impl CacheStats {
    /// Entries that left for `cause`.
    pub fn removals(&self, cause: RemovalCause) -> u64 {
        self.removals[cause.index()]
    }

    /// Entries that left for any cause.
    pub fn total_removals(&self) -> u64 {
        self.removals.iter().sum()
    }

    /// `hits / (hits + misses)`, or 0 before any lookup.
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }

    pub(crate) fn set_removals(&mut self, cause: RemovalCause, n: u64) {
        self.removals[cause.index()] = n;
    }
}

impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hits {} misses {} ({:.2}% hit) inserts {}",
            self.hits,
            self.misses,
            self.hit_ratio() * 100.0,
            self.inserts
        )?;
        for cause in RemovalCause::ALL {
            write!(f, " {cause} {}", self.removals(cause))?;
        }
        Ok(())
    }
}

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
    /// returns it. Single-flight: however many threads ask for a missing key
    /// at once, `init` runs once and they all get its value. If `init`
    /// panics, the panic propagates to this caller only; nothing is cached or
    /// poisoned and a waiting caller retries.
    ///
    /// An `insert`, `remove` or `clear` of the key made while `init` runs
    /// wins: `init`'s value is returned to this caller and to those waiting
    /// on the same load, but it is not stored.
    ///
    /// # Panics
    ///
    /// If `init` itself asks for the same key on the same thread (a
    /// recursive load), that inner call panics with "recursive load of the
    /// same key on the loading thread" instead of waiting forever for the
    /// load it is part of; like a `RefCell` borrowed twice, it is a
    /// programming error. Loads of *other* keys from inside `init` are fine.
    /// (An `init` that hands the same key to another thread and waits for it
    /// cannot be told apart from any other wait, and deadlocks.)
    fn get_or_insert_with<F>(&self, key: K, init: F) -> V
    where
        F: FnOnce() -> V,
    {
        match self.try_get_or_insert_with(key, || Ok::<V, Infallible>(init())) {
            Ok(v) => v,
            Err(never) => match *never.get() {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) with a fallible
    /// `init`. An error is not cached: it is returned (as a [`LoadError`],
    /// one `Arc<E>` shared by all of them) to this caller and to every
    /// caller that waited on the same load, and the next caller runs `init`
    /// again. `LoadError<E>` is a `std::error::Error` whenever `E` is
    /// `Display + Debug`, so `?` takes it into `anyhow::Result` or
    /// `Box<dyn Error>`.
    ///
    /// Single-flight by key alone: callers with different error types share
    /// one load; a caller whose leader failed with an error of another type
    /// runs its own `init`. Writes during the load win as for
    /// `get_or_insert_with`.
    ///
    /// # Panics
    ///
    /// On a recursive load of the same key, as
    /// [`get_or_insert_with`](Self::get_or_insert_with) does (the error type
    /// is the caller's, so a programming error is not smuggled into it).
    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static;

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

    /// Starts a load of `key` made outside the cache (as
    /// `AsyncLoader`, feature `async`, does) and looks the key up once
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

    /// Where loads of this cache made outside it (by
    /// `AsyncLoader` (feature `async`)) count themselves: the cache's
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
