//! Expired entries and empty slots do not pile up: the sweeper's batches
//! say when more is due, writes reclaim a bounded batch of their shard's
//! expired entries (with or without a capacity bound), and a table left
//! mostly empty by removals is rebuilt smaller.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::tests::assert_accounting;
use crate::clock::MockClock;
use crate::sweeper::Sweep;
use crate::{CacheBuilder, RemovalCause, ShardedCache, SlidingTtlCache};

const TTI: Duration = Duration::from_millis(1);

/// Entries the backlog tests start from (miri runs a few hundred times
/// slower: fewer there, still more than one sweep batch).
const ENTRIES: u64 = if cfg!(miri) { 300 } else { 1_000 };

fn cache(clock: &MockClock, shards: usize) -> ShardedCache<u64, u64> {
    CacheBuilder::new().time_to_idle(TTI).clock(clock.clone()).no_sweeper().shards(shards).build().unwrap()
}

#[test]
fn sweep_batches_report_more_until_everything_due_is_gone() {
    for shards in [1, 4] {
        let clock = MockClock::new();
        let c = cache(&clock, shards);
        for k in 0..ENTRIES {
            c.insert(k, k);
        }
        clock.advance(TTI);
        let mut calls = 0;
        while c.frontend().sweep_batch() {
            calls += 1;
            assert!(c.len() > 0, "{shards} shards: 'more' reported with nothing left");
            assert!(calls < 100, "{shards} shards: the sweep does not finish");
        }
        assert_eq!(c.len(), 0, "{shards} shards: the sweep stopped with expired entries left");
        // 256 per shard per batch: a bounded number of batches.
        assert!(calls <= ENTRIES as usize / 256 + 1, "{shards} shards: {calls} batches");
        assert!(!c.frontend().sweep_batch(), "{shards} shards: nothing is due any more");
        assert_accounting(&c, "after the sweep");
    }
}

#[test]
fn writes_reclaim_expired_entries_without_a_capacity_bound() {
    let clock = MockClock::new();
    let expired = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&expired);
    let c: ShardedCache<u64, u64> = CacheBuilder::new()
        .time_to_idle(TTI)
        .clock(clock.clone())
        .no_sweeper()
        .shards(1)
        .removal_listener(move |_, _, cause| {
            if cause == RemovalCause::Expired {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    for k in 0..ENTRIES {
        c.insert(k, k);
    }
    clock.advance(TTI);
    // One write reclaims a bounded batch, not the whole backlog...
    c.insert(5_000, 0);
    let first = expired.load(Ordering::Relaxed);
    assert!(first > 0, "a write found expired entries and left them all");
    assert!(first <= 64, "a write reclaimed {first} entries at once");
    // ...and writes keep doing so until the backlog is gone, with no sweeper
    // and no purge: two writers under a 1 ms idle timeout do not pile up.
    for k in 0..ENTRIES {
        c.insert(10_000 + k, k);
        clock.advance(TTI / 4);
    }
    assert!(c.len() <= 200, "expired entries piled up: {} held", c.len());
    assert_accounting(&c, "after the writes");
}

#[test]
fn a_mostly_empty_table_is_rebuilt_smaller_without_thrashing() {
    let clock = MockClock::new();
    let c: ShardedCache<u64, u64> =
        CacheBuilder::new().time_to_idle(Duration::from_secs(60)).clock(clock).no_sweeper().shards(1).build().unwrap();
    let shard = &c.core().shards[0];
    // Miri runs this a few hundred times slower: fewer keys there.
    let (keys, rounds) = if cfg!(miri) { (1_000, 200) } else { (10_000, 1_000) };
    for k in 0..keys {
        c.insert(k, k);
    }
    let (grown, _) = shard.table_shape();
    assert!(grown >= keys as usize * 4 / 3, "{grown} slots");
    for k in 10..keys {
        c.remove(&k);
    }
    let (shrunk, _) = shard.table_shape();
    assert!(shrunk <= 64, "10 live entries keep {shrunk} slots");
    for k in 0..10 {
        assert_eq!(c.get(&k), Some(k), "key {k} lost by the rebuild");
    }
    // Churn at the boundary: at most one rebuild, not one per operation.
    let (_, mut table) = shard.table_shape();
    let mut rebuilds = 0;
    for round in 0..rounds {
        c.insert(100_000 + round % 2, 0);
        c.remove(&(100_000 + (round + 1) % 2));
        let (_, now) = shard.table_shape();
        if now != table {
            rebuilds += 1;
            table = now;
        }
    }
    assert!(rebuilds <= 2, "{rebuilds} rebuilds for churn on two keys");
    assert_eq!(c.len(), 11);
}

#[test]
fn a_walk_that_found_nothing_due_quiets_the_due_hint() {
    // Writes reclaim only when the hint says something may be due; a hint
    // stuck at the start of the current bucket would make every write walk
    // the same not-yet-due entries again.
    let clock = MockClock::new();
    let c = cache(&clock, 1);
    c.insert(1, 1);
    clock.advance(TTI - Duration::from_nanos(1));
    assert_eq!(c.purge_expired(), 0);
    let now = c.frontend().clock.now();
    assert!(!c.core().shards[0].may_have_expired(now), "nothing is due, yet the hint says so");
    clock.advance(Duration::from_nanos(1));
    assert!(c.core().shards[0].may_have_expired(c.frontend().clock.now()));
    assert_eq!(c.purge_expired(), 1);
}
