//! The two-tier cache: L1 copies invalidated across caches (each with its
//! own Redis connections and subscriber, as two processes would have), and
//! the measured invalidation delay.

use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, SlidingTtlCache, TieredCache};

use crate::common::{options, prefix, wait_for};
use crate::need_redis;

/// A tiered cache with a long-lived L1 (10 s): copies leave it only by
/// invalidation during these tests.
fn long_l1(url: &str, p: &str) -> TieredCache<u64, u64> {
    let l2 = options(url, p).build(CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    let cache = TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(10)), l2).unwrap();
    wait_for("the subscription", Duration::from_secs(10), || cache.is_subscribed());
    cache
}

#[test]
fn writes_in_one_cache_invalidate_l1_copies_in_another() {
    let url = need_redis!("writes_in_one_cache_invalidate_l1_copies_in_another");
    let p = prefix("tiered-inv");
    let (a, b) = (long_l1(&url, &p), long_l1(&url, &p));
    a.insert(1, 10);
    assert_eq!(b.get(&1), Some(10), "read through to L2");
    // The copy stays once the invalidation of a's write has gone by (a fill
    // that raced with it dropped its copy, to be safe).
    wait_for("b's L1 copy", Duration::from_secs(10), || b.get(&1) == Some(10) && b.l1().peek(&1) == Some(10));
    a.insert(1, 11);
    wait_for("the overwrite to reach b", Duration::from_secs(10), || b.l1().peek(&1).is_none());
    assert_eq!(b.get(&1), Some(11));
    a.remove(&1);
    wait_for("the remove to reach b", Duration::from_secs(10), || b.l1().peek(&1).is_none());
    assert_eq!(b.get(&1), None);
    b.insert(2, 20);
    wait_for("a's L1 copy", Duration::from_secs(10), || a.get(&2) == Some(20) && a.l1().peek(&2) == Some(20));
    b.clear();
    wait_for("the clear to reach a", Duration::from_secs(10), || a.l1().peek(&2).is_none());
    assert_eq!(a.get(&2), None);
    assert!(a.invalidations_applied() >= 1 && b.invalidations_applied() >= 2);
    // A cache's own writes do not bounce back at it.
    a.insert(3, 30);
    thread::sleep(Duration::from_millis(20));
    assert_eq!(a.l1().peek(&3), Some(30));
}

#[test]
fn l1_invalidation_delay() {
    const ROUNDS: usize = 200;
    let url = need_redis!("l1_invalidation_delay");
    let p = prefix("tiered-delay");
    let (writer, reader) = (long_l1(&url, &p), long_l1(&url, &p));
    let mut delays = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS as u64 {
        let key = i % 8;
        writer.insert(key, i);
        // The reader holds a copy of the current value in L1.
        wait_for("the reader's L1 copy", Duration::from_secs(10), || {
            reader.get(&key) == Some(i) && reader.l1().peek(&key) == Some(i)
        });
        let start = Instant::now();
        if i % 2 == 0 {
            writer.insert(key, i + 1_000_000);
        } else {
            writer.remove(&key);
        }
        while reader.l1().peek(&key).is_some() {
            assert!(start.elapsed() < Duration::from_secs(10), "invalidation {i} never arrived");
            thread::yield_now();
        }
        delays.push(start.elapsed());
    }
    delays.sort();
    let pct = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "L1 invalidation delay (write issued in one cache -> copy gone from another's L1), {ROUNDS} rounds \
         on loopback: p50 {:?} p90 {:?} p99 {:?} max {:?}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        delays[delays.len() - 1]
    );
    // Bounded: every invalidation arrived (the loop above would have
    // failed after 10 s); nothing here depends on how fast.
    assert_eq!(delays.len(), ROUNDS);
}

#[test]
fn dropping_the_last_handle_joins_the_subscriber_promptly() {
    let url = need_redis!("dropping_the_last_handle_joins_the_subscriber_promptly");
    for _ in 0..20 {
        let cache = long_l1(&url, &prefix("tiered-drop"));
        let clone = cache.clone();
        drop(cache);
        assert!(clone.is_subscribed(), "a clone keeps it running");
        drop(clone);
    }
}

#[test]
fn an_l1_with_no_expiry_is_a_typed_error() {
    let url = need_redis!("an_l1_with_no_expiry_is_a_typed_error");
    let l2 = options(&url, &prefix("tiered-forever"))
        .build(CacheBuilder::new().time_to_idle(Duration::from_secs(30)))
        .unwrap();
    let err = TieredCache::<u64, u64>::new(CacheBuilder::new(), l2).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("time_to_live or time_to_idle"), "nothing would bound a stale L1 copy: {err}");
}
