//! Shared atomic counters behind [`CacheStats`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::cache::{CacheStats, RemovalCause};
use crate::clock::{duration_to_nanos, ClockSource, Ticks};

const STRIPES: usize = 16;

/// A counter bumped on the hit path: one cache-padded cell per stripe,
/// threads spread over the stripes, so concurrent hits do not bounce one
/// cache line between cores. Reading it sums the stripes.
#[derive(Debug, Default)]
struct Striped([CachePadded<AtomicU64>; STRIPES]);

impl Striped {
    #[inline]
    fn add(&self, n: u64) {
        self.0[stripe()].fetch_add(n, Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// This thread's stripe.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
    }
    STRIPE.try_with(|s| *s).unwrap_or(0)
}

/// Counters updated with relaxed atomics (each is a tally; no ordering
/// between them is promised).
#[derive(Debug, Default)]
pub(crate) struct StatsCounter {
    hits: Striped,
    misses: Striped,
    inserts: AtomicU64,
    /// Both `loads_failed` and its alias `load_failures`.
    load_failures: AtomicU64,
    loads_started: AtomicU64,
    loads_succeeded: AtomicU64,
    loads_coalesced: AtomicU64,
    /// Misses counted by a lookup whose caller then coalesced on another
    /// caller's load: subtracted from `misses` in the snapshot (the
    /// lookup counts before it can know).
    uncounted_misses: AtomicU64,
    load_nanos: AtomicU64,
    refreshes_started: AtomicU64,
    refreshes_succeeded: AtomicU64,
    refreshes_failed: AtomicU64,
    stale_served: AtomicU64,
    listener_panics: AtomicU64,
    removals: [AtomicU64; 5],
    /// The cache's name in the load latency histogram, once it is published
    /// (see `crate::metrics`).
    #[cfg(feature = "metrics")]
    load_series: std::sync::OnceLock<std::sync::Arc<str>>,
}

impl StatsCounter {
    #[inline]
    pub(crate) fn lookup(&self, hit: bool) {
        if hit {
            self.hits.add(1);
        } else {
            self.misses.add(1);
        }
    }

    #[inline]
    pub(crate) fn insert(&self) {
        self.inserts.fetch_add(1, Relaxed);
    }

    /// Counts a load (one `init`) that finished after `took`.
    fn load_finished(&self, ok: bool, took: Duration, refresh: bool) {
        if ok {
            self.loads_succeeded.fetch_add(1, Relaxed);
        } else {
            self.load_failures.fetch_add(1, Relaxed);
        }
        if refresh {
            let counter = if ok { &self.refreshes_succeeded } else { &self.refreshes_failed };
            counter.fetch_add(1, Relaxed);
        }
        self.load_nanos.fetch_add(duration_to_nanos(took), Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(name) = self.load_series.get() {
            crate::metrics::record_load(name, took);
        }
    }

    /// Counts a caller served a value past its deadline.
    pub(crate) fn stale_served(&self) {
        self.stale_served.fetch_add(1, Relaxed);
    }

    /// Counts a caller served by another caller's load, and takes back the
    /// miss its lookup counted.
    fn coalesced(&self) {
        self.loads_coalesced.fetch_add(1, Relaxed);
        self.uncounted_misses.fetch_add(1, Relaxed);
    }

    pub(crate) fn listener_panic(&self) {
        self.listener_panics.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn removal(&self, cause: RemovalCause) {
        self.removals[cause.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let mut s = CacheStats {
            hits: self.hits.sum(),
            // Saturating: the counters are read one at a time, so a
            // coalesced caller's correction may be seen before its miss.
            misses: self.misses.sum().saturating_sub(self.uncounted_misses.load(Relaxed)),
            inserts: self.inserts.load(Relaxed),
            load_failures: self.load_failures.load(Relaxed),
            loads_started: self.loads_started.load(Relaxed),
            loads_succeeded: self.loads_succeeded.load(Relaxed),
            loads_failed: self.load_failures.load(Relaxed),
            loads_coalesced: self.loads_coalesced.load(Relaxed),
            load_time: Duration::from_nanos(self.load_nanos.load(Relaxed)),
            refreshes_started: self.refreshes_started.load(Relaxed),
            refreshes_succeeded: self.refreshes_succeeded.load(Relaxed),
            refreshes_failed: self.refreshes_failed.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            listener_panics: self.listener_panics.load(Relaxed),
            ..CacheStats::default()
        };
        for cause in RemovalCause::ALL {
            s.set_removals(cause, self.removals[cause.index()].load(Relaxed));
        }
        s
    }
}

/// Where a load made outside a cache counts itself: the cache's load
/// counters and clock, lent by
/// [`SlidingTtlCache::load_recorder`](crate::SlidingTtlCache::load_recorder).
///
/// Opaque: only ttlkit's loaders record through it. A backend without load
/// counters lends [`LoadRecorder::untracked`], which records nothing.
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::LoadRecorder;
///
/// let cache: MutexCache<u32, u32> = CacheBuilder::new().build()?;
/// let _lent: LoadRecorder<'_> = cache.load_recorder();
/// let _nothing = LoadRecorder::untracked();
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LoadRecorder<'a> {
    stats: Option<&'a StatsCounter>,
    /// A second counter that also takes back a coalesced caller's miss
    /// (the tiered cache's own hits and misses, in front of its L2's).
    front: Option<&'a StatsCounter>,
    /// `None`: time loads with [`Instant`] (the Redis backend, whose only
    /// clock is the system's).
    clock: Option<&'a ClockSource>,
}

/// When a load's `init` started, on the recorder's clock, and whether it
/// is a refresh.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadStart {
    at: StartedAt,
    refresh: bool,
}

#[derive(Debug, Clone, Copy)]
enum StartedAt {
    Ticks(Ticks),
    Instant(Instant),
}

impl<'a> LoadRecorder<'a> {
    /// A recorder that records nothing (the trait's default).
    pub fn untracked() -> Self {
        LoadRecorder { stats: None, front: None, clock: None }
    }

    /// Records into `stats`, timing with `clock` (or [`Instant`]).
    pub(crate) fn new(stats: &'a StatsCounter, clock: Option<&'a ClockSource>) -> Self {
        LoadRecorder { stats: Some(stats), front: None, clock }
    }

    /// Also takes coalesced callers' misses back from `front`.
    #[cfg(feature = "redis")]
    pub(crate) fn with_front(mut self, front: &'a StatsCounter) -> Self {
        self.front = Some(front);
        self
    }

    /// Names the cache's load latency series (the first name sticks).
    #[cfg(feature = "metrics")]
    pub(crate) fn name_load_series(&self, name: &std::sync::Arc<str>) {
        if let Some(stats) = self.stats {
            let _ = stats.load_series.set(std::sync::Arc::clone(name));
        }
    }

    /// Counts a load started (`init` about to run) and reads the clock.
    pub(crate) fn start(&self) -> LoadStart {
        self.start_load(false)
    }

    /// Counts a load started, and with `refresh` a refresh too (a reload
    /// of a key whose callers are served its current value meanwhile).
    pub(crate) fn start_load(&self, refresh: bool) -> LoadStart {
        if let Some(stats) = self.stats {
            stats.loads_started.fetch_add(1, Relaxed);
            if refresh {
                stats.refreshes_started.fetch_add(1, Relaxed);
            }
        }
        let at = match self.clock {
            Some(clock) => StartedAt::Ticks(clock.now()),
            None => StartedAt::Instant(Instant::now()),
        };
        LoadStart { at, refresh }
    }

    /// Counts the load started at `start` as succeeded or failed, with the
    /// time since `start` on the same clock.
    pub(crate) fn finish(&self, start: LoadStart, ok: bool) {
        let Some(stats) = self.stats else { return };
        let took = match (start.at, self.clock) {
            (StartedAt::Ticks(t), Some(clock)) => clock.now().saturating_duration_since(t),
            (StartedAt::Instant(t), _) => t.elapsed(),
            // Not made by this recorder's `start`: no time to add.
            (StartedAt::Ticks(_), None) => Duration::ZERO,
        };
        stats.load_finished(ok, took, start.refresh);
    }

    /// Counts a caller served by another caller's load (value or error)
    /// instead of a miss.
    pub(crate) fn coalesced(&self) {
        for stats in [self.stats, self.front].into_iter().flatten() {
            stats.coalesced();
        }
    }
}
