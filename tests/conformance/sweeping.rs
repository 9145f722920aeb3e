//! Conformance cases for expiry at the extremes of time and for the
//! reclaiming of expired entries.

use std::collections::HashMap;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

/// Every removal the listener heard, per key.
fn heard(log: &RemovalLog<u64, u64>) -> HashMap<u64, Vec<RemovalCause>> {
    let mut heard: HashMap<u64, Vec<RemovalCause>> = HashMap::new();
    for (k, _, c) in log.entries() {
        heard.entry(k).or_default().push(c);
    }
    heard
}

/// A capacity-bounded cache with a tiny idle timeout whose listener records
/// every removal.
fn tiny_idle_cache<T: Target>(t: &T, clock: &MockClock, cap: u64) -> (T::Cache<u64, u64>, RemovalLog<u64, u64>) {
    let log = RemovalLog::new();
    let b = t.builder(Duration::from_nanos(1), clock).max_capacity(cap);
    (t.build(log.attach(b)), log)
}

/// At the end of time (a clock saturated at `Ticks::MAX`) every entry is
/// expired the moment it is stored; none may be mistaken for a sentinel and
/// held for ever.
pub fn entries_stored_at_the_end_of_time_are_purged<T: Target>(t: &T) {
    let clock = MockClock::new();
    clock.advance(Duration::MAX);
    let (cache, log) = tiny_idle_cache(t, &clock, 100);
    // Inserts only: a read would remove the expired entry it finds and
    // hide an entry that purging cannot find.
    for k in 0..200 {
        cache.insert(k, k);
    }
    clock.advance(Duration::from_secs(1));
    cache.purge_expired();
    assert_eq!(cache.len(), 0, "nothing is live, so nothing may be held after purge_expired");
    assert!((0..200).all(|k| cache.peek(&k).is_none()));
    let heard = heard(&log);
    assert_eq!(heard.len(), 200, "the listener heard every key");
    for (k, causes) in heard.iter() {
        assert_eq!(causes, &[RemovalCause::Expired], "key {k}: reported once, as expired");
    }
}

/// Deadline arithmetic near the end of time saturates: an entry stored just
/// before it, with the longest timeouts the builder accepts, is live until
/// the clock saturates and then purged.
pub fn deadlines_near_the_end_of_time_saturate<T: Target>(t: &T) {
    let clock = MockClock::new();
    clock.advance(Duration::from_nanos(u64::MAX - 1_000));
    let log = RemovalLog::new();
    let b = t.builder(ttlkit::MAX_DURATION, &clock).time_to_live(ttlkit::MAX_DURATION);
    let cache = t.build(log.attach(b));
    for k in 0..10 {
        cache.insert(k, k);
    }
    clock.advance(Duration::from_nanos(999));
    assert_eq!(cache.purge_expired(), 0, "a saturated deadline is the end of time, not a wrapped one");
    assert_eq!(cache.get(&3), Some(3));
    clock.advance(Duration::MAX);
    assert_eq!(cache.get(&3), None);
    cache.purge_expired();
    assert_eq!(cache.len(), 0);
    let heard = heard(&log);
    assert_eq!(heard.len(), 10);
    assert!(heard.values().all(|c| c == &[RemovalCause::Expired]), "{heard:?}");
}
