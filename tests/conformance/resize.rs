//! Conformance cases for `set_max_capacity`: the bound changes while the
//! cache is in use.

use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{BuildError, RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

/// Shrinking evicts down to the new bound before it returns, the expired
/// entries first (`Expired`), then the policy's victims (`Capacity`).
pub fn shrinking_evicts_at_once_expired_first<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let builder = t.base_builder::<u64, u64>(&clock).time_to_idle(Duration::from_secs(60)).max_capacity(10);
    let cache = t.build(log.attach(builder));
    (0..3).for_each(|k| cache.insert(k, k));
    clock.advance(Duration::from_secs(30));
    (3..10).for_each(|k| cache.insert(k, k));
    clock.advance(Duration::from_secs(31)); // 0, 1 and 2 are expired
    cache.set_max_capacity(5).expect("a bounded cache can shrink");
    assert_eq!(cache.len(), 5, "down to the new bound at once");
    let causes = log.causes();
    assert_eq!(causes.iter().filter(|&&c| c == RemovalCause::Expired).count(), 3);
    assert_eq!(causes.iter().filter(|&&c| c == RemovalCause::Capacity).count(), 2);
    assert_eq!(causes[..3], [RemovalCause::Expired; 3], "the expired entries went first");
    cache.insert(100, 100);
    assert!(cache.len() <= 5 + 1, "inserts keep to the new bound (sharded may overshoot by one in flight)");
    cache.purge_expired();
    assert!(cache.len() <= 5);
}

/// Growing lets later inserts fill the new room, with no eviction.
pub fn growing_makes_room_for_more<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).max_capacity(4)));
    (0..4).for_each(|k| cache.insert(k, k));
    cache.set_max_capacity(40).expect("a bounded cache can grow");
    (4..40).for_each(|k| cache.insert(k, k));
    assert_eq!((cache.len(), log.causes()), (40, vec![]));
    cache.insert(40, 40);
    cache.purge_expired();
    assert_eq!(cache.len(), 40, "the new bound holds");
}

/// Zero, and a cache built without a bound, are refused with typed errors,
/// and nothing changes.
pub fn bad_resizes_are_refused_and_change_nothing<T: Target>(t: &T) {
    let clock = MockClock::new();
    let bounded = t.build(t.base_builder::<u64, u64>(&clock).max_capacity(3));
    (0..3).for_each(|k| bounded.insert(k, k));
    assert!(matches!(bounded.set_max_capacity(0), Err(BuildError::ZeroCapacity)));
    assert_eq!(bounded.len(), 3);
    let unbounded = t.build(t.base_builder::<u64, u64>(&clock));
    (0..3).for_each(|k| unbounded.insert(k, k));
    assert!(matches!(unbounded.set_max_capacity(1), Err(BuildError::MissingSetting { what: "set_max_capacity", .. })));
    assert_eq!(unbounded.len(), 3);
}

/// Resizing while other threads insert: afterwards the last bound holds,
/// and every entry that went in is either held or was reported.
pub fn resizing_under_concurrent_inserts_loses_nothing<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).max_capacity(500)));
    std::thread::scope(|s| {
        for w in 0..3u64 {
            let cache = cache.clone();
            s.spawn(move || (0..3_000).for_each(|k| cache.insert(w * 10_000 + k, k)));
        }
        for round in 0..200 {
            cache.set_max_capacity(if round % 2 == 0 { 20 } else { 500 }).expect("bounded");
        }
    });
    cache.set_max_capacity(100).expect("bounded");
    cache.purge_expired();
    assert!(cache.len() <= 100, "{} held over the last bound of 100", cache.len());
    let evicted = log.causes().iter().filter(|&&c| c == RemovalCause::Capacity).count();
    assert_eq!(evicted + cache.len(), 9_000, "each insert is held or was evicted, none lost");
}
