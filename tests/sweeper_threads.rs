//! Caches share one maintenance thread and never leak it: 1,000 live caches
//! of every backend (each with its sweeps and a system clock) add exactly
//! one thread to the process (`/proc/self/task`), and creating and dropping
//! 10,000 caches whose sweeps are an hour apart leaves the count where it
//! started, as does a listener that drops its own cache's last handle from
//! inside a sweep. 1,000 caches that each reload in the background add at
//! most the reload pool's `RELOAD_THREADS` more, which go with them.
//!
//! One test in its own binary, so no other test's threads skew the count.

#![allow(clippy::unwrap_used)]

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

#[path = "support/threads.rs"]
mod support_threads;
use support_threads::{settled_threads, threads};

use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache, RELOAD_THREADS};

#[test]
fn caches_share_one_thread_and_leak_none() {
    if threads() == 0 {
        eprintln!("no /proc/self/task on this system; skipping");
        return;
    }
    a_thousand_live_caches_run_on_one_extra_thread();
    a_thousand_caches_reloading_add_at_most_the_reload_pool();
    ten_thousand_caches_leak_no_thread();
    a_listener_that_drops_the_last_handle_ends_the_thread();
}

/// A removal listener, run by a sweep on the maintenance thread, drops its
/// own cache's last handle: no deadlock (the drop does not wait for the
/// batch it runs in), and the thread, left without users, ends on its own.
fn a_listener_that_drops_the_last_handle_ends_the_thread() {
    let baseline = threads();
    for &backend in BackendKind::ALL {
        let clock = MockClock::new();
        let last: Arc<Mutex<Option<AnyCache<u64, u64>>>> = Arc::default();
        let (told, heard) = mpsc::channel();
        let hold = Arc::clone(&last);
        let builder = CacheBuilder::<u64, u64>::new()
            .time_to_idle(Duration::from_secs(1))
            .clock(clock.clone())
            .sweep_interval(Duration::from_millis(1))
            .removal_listener(move |_: &u64, _: u64, _| {
                let handle = hold.lock().unwrap_or_else(|p| p.into_inner()).take();
                drop(handle);
                let _ = told.send(());
            });
        let cache = AnyCache::new(backend, builder).unwrap();
        cache.insert(1, 1);
        *last.lock().unwrap() = Some(cache);
        clock.advance(Duration::from_secs(2));
        heard.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{backend}: the sweep never ran"));
    }
    let after = settled_threads(baseline);
    println!("a listener dropped its cache's last handle on the maintenance thread: threads before {baseline}, after {after}");
    assert_eq!(after, baseline, "the maintenance thread did not end once its last user left from inside a batch");
}

fn a_thousand_live_caches_run_on_one_extra_thread() {
    let baseline = threads();
    let caches: Vec<AnyCache<u64, u64>> = (0..1000u64)
        .map(|i| {
            let backend = BackendKind::ALL[i as usize % BackendKind::ALL.len()];
            let builder = CacheBuilder::<u64, u64>::new()
                .time_to_idle(Duration::from_secs(60))
                .sweep_interval(Duration::from_millis(10));
            let cache = AnyCache::new(backend, builder).unwrap();
            cache.insert(i, i);
            cache
        })
        .collect();
    let live = threads();
    drop(caches);
    let after = settled_threads(baseline);
    println!("threads before {baseline}, with 1,000 live caches {live}, after they dropped {after}");
    assert_eq!(live, baseline + 1, "1,000 caches: one maintenance thread, no thread of their own");
    assert_eq!(after, baseline, "the maintenance thread is joined when the last cache drops");
}

/// Every one of 1,000 caches (each with its sweeps) has a value due for
/// refresh and reloads it on the pool at once.
fn a_thousand_caches_reloading_add_at_most_the_reload_pool() {
    let baseline = threads();
    let clock = MockClock::new();
    let (reloaded, heard) = mpsc::channel();
    let caches: Vec<AnyCache<u64, u64>> = (0..1000u64)
        .map(|i| {
            let backend = BackendKind::ALL[i as usize % BackendKind::ALL.len()];
            let reloaded = reloaded.clone();
            let builder = CacheBuilder::<u64, u64>::new()
                .clock(clock.clone())
                .time_to_live(Duration::from_secs(60))
                .sweep_interval(Duration::from_millis(10))
                .refresh_after(Duration::from_secs(30))
                .reloader(move |k: &u64| {
                    let _ = reloaded.send(());
                    Ok::<_, std::convert::Infallible>(*k + 1)
                });
            let cache = AnyCache::new(backend, builder).unwrap();
            cache.insert(i, i);
            cache
        })
        .collect();
    clock.advance(Duration::from_secs(31));
    let mut peak = threads();
    for (i, cache) in (0u64..).zip(&caches) {
        assert_eq!(cache.get_or_insert_with(i, || 0), i, "served at once");
        peak = peak.max(threads());
    }
    for _ in 0..1000 {
        heard.recv_timeout(Duration::from_secs(30)).expect("every reload ran");
        peak = peak.max(threads());
    }
    drop(caches);
    let after = settled_threads(baseline);
    println!("threads before {baseline}, at most {peak} while 1,000 caches reloaded, after they dropped {after}");
    assert!(
        peak <= baseline + 1 + RELOAD_THREADS,
        "1,000 reloading caches: the maintenance thread and at most {RELOAD_THREADS} reload threads"
    );
    assert_eq!(after, baseline, "the reload threads go with the last cache that reloads");
}

fn ten_thousand_caches_leak_no_thread() {
    for &backend in BackendKind::ALL {
        let baseline = threads();
        let mut peak = baseline;
        for i in 0..10_000u64 {
            let builder = CacheBuilder::<u64, u64>::new()
                .time_to_idle(Duration::from_secs(3600))
                .sweep_interval(Duration::from_secs(3600));
            let cache = AnyCache::new(backend, builder).unwrap();
            let clone = cache.clone();
            cache.insert(i, i);
            drop(cache);
            assert_eq!(clone.get(&i), Some(i), "a clone keeps the cache alive");
            if i % 1000 == 0 {
                peak = peak.max(threads());
            }
            // The last handle: its drop stops the maintenance thread.
        }
        let after = settled_threads(baseline);
        println!("{backend}: threads before {baseline}, while one cache lives {peak}, after 10,000 caches {after}");
        assert_eq!(after, baseline, "{backend}: sweeper threads leaked");
    }
}
