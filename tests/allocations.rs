//! Heap allocations on the hot paths, counted per thread: a hit allocates
//! nothing, and a write that evicts allocates no more than the entry it
//! stores (the mutex backend stores entries inline: nothing at all), save
//! rare housekeeping; and churn at a steady size holds steady memory.
//!
//! An allocation costs a miss time, and under a lock every thread waiting
//! on it, so these are counts a change must not raise. They are exact, not
//! timed: the counting allocator tallies the measuring thread's calls only.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::time::Duration;

use counting_alloc::{allocations_here, net_bytes_here};
use ttlkit::clock::MockClock;
use ttlkit::prelude::*;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting::ALWAYS;

const CAPACITY: u64 = 1_000;
/// Allocations allowed in `WRITES` operations for housekeeping that is
/// not per operation.
const RARE: u64 = WRITES / 1_000;
/// Writes into a full cache that a steady size must survive: past the
/// point where hashbrown's tombstones used up its room, on every seed seen.
const CHURN: u64 = 200_000;
/// Writes before counting.
const WARM_UP: u64 = 20 * CAPACITY;
/// Writes measured, each of a new key into a full cache.
const WRITES: u64 = 10_000;

/// Fills `cache` and turns it over many times (so every table, list and
/// wheel has reached its steady size), then counts the allocations of `WRITES`
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
        // No maintenance thread: the counting thread is the only one that
        // touches the cache, so its count is everything the cache does.
        .no_sweeper()
}

#[test]
fn mutex_writes_that_evict_and_hits_allocate_nothing_in_steady_state() {
    let clock = MockClock::new();
    let cache: MutexCache<u64, u64> = builder(&clock).build().expect("valid settings");
    let (writes, hits) = count(&cache, &clock);
    // Save the key index's rebuilds: removals leave tombstones in it, and
    // when they use up its room it is rebuilt at its size (one allocation,
    // every several thousand writes; when depends on the hash seed).
    assert!(writes <= RARE, "{writes} allocations in {WRITES} evicting writes");
    assert_eq!(hits, 0, "allocations in {WRITES} hits");
}

#[test]
fn sharded_writes_that_evict_allocate_only_their_entry() {
    let clock = MockClock::new();
    let cache: ShardedCache<u64, u64> = builder(&clock).build().expect("valid settings");
    let (writes, hits) = count(&cache, &clock);
    // One box per entry stored, plus the reclamation's batches of retired
    // entries (crossbeam seals one per 64 retirements) and table rebuilds.
    assert!(writes <= WRITES + WRITES / 16, "{writes} allocations in {WRITES} evicting writes");
    // Crossbeam's collector, which hits run (every 128th pin), retires its
    // own queue nodes, now and then sealing a batch of them.
    assert!(hits <= RARE, "{hits} allocations in {WRITES} hits");
}

/// A cache churning at a steady size holds what it held when it was
/// full: no structure keeps growing with the writes (the mutex store's key
/// index would double under hashbrown's own rule, for its tombstones).
#[test]
fn mutex_churn_at_a_steady_size_holds_no_more_memory() {
    let clock = MockClock::new();
    let cache: MutexCache<u64, u64> = builder(&clock).build().expect("valid settings");
    for k in 0..2 * CAPACITY {
        cache.insert(k, k);
    }
    let full = net_bytes_here();
    for k in 2 * CAPACITY..2 * CAPACITY + CHURN {
        cache.insert(k, k);
    }
    let grown = net_bytes_here() - full;
    assert!(grown <= 0, "{grown} bytes more after {CHURN} writes");
}

/// Heap bytes a cache built by `build` holds once `ENTRIES` entries fill it.
fn held_when_full<C: SlidingTtlCache<u64, u64>>(build: impl FnOnce() -> C) -> f64 {
    const ENTRIES: u64 = 100_000;
    let before = net_bytes_here();
    let cache = build();
    for k in 0..ENTRIES {
        cache.insert(k, k);
    }
    assert_eq!(cache.len(), ENTRIES as usize);
    let held = net_bytes_here() - before;
    drop(cache);
    held as f64 / ENTRIES as f64
}

/// The candidate default policy's bound, in the caches themselves: at most
/// 16 bytes per entry over `lru`. Its policy keeps no id index in a cache,
/// whose ids are slot indexes (12 bytes per entry that an index would cost).
#[test]
fn w_tinylfu_auto_costs_a_cache_at_most_16_bytes_per_entry_over_lru() {
    let clock = MockClock::new();
    let with = |policy: &str| builder(&clock).max_capacity(100_000).policy(policy);
    let mutex =
        |policy: &str| held_when_full(|| -> MutexCache<u64, u64> { with(policy).build().expect("valid settings") });
    // One shard: with more, the seeded shard hash decides how the tables
    // grow, which moves the figures by a byte or two from run to run.
    let sharded = |policy: &str| {
        held_when_full(|| -> ShardedCache<u64, u64> { with(policy).shards(1).build().expect("valid settings") })
    };
    let over_mutex = mutex("w-tinylfu-auto") - mutex("lru");
    let over_sharded = sharded("w-tinylfu-auto") - sharded("lru");
    assert!(over_mutex <= 16.0, "mutex: {over_mutex:.1} bytes per entry over lru");
    assert!(over_sharded <= 16.0, "sharded: {over_sharded:.1} bytes per entry over lru");
}
