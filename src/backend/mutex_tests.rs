//! Tests of the mutex backend's memory under churn: expired entries are
//! reclaimed by writes, and the store gives memory back once mostly empty.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use super::MutexCache;
use crate::clock::{Clock, MockClock};
use crate::{CacheBuilder, SlidingTtlCache};

const IDLE: Duration = Duration::from_millis(1);

fn unbounded(clock: &MockClock) -> MutexCache<u64, u64> {
    CacheBuilder::new().time_to_idle(IDLE).clock(clock.clone()).no_sweeper().build().unwrap()
}

#[test]
fn writes_reclaim_expired_entries_without_a_bound() {
    // Two writers, no sweeper, no capacity bound; each moves the clock one
    // idle timeout before each batch, so every earlier entry expires.
    const WRITERS: u64 = 2;
    const BATCH: u64 = 500;
    const BATCHES: u64 = 100;
    let clock = MockClock::new();
    let cache = unbounded(&clock);
    let start = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (cache, clock, start) = (cache.clone(), clock.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let mut peak = 0;
                for b in 0..BATCHES {
                    clock.advance(IDLE);
                    for i in 0..BATCH {
                        cache.insert((w * BATCHES + b) * BATCH + i, i);
                    }
                    peak = peak.max(cache.len());
                }
                peak
            })
        })
        .collect();
    let peak = writers.into_iter().map(|w| w.join().unwrap()).max().unwrap_or(0);
    // Live entries are at most those stored since the last advance (one
    // batch per writer); the rest of what is held is the reclaim lag.
    assert!(peak <= 5 * BATCH as usize, "{peak} entries held at a peak: writes did not reclaim");
    let expired = cache.core().store.lock().expired_held(clock.now());
    assert!(expired <= 2 * BATCH as usize, "{expired} expired entries held after the writers finished");
    cache.core().store.lock().validate().unwrap();
}

#[test]
fn a_mostly_empty_store_gives_memory_back() {
    let clock = MockClock::new();
    let cache = unbounded(&clock);
    for k in 0..100_000 {
        cache.insert(k, k);
    }
    let (slots, table) = cache.core().store.lock().allocated();
    assert!(slots >= 100_000 && table >= 100_000);
    // 100 survivors, stored last and so at the far end of the slab.
    clock.advance(IDLE);
    for k in 200_000..200_100 {
        cache.insert(k, k + 1);
    }
    cache.purge_expired();
    assert_eq!(cache.len(), 100);
    let (slots, table) = cache.core().store.lock().allocated();
    assert!(slots < 10_000 && table < 10_000, "still {slots} slots and {table} table entries for 100 entries");
    cache.core().store.lock().validate().unwrap();
    for k in 200_000..200_100 {
        assert_eq!(cache.get(&k), Some(k + 1), "survivor {k} kept its value through the shrink");
    }
    clock.advance(IDLE);
    assert_eq!(cache.purge_expired(), 100, "survivors are still on the deadline lists");
    assert_eq!(cache.len(), 0);
}

#[test]
fn a_store_half_full_keeps_its_room() {
    // Hysteresis: shrinking waits for occupancy below a quarter, so a cache
    // that empties and refills by half does not reallocate each time.
    let clock = MockClock::new();
    let cache = unbounded(&clock);
    for k in 0..10_000 {
        cache.insert(k, k);
    }
    clock.advance(IDLE / 2);
    for k in 0..5_000 {
        cache.get(&k);
    }
    clock.advance(IDLE / 2);
    cache.purge_expired();
    assert_eq!(cache.len(), 5_000);
    let (slots, table) = cache.core().store.lock().allocated();
    assert!(slots >= 10_000 && table >= 10_000, "shrank at half occupancy: {slots}, {table}");
}
