//! Extreme but valid builder input: a huge capacity, a capacity in bytes,
//! huge weights, many shards. Every backend and policy must build, hold what
//! it is given and count it right, without panicking or allocating in
//! proportion to the capacity (a policy sized by `u64::MAX` or by bytes
//! aborts on its first allocation, which fails these cases too).

use std::time::Duration;

use ttlkit::{AnyCache, BuildError, CacheBuilder, MockClock, SlidingTtlCache};

use crate::Target;

const TTI: Duration = Duration::from_secs(60);
const KEYS: u64 = 1_000;

fn build<V>(t: &Target, f: impl FnOnce(CacheBuilder<u64, V>) -> CacheBuilder<u64, V>) -> AnyCache<u64, V>
where
    V: Clone + Send + Sync + 'static,
{
    let b = CacheBuilder::new(TTI).clock(MockClock::new()).no_sweeper().policy(t.policy);
    AnyCache::from_name(t.backend, f(b)).unwrap()
}

/// Inserts, reads, removes and purges `KEYS` keys that all fit, checking
/// `len` at each stage.
fn exercise<V: Clone + Send + Sync + PartialEq + std::fmt::Debug + 'static>(
    cache: &AnyCache<u64, V>,
    value: impl Fn(u64) -> V,
) {
    for k in 0..KEYS {
        cache.insert(k, value(k));
    }
    cache.purge_expired();
    assert_eq!(cache.len(), KEYS as usize, "every key fits");
    for k in 0..KEYS {
        assert_eq!(cache.get(&k), Some(value(k)), "key {k}");
    }
    for k in (0..KEYS).step_by(2) {
        assert_eq!(cache.remove(&k), Some(value(k)));
    }
    cache.purge_expired();
    assert_eq!(cache.len(), KEYS as usize / 2);
    cache.clear();
    assert_eq!(cache.len(), 0);
}

pub fn max_capacity_u64_max_works(t: &Target) {
    exercise(&build(t, |b| b.max_capacity(u64::MAX)), |k| k);
    exercise(&build(t, |b| b.max_capacity(u64::MAX).shards(64)), |k| k);
}

pub fn byte_weighted_capacity_works(t: &Target) {
    let value = |k: u64| "v".repeat(1 + (k % 100) as usize);
    let weighed = |b: CacheBuilder<u64, String>| b.max_capacity(1 << 30).weigher(|_, v: &String| v.len() as u32);
    exercise(&build(t, weighed), value);
    exercise(&build(t, |b| weighed(b).shards(64)), value);
}

/// Weights of 0 and `u32::MAX` under a `u64::MAX` bound: the total weight
/// (about 2^42 here) must not overflow and nothing needs evicting.
pub fn extreme_weights_work(t: &Target) {
    let heavy = |b: CacheBuilder<u64, u64>| {
        b.max_capacity(u64::MAX).weigher(|_, v: &u64| if v % 2 == 0 { u32::MAX } else { 0 })
    };
    exercise(&build(t, heavy), |k| k);
}

/// A capacity of one holds one entry, of any policy.
pub fn capacity_one_holds_one(t: &Target) {
    let cache = build(t, |b| b.max_capacity(1));
    for k in 0..KEYS {
        cache.insert(k, k);
        cache.purge_expired();
        assert!(cache.len() <= 1, "{} entries after inserting {k}", cache.len());
    }
}

pub fn zero_capacity_is_a_typed_error(t: &Target) {
    let b = CacheBuilder::<u64, u64>::new(TTI).no_sweeper().policy(t.policy).max_capacity(0);
    assert!(matches!(AnyCache::from_name(t.backend, b), Err(BuildError::ZeroCapacity)));
}

/// A weigher that panics on one value: the insert panics (the caller's own
/// panic, propagated), changes nothing, and reports nothing; the cache
/// goes on working and counting right.
pub fn panicking_weigher_changes_nothing(t: &Target) {
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&log);
    let cache = build(t, |b| {
        b.max_capacity(10)
            .weigher(|_, v: &u64| {
                assert!(*v != 13, "weigher fault");
                1
            })
            .removal_listener(move |k: &u64, v, c| sink.lock().unwrap().push((*k, v, c)))
    });
    for k in 0..5 {
        cache.insert(k, k);
    }
    let insert = |k, v| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.insert(k, v)));
    assert!(insert(99, 13).is_err());
    assert!(insert(1, 13).is_err());
    assert_eq!(cache.peek(&1), Some(1), "a failed overwrite keeps the old value");
    assert_eq!(cache.peek(&99), None);
    assert_eq!(cache.len(), 5);
    assert!(log.lock().unwrap().is_empty(), "nothing left, yet the listener heard: {:?}", log.lock().unwrap());
    for k in 5..20 {
        cache.insert(k, k + 100);
    }
    cache.purge_expired();
    assert!(cache.len() <= 10);
    assert_eq!(cache.len() + log.lock().unwrap().len(), 20);
}
