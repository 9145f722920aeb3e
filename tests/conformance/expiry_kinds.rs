//! Conformance cases for the kinds of expiry: time-to-live alone,
//! time-to-idle alone, and none at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

const READ_EVERY: Duration = Duration::from_millis(250);

/// Reads key 1 through `get_or_insert_with` every 250 ms for 3 s; returns
/// how many times it was loaded.
fn loads_over_three_seconds(cache: &impl SlidingTtlCache<u64, u64>, clock: &MockClock) -> usize {
    let loads = AtomicUsize::new(0);
    for _ in 0..12 {
        cache.get_or_insert_with(1, || loads.fetch_add(1, Ordering::SeqCst) as u64);
        clock.advance(READ_EVERY);
    }
    loads.into_inner()
}

/// A response cache: a one-second time-to-live refetches every second,
/// however often the entry is read.
pub fn time_to_live_alone_is_not_extended_by_reads<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).time_to_live(Duration::from_secs(1)));
    assert_eq!(loads_over_three_seconds(&cache, &clock), 3, "t=0, 1 s and 2 s");
}

/// A client cache: a one-second time-to-idle keeps an entry read every
/// 250 ms, and lets it go one idle second later.
pub fn time_to_idle_alone_lives_while_read<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).time_to_idle(Duration::from_secs(1))));
    assert_eq!(loads_over_three_seconds(&cache, &clock), 1);
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(&1), None, "idle for 1.25 s");
    cache.purge_expired(); // a core may leave what a read found expired to a purge
    assert_eq!((cache.len(), log.causes()), (0, vec![RemovalCause::Expired]));
}

/// With neither setting nothing expires: after fifty years the entry is
/// still there, and a purge finds nothing.
pub fn without_expiry_nothing_expires<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock)));
    cache.insert(1, 10);
    clock.advance(Duration::from_secs(50 * 365 * 24 * 3600));
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(cache.purge_expired(), 0);
    assert_eq!((cache.len(), log.causes()), (1, vec![]));
}
