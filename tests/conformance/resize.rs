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

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A shorter idle timeout applies to the entries held, from their stamps:
/// one idle for longer than it is expired at once, and a purge finds it.
pub fn a_shorter_idle_timeout_applies_to_entries_held<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(600))));
    cache.insert(1, 1);
    clock.advance(secs(60));
    cache.insert(2, 2);
    clock.advance(secs(30));
    cache.set_time_to_idle(secs(60)).expect("supported");
    assert_eq!(cache.purge_expired(), 1, "idle for 90 s: expired under the new timeout");
    assert_eq!((cache.get(&1), cache.get(&2)), (None, Some(2)));
    clock.advance(secs(59));
    assert_eq!(cache.peek(&2), Some(2));
    clock.advance(secs(1));
    assert_eq!(cache.peek(&2), None, "60 s after its read");
    assert_eq!(cache.entry_info(&2), None);
    assert_eq!(log.causes(), vec![RemovalCause::Expired]);
}

/// A longer time-to-live lets entries held live longer; one set on a
/// cache built without expiry applies from each entry's write.
pub fn a_time_to_live_can_be_lengthened_or_added<T: Target>(t: &T) {
    let clock = MockClock::new();
    let ttl = t.build(t.base_builder::<u64, u64>(&clock).time_to_live(secs(10)));
    let forever = t.build(t.base_builder::<u64, u64>(&clock));
    ttl.insert(1, 1);
    forever.insert(1, 1);
    clock.advance(secs(5));
    ttl.set_time_to_live(secs(100)).expect("supported");
    forever.set_time_to_live(secs(20)).expect("supported");
    clock.advance(secs(10));
    assert_eq!((ttl.get(&1), forever.get(&1)), (Some(1), Some(1)));
    clock.advance(secs(5));
    assert_eq!((ttl.get(&1), forever.get(&1)), (Some(1), None), "20 s after its write");
    forever.purge_expired(); // a backend may remove what a read found expired at once
    assert_eq!(forever.len(), 0);
    clock.advance(secs(80));
    assert_eq!(ttl.get(&1), None, "100 s after its write");
}

/// Timeouts the builder would refuse are refused, and nothing changes.
pub fn bad_timeouts_are_refused_and_change_nothing<T: Target>(t: &T) {
    let clock = MockClock::new();
    let b = t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60)).refresh_granularity(secs(10));
    let cache = t.build(b);
    cache.insert(1, 1);
    assert!(matches!(cache.set_time_to_idle(Duration::ZERO), Err(BuildError::ZeroDuration { .. })));
    assert!(matches!(cache.set_time_to_live(Duration::ZERO), Err(BuildError::ZeroDuration { .. })));
    let refused = cache.set_time_to_idle(secs(5));
    assert!(matches!(refused, Err(BuildError::DurationTooLong { what: "refresh_granularity", .. })), "{refused:?}");
    clock.advance(secs(59));
    assert_eq!(cache.peek(&1), Some(1), "still the 60 s timeout");
    assert_eq!(cache.entry_info(&1).and_then(|i| i.live_left), None, "still no time-to-live");
}
