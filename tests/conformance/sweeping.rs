//! Conformance cases for expiry at the extremes of time and for the
//! reclaiming of expired entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ttlkit::{AnyCache, CacheBuilder, MockClock, RemovalCause, SlidingTtlCache};

use crate::Target;

type Heard = Arc<Mutex<HashMap<u64, Vec<RemovalCause>>>>;

/// A capacity-bounded cache with a tiny idle timeout whose listener records
/// every removal per key.
fn tiny_idle_cache(t: &Target, clock: &MockClock, cap: u64) -> (AnyCache<u64, u64>, Heard) {
    let heard: Heard = Arc::default();
    let sink = Arc::clone(&heard);
    let b = CacheBuilder::new(Duration::from_nanos(1))
        .clock(clock.clone())
        .no_sweeper()
        .policy_kind(t.policy)
        .max_capacity(cap)
        .removal_listener(move |k: &u64, _v, c| sink.lock().unwrap().entry(*k).or_default().push(c));
    (AnyCache::new(t.backend, b).unwrap(), heard)
}

/// At the end of time (a clock saturated at `Ticks::MAX`) every entry is
/// expired the moment it is stored; none may be mistaken for a sentinel and
/// held for ever.
pub fn entries_stored_at_the_end_of_time_are_purged(t: &Target) {
    let clock = MockClock::new();
    clock.advance(Duration::MAX);
    let (cache, heard) = tiny_idle_cache(t, &clock, 100);
    // Inserts only: a read would remove the expired entry it finds and
    // hide an entry that purging cannot find.
    for k in 0..200 {
        cache.insert(k, k);
    }
    clock.advance(Duration::from_secs(1));
    cache.purge_expired();
    assert_eq!(cache.len(), 0, "nothing is live, so nothing may be held after purge_expired");
    assert!((0..200).all(|k| cache.peek(&k).is_none()));
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 200, "the listener heard every key");
    for (k, causes) in heard.iter() {
        assert_eq!(causes, &[RemovalCause::Expired], "key {k}: reported once, as expired");
    }
}

/// Deadline arithmetic near the end of time saturates: an entry stored just
/// before it, with the longest timeouts the builder accepts, is live until
/// the clock saturates and then purged.
pub fn deadlines_near_the_end_of_time_saturate(t: &Target) {
    let clock = MockClock::new();
    clock.advance(Duration::from_nanos(u64::MAX - 1_000));
    let heard: Heard = Arc::default();
    let sink = Arc::clone(&heard);
    let b = CacheBuilder::new(ttlkit::MAX_DURATION)
        .max_lifetime(ttlkit::MAX_DURATION)
        .clock(clock.clone())
        .no_sweeper()
        .policy_kind(t.policy)
        .removal_listener(move |k: &u64, _v, c| sink.lock().unwrap().entry(*k).or_default().push(c));
    let cache: AnyCache<u64, u64> = AnyCache::new(t.backend, b).unwrap();
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
    let heard = heard.lock().unwrap();
    assert_eq!(heard.len(), 10);
    assert!(heard.values().all(|c| c == &[RemovalCause::Expired]), "{heard:?}");
}
