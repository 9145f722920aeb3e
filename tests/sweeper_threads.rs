//! Sweepers never leak threads: creating and dropping 10,000 caches, each
//! with a sweeper thread that would otherwise sleep for an hour, leaves the
//! process's thread count (`/proc/self/task`) where it started.
//!
//! One test in its own binary, so no other test's threads skew the count.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn ten_thousand_caches_leak_no_thread() {
    if threads() == 0 {
        eprintln!("no /proc/self/task on this system; skipping");
        return;
    }
    for &backend in BackendKind::ALL {
        let baseline = threads();
        let mut peak = baseline;
        for i in 0..10_000u64 {
            let builder =
                CacheBuilder::<u64, u64>::new(Duration::from_secs(3600)).sweep_interval(Duration::from_secs(3600));
            let cache = AnyCache::new(backend, builder).unwrap();
            let clone = cache.clone();
            cache.insert(i, i);
            drop(cache);
            assert_eq!(clone.get(&i), Some(i), "a clone keeps the cache alive");
            if i % 1000 == 0 {
                peak = peak.max(threads());
            }
            // The last handle: its drop wakes the hour-long sleep and joins.
        }
        let after = threads();
        println!("{backend}: threads before {baseline}, while one cache lives {peak}, after 10,000 caches {after}");
        assert_eq!(after, baseline, "{backend}: sweeper threads leaked");
    }
}
