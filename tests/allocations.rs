//! Heap allocations on the hot paths, counted per thread: a hit allocates
//! nothing, and a write that evicts allocates no more than the entry it
//! stores (the mutex backend stores entries inline: nothing at all, past
//! its key index's one growth under churn).
//!
//! Allocation is the largest cost of a miss after the hash-table probe, so
//! these are counts a change must not raise. They are exact, not timed:
//! the counting allocator tallies the calls of the measuring thread only.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::time::Duration;

use counting_alloc::allocations_here;
use ttlkit::clock::MockClock;
use ttlkit::prelude::*;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting::ALWAYS;

const CAPACITY: u64 = 1_000;
/// Writes before counting.
const WARM_UP: u64 = 20 * CAPACITY;
/// Writes measured, each of a new key into a full cache.
const WRITES: u64 = 10_000;

/// Fills `cache` and turns it over twice (so every table, list and wheel
/// has reached its steady size), then counts the allocations of `WRITES`
/// inserts of new keys, each evicting one entry, and of as many hits.
fn count<C: SlidingTtlCache<u64, u64>>(cache: &C, clock: &MockClock) -> (u64, u64) {
    for k in 0..WARM_UP {
        cache.insert(k, k);
        clock.advance(Duration::from_micros(1));
    }
    let before = allocations_here();
    for k in WARM_UP..WARM_UP + WRITES {
        cache.insert(k, k);
        clock.advance(Duration::from_micros(1));
    }
    let writes = allocations_here() - before;
    let newest = WARM_UP + WRITES - 1;
    let before = allocations_here();
    for _ in 0..WRITES {
        assert_eq!(cache.get(&newest), Some(newest));
    }
    (writes, allocations_here() - before)
}

fn builder(clock: &MockClock) -> CacheBuilder<u64, u64> {
    CacheBuilder::new()
        .max_capacity(CAPACITY)
        .time_to_idle(Duration::from_secs(3600))
        .policy("lru")
        .clock(clock.clone())
        // No maintenance thread to contend for the cache's lock: a thread's
        // first wait on a lock allocates (parking_lot's per-thread record).
        .no_sweeper()
}

#[test]
fn mutex_writes_that_evict_and_hits_allocate_nothing_in_steady_state() {
    let clock = MockClock::new();
    let cache: MutexCache<u64, u64> = builder(&clock).build().expect("valid settings");
    let (writes, hits) = count(&cache, &clock);
    // The key index (hashbrown) may grow once under churn: removals leave
    // tombstones, and when they use up its room it rehashes, into a table
    // twice the size if more than half its capacity is live. Which write
    // meets that depends on the random hash seed; after it, none allocates.
    assert!(writes <= 1, "{writes} allocations in {WRITES} evicting writes");
    assert_eq!(hits, 0, "allocations in {WRITES} hits");
}

#[test]
fn sharded_writes_that_evict_allocate_only_their_entry() {
    let clock = MockClock::new();
    let cache: ShardedCache<u64, u64> = builder(&clock).build().expect("valid settings");
    let (writes, hits) = count(&cache, &clock);
    // One box per entry stored, plus the reclamation's occasional batch of
    // retired entries (crossbeam seals one per 64 retirements).
    assert!(writes <= WRITES + WRITES / 16, "{writes} allocations in {WRITES} evicting writes");
    assert_eq!(hits, 0, "allocations in {WRITES} hits");
}
