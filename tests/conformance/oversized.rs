//! An entry heavier than the whole capacity can never fit: its insert is
//! refused at once (the new value reported as `Capacity`) and nothing else
//! is evicted to make room that could never suffice. If the key held an
//! older value, that value is gone too (`Replaced`): the cache must not go
//! on serving what the caller just overwrote.

use std::collections::HashSet;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

type Log = RemovalLog<u64, u32>;

/// 50 entries of weight 1 in a cache of capacity 100 (values are weights).
fn half_full<T: Target>(t: &T) -> (T::Cache<u64, u32>, Log) {
    let log = Log::new();
    let b = t.builder(Duration::from_secs(60), &MockClock::new()).max_capacity(100).weigher(|_, v: &u32| *v);
    let cache = t.build(log.attach(b));
    for k in 0..50 {
        cache.insert(k, 1);
    }
    cache.purge_expired();
    assert_eq!(cache.len(), 50);
    (cache, log)
}

fn resident(cache: &impl SlidingTtlCache<u64, u32>) -> HashSet<u64> {
    (0..1_000).filter(|k| cache.peek(k).is_some()).collect()
}

pub fn oversized_entry_is_refused_alone<T: Target>(t: &T) {
    let (cache, log) = half_full(t);
    cache.insert(1_000, 1_000);
    cache.purge_expired();
    assert_eq!(cache.get(&1_000), None, "an entry over the whole capacity was kept");
    assert_eq!(resident(&cache), (0..50).collect(), "others were evicted for an entry that cannot fit");
    assert_eq!(cache.len(), 50);
    assert_eq!(log.entries(), vec![(1_000, 1_000, RemovalCause::Capacity)]);
}

pub fn oversized_overwrite_drops_the_old_value<T: Target>(t: &T) {
    let (cache, log) = half_full(t);
    cache.insert(7, 101);
    cache.purge_expired();
    assert_eq!(cache.get(&7), None, "the overwritten value (or the oversized one) is still served");
    assert_eq!(resident(&cache), (0..50).filter(|&k| k != 7).collect());
    assert_eq!(cache.len(), 49);
    let mut removed = log.entries();
    removed.sort_by_key(|&(_, v, _)| v);
    assert_eq!(removed, vec![(7, 1, RemovalCause::Replaced), (7, 101, RemovalCause::Capacity)]);
}

pub fn oversized_loaded_value_is_refused_alone<T: Target>(t: &T) {
    let (cache, log) = half_full(t);
    assert_eq!(cache.get_or_insert_with(1_000, || 1_000), 1_000, "the caller still gets its value");
    cache.purge_expired();
    assert_eq!(cache.peek(&1_000), None, "a loaded entry over the whole capacity was kept");
    assert_eq!(resident(&cache), (0..50).collect(), "others were evicted for a loaded entry that cannot fit");
    assert_eq!(log.entries(), vec![(1_000, 1_000, RemovalCause::Capacity)]);
}
