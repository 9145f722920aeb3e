//! Shared atomic counters behind [`CacheStats`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

use crate::cache::{CacheStats, RemovalCause};

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
    load_failures: AtomicU64,
    listener_panics: AtomicU64,
    removals: [AtomicU64; 5],
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

    pub(crate) fn load_failure(&self) {
        self.load_failures.fetch_add(1, Relaxed);
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
            misses: self.misses.sum(),
            inserts: self.inserts.load(Relaxed),
            load_failures: self.load_failures.load(Relaxed),
            listener_panics: self.listener_panics.load(Relaxed),
            ..CacheStats::default()
        };
        for cause in RemovalCause::ALL {
            s.set_removals(cause, self.removals[cause.index()].load(Relaxed));
        }
        s
    }
}
