//! The sharded backend on the timer wheel: hits move idle deadlines without
//! the lock and the wheel catches up on its walks; a longer timeout is met
//! the same way, a shorter one refiles at once.

use std::time::Duration;

use crate::clock::MockClock;
use crate::{CacheBuilder, RemovalCause, ShardedCache, SlidingTtlCache};

const SEC: Duration = Duration::from_secs(1);

fn cache(clock: &MockClock) -> ShardedCache<u64, u64> {
    CacheBuilder::new()
        .time_to_idle(10 * SEC)
        .refresh_granularity(Duration::ZERO)
        .clock(clock.clone())
        .no_sweeper()
        .shards(2)
        .build()
        .unwrap()
}

#[test]
fn a_hit_after_the_filing_is_found_live_and_expires_later() {
    let clock = MockClock::new();
    let c = cache(&clock);
    for k in 0..100 {
        c.insert(k, k);
    }
    // Even keys read at 9 s: their idle deadline moves to 19 s, lock-free;
    // the wheel still files them at 10 s.
    clock.advance(9 * SEC);
    for k in (0..100).step_by(2) {
        assert_eq!(c.get(&k), Some(k));
    }
    clock.advance(SEC);
    assert_eq!(c.purge_expired(), 50, "the odd keys, not the ones read");
    clock.advance(9 * SEC - Duration::from_nanos(1));
    assert_eq!(c.purge_expired(), 0, "refiled under 19 s, not due 1 ns before");
    clock.advance(Duration::from_nanos(1));
    assert_eq!(c.purge_expired(), 50);
    assert_eq!(c.len(), 0);
}

#[test]
fn own_deadlines_and_timeout_changes_share_the_wheel() {
    let clock = MockClock::new();
    let c = cache(&clock);
    c.insert(1, 1);
    c.insert_with_ttl(2, 2, SEC).unwrap();
    c.insert_with_ttl(3, 3, 3 * SEC).unwrap();
    clock.advance(SEC);
    assert_eq!(c.purge_expired(), 1);
    // Longer: nothing refiled; the wheel meets key 1 at 10 s and refiles it.
    c.set_time_to_idle(20 * SEC).unwrap();
    clock.advance(9 * SEC);
    assert_eq!(c.purge_expired(), 1, "key 3, at its own 3 s");
    assert_eq!(c.get(&1), Some(1));
    // Shorter: key 1, read at 10 s, is due at 12 s under 2 s.
    c.set_time_to_idle(2 * SEC).unwrap();
    clock.advance(2 * SEC);
    assert_eq!(c.purge_expired(), 1);
    assert_eq!(c.stats().removals(RemovalCause::Expired), 3);
    assert_eq!(c.len(), 0);
}

#[test]
fn room_is_made_from_an_expired_entry_behind_many_that_came_near() {
    // As in the mutex store's test: the expired entry is the last of its
    // bucket, behind 100 that are due later, and an insert needs room.
    let clock = MockClock::new();
    let c: ShardedCache<u64, u64> = CacheBuilder::new()
        .time_to_idle(1_000 * SEC)
        .clock(clock.clone())
        .no_sweeper()
        .shards(1)
        .max_capacity(102)
        .build()
        .unwrap();
    for k in 0..100 {
        c.insert_with_ttl(k, k, Duration::from_millis(2_100)).unwrap();
    }
    c.insert_with_ttl(100, 100, Duration::from_millis(1_200)).unwrap();
    clock.advance(Duration::from_millis(1_500));
    c.insert(200, 200);
    c.insert(201, 201);
    let stats = c.stats();
    assert_eq!((stats.removals(RemovalCause::Expired), stats.removals(RemovalCause::Capacity)), (1, 0));
    assert_eq!(c.peek(&100), None);
}
