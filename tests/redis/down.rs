//! With no Redis at all: every method degrades, none panics. Needs no server.

use std::time::Duration;

use ttlkit::{CacheBuilder, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

/// Nothing listens on port 1 of the loopback: connections are refused.
const NOWHERE: &str = "redis://127.0.0.1:1";

fn dead() -> RedisCache<u64, u64> {
    RedisOptions::new(NOWHERE)
        .prefix("ttlkit-test:down")
        .connect_timeout(Duration::from_millis(30))
        .build(CacheBuilder::new().time_to_idle(Duration::from_secs(60)))
        .unwrap()
}

#[test]
fn a_dead_redis_is_a_miss_not_a_panic() {
    let cache = dead();
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.peek(&1), None);
    assert!(!cache.contains_key(&1));
    cache.insert(1, 10);
    assert_eq!(cache.remove(&1), None);
    assert_eq!(cache.len(), 0);
    cache.clear();
    assert_eq!(cache.purge_expired(), 0);
    // Loads run here and are not cached.
    assert_eq!(cache.get_or_insert_with(1, || 11), 11);
    assert_eq!(cache.get_or_insert_with(1, || 12), 12);
    assert_eq!(cache.try_get_or_insert_with(1, || Err::<u64, &str>("no")).unwrap_err().get(), Some(&"no"));
    let s = cache.stats();
    assert_eq!((s.hits, s.inserts), (0, 0));
    assert!(s.misses >= 4);
    assert!(cache.errors() >= 9, "every failed call is counted: {}", cache.errors());
    assert!(cache.last_error().is_some());
    let err = cache.try_get(&1).unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(cache.try_insert(1, 1).unwrap_err().is_connection());
    assert!(cache.ping().is_err());
}

#[test]
fn a_tiered_cache_over_a_dead_redis_degrades_and_drops_cleanly() {
    let cache: TieredCache<u64, u64> =
        TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_millis(100)), dead()).unwrap();
    assert!(!cache.is_live());
    assert_eq!(cache.invalidation_stats().mode, None);
    cache.insert(1, 10);
    assert_eq!(cache.get(&1), None, "no L1 copy is kept while invalidations cannot arrive");
    assert_eq!(cache.get_or_insert_with(2, || 20), 20);
    assert_eq!(cache.remove(&2), None);
    let start = std::time::Instant::now();
    drop(cache);
    eprintln!("tiered cache with a dead redis dropped (invalidation threads joined) in {:?}", start.elapsed());
}
