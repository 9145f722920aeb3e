//! Shared atomic counters behind [`CacheStats`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::cache::{CacheStats, RemovalCause};

/// Counters updated with relaxed atomics (each is a tally; no ordering
/// between them is promised).
#[derive(Debug, Default)]
pub(crate) struct StatsCounter {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    load_failures: AtomicU64,
    listener_panics: AtomicU64,
    removals: [AtomicU64; 5],
}

impl StatsCounter {
    #[inline]
    pub(crate) fn lookup(&self, hit: bool) {
        if hit {
            self.hits.fetch_add(1, Relaxed);
        } else {
            self.misses.fetch_add(1, Relaxed);
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
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
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
