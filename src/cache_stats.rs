//! [`CacheStats`]: a snapshot of a cache's counters.

use std::fmt;
use std::time::Duration;

use crate::cache::RemovalCause;

/// A snapshot of a cache's counters since it was built.
///
/// `hits` and `misses` count lookups by `get`, `get_or_insert_with` and
/// `try_get_or_insert_with`; `peek` and `contains_key` observe without
/// counting. `inserts` counts `insert` calls and values stored by a load.
/// A load-through call (`get_or_insert_with`, `get_or_insert_async`, their
/// `try_` forms, the [`entry`](crate::SlidingTtlCache::entry) API's loads)
/// counts one hit, one miss or one coalesced wait, and the `loads_*`
/// counters and `load_time` count the `init`s it ran.
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
    /// `loads_succeeded` or `loads_failed` once it finishes. An async load
    /// whose callers were all cancelled goes on (see
    /// [`get_or_insert_async`](crate::SlidingTtlCache::get_or_insert_async)),
    /// so it is counted when it ends; one dropped with its cache is in
    /// neither. Callers served by the cache or by another caller's `init`
    /// start none. (The Redis backend counts each load this process leads,
    /// also one that ends up waiting for another process's value; its
    /// `load_time` includes that wait.)
    pub loads_started: u64,
    /// `init` calls that returned a value (stored or, when a write of the
    /// key came during the load, only returned).
    pub loads_succeeded: u64,
    /// `init` calls that returned an error or panicked (sync or async).
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
    /// Reloads started for a key whose callers were served its current
    /// value meanwhile: refresh-ahead (the value was older than
    /// [`refresh_after`](crate::CacheBuilder::refresh_after)) and
    /// revalidation (a stale value was served, see
    /// [`serve_stale_for`](crate::CacheBuilder::serve_stale_for)). Each is
    /// also a load, in `loads_started` and the rest.
    pub refreshes_started: u64,
    /// Refreshes whose `init` returned a value (stored unless a write of
    /// the key came meanwhile).
    pub refreshes_succeeded: u64,
    /// Refreshes whose `init` failed: the old value stays (and, past its
    /// deadline, may be served stale for the rest of its window).
    pub refreshes_failed: u64,
    /// Load-through calls answered with a value past its deadline (see
    /// [`serve_stale_for`](crate::CacheBuilder::serve_stale_for)); each is
    /// also a miss.
    pub stale_served: u64,
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
