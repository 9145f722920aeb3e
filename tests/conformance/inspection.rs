//! Conformance cases for looking without touching (`entry_info`, `iter`
//! and `weighted_size` refresh nothing and count nothing) and for
//! `retain`.

use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Idle 60 s, lifetime 100 s; inserted at t=0, read at t=10, looked at
/// t=15: 15 s since the write, 5 s since the read, 55 s and 85 s left.
/// Looking does not refresh: the entry still expires at t=70.
pub fn entry_info_reports_age_and_deadlines_without_refreshing<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60)).time_to_live(secs(100)));
    cache.insert(1, 10);
    clock.advance(secs(10));
    assert_eq!(cache.get(&1), Some(10));
    clock.advance(secs(5));
    let before = cache.stats();
    let info = cache.entry_info(&1).expect("a live entry");
    assert_eq!((info.since_write, info.since_access), (secs(15), secs(5)));
    assert_eq!((info.idle_left, info.live_left, info.expires_in()), (Some(secs(55)), Some(secs(85)), Some(secs(55))));
    assert_eq!(info.weight, 1);
    assert_eq!(cache.entry_info(&2), None, "no such entry");
    assert_eq!(cache.stats(), before, "looking counts nothing");
    clock.advance(secs(54));
    assert!(cache.entry_info(&1).is_some_and(|i| i.expires_in() == Some(secs(1))), "t=69");
    clock.advance(secs(1));
    assert_eq!(cache.entry_info(&1), None, "t=70: expired on the schedule of the read at t=10");
    assert_eq!(cache.peek(&1), None);
}

/// Without a time-to-idle or a time-to-live, the matching field is `None`.
pub fn entry_info_of_a_cache_that_never_expires<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock));
    cache.insert(1, 10);
    clock.advance(secs(3));
    let info = cache.entry_info(&1).expect("a live entry");
    assert_eq!((info.since_write, info.idle_left, info.live_left, info.expires_in()), (secs(3), None, None, None));
}

/// `iter` yields the live entries only, and refreshes none of them.
pub fn iter_yields_live_entries_without_refreshing<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60)));
    for k in 1..=5 {
        cache.insert(k, k * 10);
    }
    clock.advance(secs(30));
    for k in 6..=8 {
        cache.insert(k, k * 10);
    }
    clock.advance(secs(31));
    let before = cache.stats();
    let mut seen: Vec<(u64, u64)> = cache.iter().collect();
    seen.sort_unstable();
    assert_eq!(seen, vec![(6, 60), (7, 70), (8, 80)], "t=61: the first five are expired, purged or not");
    assert_eq!(cache.stats(), before);
    clock.advance(secs(30));
    assert_eq!(cache.iter().count(), 0, "t=91: iter at t=61 refreshed nothing");
}

/// `weighted_size` sums the weigher's weights; `entry_info` reports each.
pub fn weighted_size_and_entry_weights<T: Target>(t: &T) {
    let clock = MockClock::new();
    let b = t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60)).max_capacity(1_000).weigher(|_, v| *v as u32);
    let cache = t.build(b);
    cache.insert(1, 7);
    cache.insert(2, 30);
    cache.insert(1, 5);
    cache.purge_expired();
    assert_eq!(cache.weighted_size(), 35);
    assert_eq!(cache.entry_info(&1).map(|i| i.weight), Some(5));
    assert_eq!(cache.entry_info(&2).map(|i| i.weight), Some(30));
}

/// `retain` removes the live entries `keep` rejects, as `Explicit`, and
/// leaves expired ones to be reported as `Expired`.
pub fn retain_removes_what_keep_rejects<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60))));
    cache.insert(100, 0);
    clock.advance(secs(30));
    for k in 1..=10 {
        cache.insert(k, k * 10);
    }
    clock.advance(secs(31)); // key 100 is expired, 1..=10 are not
    assert_eq!(cache.retain(|k, _| k % 2 == 0), 5);
    let mut left: Vec<u64> = cache.iter().map(|(k, _)| k).collect();
    left.sort_unstable();
    assert_eq!(left, vec![2, 4, 6, 8, 10]);
    let mut gone: Vec<(u64, RemovalCause)> = log.entries().into_iter().map(|(k, _, c)| (k, c)).collect();
    gone.sort_unstable_by_key(|&(k, _)| k);
    assert_eq!(gone, [1, 3, 5, 7, 9].map(|k| (k, RemovalCause::Explicit)).to_vec());
    assert_eq!(cache.retain(|_, v| *v > 50), 2, "20 and 40 go");
    cache.purge_expired();
    assert!(log.entries().contains(&(100, 0, RemovalCause::Expired)), "the expired entry is reported as such");
}

/// A load in flight during a `retain` returns its value but does not store
/// it, as during a `clear`: the retain may have judged its key.
pub fn a_load_during_retain_is_not_stored<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60)));
    let (ticket, found) = cache.begin_load(&1);
    assert_eq!(found, None);
    cache.retain(|_, _| true);
    assert!(!cache.commit_load(1, 10, &ticket), "the retain came after the load's lookup");
    drop(ticket);
    assert_eq!(cache.peek(&1), None);
}

/// `coldest` and `hottest` name each live entry once (none expired), in
/// prefixes of one ranking, and refresh and count nothing.
pub fn coldest_and_hottest_rank_the_live_entries<T: Target>(t: &T) {
    let clock = MockClock::new();
    let b = t.base_builder::<u64, u64>(&clock).time_to_idle(Duration::from_secs(60)).max_capacity(100);
    let cache = t.build(b);
    (0..5).for_each(|k| cache.insert(k, k));
    clock.advance(Duration::from_secs(30));
    (5..9).for_each(|k| cache.insert(k, k * 10));
    cache.get(&6);
    clock.advance(Duration::from_secs(31)); // 0..5 are expired
    let stats = cache.stats();
    for ranking in [cache.coldest(usize::MAX), cache.hottest(usize::MAX)] {
        let mut got = ranking.expect("the policy can tell");
        got.sort_unstable();
        assert_eq!(got, vec![(5, 50), (6, 60), (7, 70), (8, 80)]);
    }
    let cold = cache.coldest(usize::MAX).expect("ranked");
    assert_eq!(cache.coldest(2).expect("ranked"), cold[..2]);
    assert_eq!(cache.stats(), stats, "ranking counts nothing");
    assert_eq!(cache.entry_info(&5).map(|i| i.since_access), Some(Duration::from_secs(31)), "nor refreshes");
}
