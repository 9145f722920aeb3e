//! The conformance rules that hold under Redis, in real time, and the
//! Redis-specific ones. (The suite's cases that need no mock clock run on
//! Redis as they are: `suite.rs`.)
//!
//! Rules of `tests/conformance/cases.rs` that cannot hold here, and why:
//! * `len_counts_unpurged_expired_entries`, `purge_returns_count_and_reports_expired`,
//!   `sweeper_purges_without_traffic` (the listener part),
//!   `overwrite_of_expired_entry_reports_expired`: Redis expires keys
//!   itself, on its own clock, and this process is not told (no keyspace
//!   notifications). `len()` counts what Redis still holds (`SCAN` skips
//!   keys past their TTL), `purge_expired()` returns 0, and an overwrite of
//!   an idled-out key finds nothing to report. What still holds is tested
//!   below: an expired entry is never returned, and Redis reclaims it with
//!   no call on the cache (`len()` drops to 0 by itself).
//! * `capacity_bound_after_maintenance`, `capacity_evicts_expired_first`,
//!   `weigher_bounds_total_weight`, and the capacity parts of
//!   `listener_causes_exactly_once` and `stats_consistent_with_operations`:
//!   capacity is Redis's `maxmemory` policy; the builder refuses
//!   `max_capacity` and `weigher` (tested).
//! * `concurrent_waiters_share_the_error` holds within a process; a waiting
//!   *process* does not receive another process's error (errors are not
//!   serializable) and runs `init` itself once the lock is free.
//! * Everything that needs `MockClock` to jump time: the same rules are
//!   checked here with real 200 ms timeouts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, RedisBuildError, RedisCache, RemovalCause, SlidingTtlCache};

use crate::common::{
    conclusive, prefix, redis_cache, require, sleep_until, tiered, timed, timed_cache, Server, Timed, LONG_TTI, SLACK,
    TTI,
};
use crate::need_redis;
use crate::removal_log::RemovalLog;

type Log = RemovalLog<u64, u64>;

/// A Redis cache with a recording listener.
fn logged(
    server: &Server,
    f: impl FnOnce(CacheBuilder<u64, u64>) -> CacheBuilder<u64, u64>,
) -> (RedisCache<u64, u64>, Log) {
    logged_tti(server, LONG_TTI, f)
}

/// [`logged`] with its own idle timeout.
fn logged_tti(
    server: &Server,
    tti: Duration,
    f: impl FnOnce(CacheBuilder<u64, u64>) -> CacheBuilder<u64, u64>,
) -> (RedisCache<u64, u64>, Log) {
    let log = Log::new();
    let b = log.attach(CacheBuilder::new().time_to_idle(tti));
    let cache = crate::common::options(server, &prefix("rt")).build(f(b)).unwrap();
    (cache, log)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// insert, get at ~0.6 T (a hit), get at ~1.1 T after the insert (alive
/// only because the first get slid the window), then a miss once T has
/// passed since the last get.
fn sliding(cache: &RedisCache<u64, u64>) -> Timed {
    let (a0, (), a1) = timed(|| cache.insert(1, 10));
    sleep_until(a0 + TTI * 6 / 10);
    let (b0, hit, b1) = timed(|| cache.get(&1));
    require(b1 < a0 + TTI, "first get came after the first deadline")?;
    assert_eq!(hit, Some(10), "within the first window");
    // Past the first window (it ended by a1 + TTI), inside the slid one.
    sleep_until(a1 + TTI * 11 / 10);
    let (_, hit, c1) = timed(|| cache.get(&1));
    require(c1 < b0 + TTI, "second get came after the slid deadline")?;
    assert_eq!(hit, Some(10), "alive only because the first get slid the window");
    sleep_until(c1 + TTI + SLACK);
    assert_eq!(cache.get(&1), None, "idle for a full timeout since the last get");
    Ok(())
}

#[test]
fn sliding_refresh_on_get() {
    let server = need_redis!("sliding_refresh_on_get");
    conclusive("sliding (GETEX)", || sliding(&timed_cache(&server, &prefix("slide"), |b| b)));
    // With a lifetime the read is a Lua script: the same rule holds.
    conclusive("sliding (script)", || sliding(&timed_cache(&server, &prefix("slide"), |b| b.time_to_live(TTI * 10))));
}

fn no_refresh(cache: &RedisCache<u64, u64>, look: &dyn Fn() -> bool) -> Timed {
    let (a0, (), a1) = timed(|| cache.insert(1, 10));
    sleep_until(a0 + TTI / 2);
    let (_, seen, b1) = timed(look);
    require(b1 < a0 + TTI, "look came after the deadline")?;
    assert!(seen, "inside the first window");
    sleep_until(a1 + TTI + SLACK);
    assert!(!look(), "the look did not slide the window");
    assert_eq!(cache.get(&1), None);
    Ok(())
}

#[test]
fn peek_and_contains_key_do_not_refresh() {
    let server = need_redis!("peek_and_contains_key_do_not_refresh");
    for lifetime in [None, Some(TTI * 10)] {
        let cache = timed_cache(&server, &prefix("peek"), |b| match lifetime {
            Some(l) => b.time_to_live(l),
            None => b,
        });
        conclusive("peek", || no_refresh(&cache, &|| cache.peek(&1) == Some(10)));
        conclusive("contains_key", || no_refresh(&cache, &|| cache.contains_key(&1)));
    }
}

#[test]
fn overwrite_refreshes_idle_and_lifetime() {
    let server = need_redis!("overwrite_refreshes_idle_and_lifetime");
    // Lifetime 300 ms, idle 200 ms; reads every 50 ms keep it from idling.
    let life = ms(300);
    let cache = timed_cache(&server, &prefix("overwrite"), |b| b.time_to_live(life));
    conclusive("overwrite", || {
        let (a0, (), _) = timed(|| cache.insert(1, 10));
        sleep_until(a0 + ms(150));
        let (b0, (), b1) = timed(|| cache.insert(1, 11));
        require(b1 < a0 + ms(190), "overwrite came late")?;
        // Keep it hot past the first lifetime's end (a0 + 300 ms).
        let mut last = b0;
        while Instant::now() < a0 + life + ms(50) {
            thread::sleep(ms(40));
            let (t0, v, t1) = timed(|| cache.get(&1));
            require(t1 < b0 + life && t1 < last + TTI, "a read came after a deadline")?;
            assert_eq!(v, Some(11), "the overwrite started a new lifetime");
            last = t0;
        }
        // The new lifetime ends by b1 + 300 ms, however hot.
        while Instant::now() < b1 + life + SLACK {
            thread::sleep(ms(40));
            let (t0, _, t1) = timed(|| cache.get(&1));
            require(t1 < last + TTI, "reads too far apart")?;
            last = t0;
        }
        assert_eq!(cache.get(&1), None, "the lifetime from the overwrite is over");
        assert_eq!(cache.peek(&1), None);
        Ok(())
    });
}

#[test]
fn lifetime_not_extended_by_reads() {
    let server = need_redis!("lifetime_not_extended_by_reads");
    let life = ms(350);
    let cache = timed_cache(&server, &prefix("lifetime"), |b| b.time_to_live(life));
    conclusive("lifetime", || {
        let (a0, (), a1) = timed(|| cache.insert(1, 10));
        let mut last = a0;
        let mut reads = 0;
        loop {
            thread::sleep(ms(40));
            let (t0, v, t1) = timed(|| cache.get(&1));
            if t1 >= a0 + life {
                break;
            }
            require(t1 < last + TTI, "reads too far apart to keep it from idling")?;
            assert_eq!(v, Some(10), "read {reads}: hot and within its lifetime");
            last = t0;
            reads += 1;
        }
        sleep_until(a1 + life + SLACK);
        require(Instant::now() < last + TTI, "the idle deadline passed too (a slow machine)")?;
        assert_eq!(cache.get(&1), None, "max lifetime, however hot");
        assert!(!cache.contains_key(&1));
        assert!(reads >= 3, "it was read while hot");
        Ok(())
    });
}

#[test]
fn expired_entry_never_returned_and_reclaimed_by_redis() {
    let server = need_redis!("expired_entry_never_returned_and_reclaimed_by_redis");
    conclusive("expired entries", || {
        let (cache, log) = logged_tti(&server, TTI, |b| b);
        let (t0, (), t1) = timed(|| {
            for k in 0..10 {
                cache.insert(k, k);
            }
        });
        let (_, held, l1) = timed(|| cache.len());
        require(l1 < t0 + TTI, "the inserts took longer than the idle timeout")?;
        assert_eq!(held, 10);
        sleep_until(t1 + TTI + SLACK);
        for k in 0..10 {
            assert_eq!(cache.peek(&k), None);
            assert!(!cache.contains_key(&k));
            assert_eq!(cache.get(&k), None);
        }
        let loaded: u64 = (0..10).map(|k| cache.get_or_insert_with(k, || k + 100)).sum();
        assert_eq!(loaded, (100..110).sum::<u64>(), "loads see a miss, not the stale value");
        // Redis reclaims idle keys with no call on the cache (len drops to 0).
        sleep_until(Instant::now() + TTI + SLACK);
        assert_eq!(cache.len(), 0, "Redis dropped them itself");
        assert_eq!(cache.purge_expired(), 0, "nothing left for purge to do");
        assert!(log.is_empty(), "Redis-side expiry is not reported");
        Ok(())
    });
}

#[test]
fn remove_returns_only_live_values() {
    let server = need_redis!("remove_returns_only_live_values");
    conclusive("remove", || {
        let (cache, log) = logged_tti(&server, TTI, |b| b);
        let (t0, (), _) = timed(|| cache.insert(1, 10));
        let (_, (), t1) = timed(|| cache.insert(2, 20));
        let (_, first, r1) = timed(|| cache.remove(&1));
        require(r1 < t0 + TTI, "the remove came after the idle timeout")?;
        assert_eq!(first, Some(10));
        assert_eq!(cache.remove(&1), None);
        sleep_until(t1 + TTI + SLACK);
        assert_eq!(cache.remove(&2), None, "an expired entry is not handed back");
        assert_eq!(log.entries(), vec![(1, 10, RemovalCause::Explicit)]);
        Ok(())
    });
}

#[test]
fn listener_causes_exactly_once() {
    let server = need_redis!("listener_causes_exactly_once");
    let (cache, log) = logged(&server, |b| b);
    cache.insert(1, 10);
    cache.insert(1, 11); // Replaced (10)
    cache.remove(&1); // Explicit (11)
    cache.remove(&1); // nothing
    for k in 3..6 {
        cache.insert(k, k * 10);
    }
    cache.clear(); // Cleared x3
    cache.clear(); // nothing
    let removals = log.entries();
    assert_eq!(&removals[..2], &[(1, 10, RemovalCause::Replaced), (1, 11, RemovalCause::Explicit)]);
    let mut cleared: Vec<_> = removals[2..].to_vec();
    cleared.sort();
    assert_eq!(cleared, (3..6).map(|k| (k, k * 10, RemovalCause::Cleared)).collect::<Vec<_>>());
    let stats = cache.stats();
    let by_cause: BTreeMap<_, _> = RemovalCause::ALL.iter().map(|c| (*c, stats.removals(*c))).collect();
    assert_eq!(by_cause[&RemovalCause::Replaced], 1);
    assert_eq!(by_cause[&RemovalCause::Explicit], 1);
    assert_eq!(by_cause[&RemovalCause::Cleared], 3);
    assert_eq!(stats.total_removals(), 5);
}

#[test]
fn expired_on_read_is_reported() {
    // A reader whose max lifetime is shorter than the writer's finds the
    // entry past its lifetime: the read is a miss, deletes it, reports it.
    let server = need_redis!("expired_on_read_is_reported");
    let p = prefix("expired-on-read");
    let writer: RedisCache<u64, u64> = redis_cache(&server, &p, |b| b);
    let log = Log::new();
    let reader: RedisCache<u64, u64> = redis_cache(&server, &p, |b| log.attach(b.time_to_live(ms(20))));
    conclusive("expired on read", || {
        log.clear();
        let (_, (), t1) = timed(|| writer.insert(1, 10));
        sleep_until(t1 + ms(20) + SLACK);
        let (_, v, t2) = timed(|| reader.get(&1));
        require(t2 < t1 + TTI, "the idle timeout passed as well")?;
        assert_eq!(v, None, "past the reader's lifetime");
        assert_eq!(writer.peek(&1), None, "the refreshing read deleted it");
        assert_eq!(log.entries(), vec![(1, 10, RemovalCause::Expired)]);
        Ok(())
    });
}

#[test]
fn listener_may_use_the_cache() {
    let server = need_redis!("listener_may_use_the_cache");
    let slot: Arc<OnceLock<RedisCache<u64, u64>>> = Arc::default();
    let inside = Arc::clone(&slot);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    // A pool of one connection: a listener called while holding it would
    // time out instead of reaching Redis.
    let cache: RedisCache<u64, u64> = crate::common::options(&server, &prefix("listener-uses"))
        .pool_size(1)
        .build(CacheBuilder::new().time_to_idle(TTI).removal_listener(move |k, v, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            if let Some(c) = inside.get() {
                let _ = c.get(k);
                if *k < 1000 {
                    c.insert(k + 1000, v);
                }
            }
        }))
        .unwrap();
    let _ = slot.set(cache.clone());
    cache.insert(1, 1);
    cache.remove(&1);
    assert_eq!(cache.get(&1001), Some(1), "the listener wrote through the cache");
    cache.clear();
    assert!(calls.load(Ordering::SeqCst) >= 2);
    assert_eq!(cache.errors(), 0, "{:?}", cache.last_error());
}

#[test]
fn listener_panic_is_contained() {
    let server = need_redis!("listener_panic_is_contained");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let cache: RedisCache<u64, u64> = redis_cache(&server, &prefix("listener-panic"), |b| {
        b.removal_listener(move |_, _, _| {
            seen.fetch_add(1, Ordering::SeqCst);
            panic!("listener bug");
        })
    });
    for k in 0..3 {
        cache.insert(k, k);
    }
    assert_eq!(cache.remove(&0), Some(0));
    cache.insert(1, 11);
    cache.clear();
    cache.insert(7, 7);
    assert_eq!(cache.get(&7), Some(7), "the cache still works");
    assert_eq!(calls.load(Ordering::SeqCst), 4, "explicit, replaced, two cleared");
    assert_eq!(cache.stats().listener_panics, 4);
}

#[test]
fn clear_reports_cleared_and_len_counts() {
    let server = need_redis!("clear_reports_cleared_and_len_counts");
    let (cache, log) = logged_tti(&server, Duration::from_secs(30), |b| b.time_to_live(Duration::from_secs(60)));
    // More than one SCAN/delete batch.
    for k in 0..1200 {
        cache.insert(k, k);
    }
    assert_eq!(cache.len(), 1200);
    assert_eq!(cache.try_clear().unwrap(), 1200);
    assert_eq!(cache.len(), 0);
    assert!(cache.is_empty());
    let log = log.entries();
    assert_eq!(log.len(), 1200);
    assert!(log.iter().all(|(_, _, c)| *c == RemovalCause::Cleared));
    assert_eq!(cache.get(&3), None);
}

#[test]
fn caches_sharing_a_prefix_share_entries() {
    let server = need_redis!("caches_sharing_a_prefix_share_entries");
    let p = prefix("share");
    let a: RedisCache<u64, u64> = redis_cache(&server, &p, |b| b);
    let b: RedisCache<u64, u64> = redis_cache(&server, &p, |b| b);
    let other: RedisCache<u64, u64> = redis_cache(&server, &prefix("share-other"), |b| b);
    let clone = a.clone();
    clone.insert(1, 10);
    assert_eq!(a.get(&1), Some(10), "clones share one cache");
    assert_eq!(b.get(&1), Some(10), "so do caches with the same prefix");
    assert_eq!(other.get(&1), None, "prefixes are namespaces");
    let from_thread = thread::spawn(move || clone.get(&1)).join().unwrap();
    assert_eq!(from_thread, Some(10));
}

#[test]
fn stats_consistent_with_operations() {
    let server = need_redis!("stats_consistent_with_operations");
    let (cache, log) = logged(&server, |b| b);
    cache.insert(1, 1); // insert 1
    cache.get(&1); // hit 1
    cache.get(&2); // miss 1
    cache.peek(&1); // not counted
    cache.contains_key(&2); // not counted
    cache.get_or_insert_with(2, || 2); // miss 2, insert 2
    cache.get_or_insert_with(2, || 0); // hit 2
    cache.insert(2, 3); // insert 3, Replaced 1
    cache.remove(&2); // Explicit 1
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (2, 2, 3));
    assert!((s.hit_ratio() - 0.5).abs() < 1e-9);
    assert_eq!(s.removals(RemovalCause::Replaced), 1);
    assert_eq!(s.removals(RemovalCause::Explicit), 1);
    assert_eq!(s.total_removals(), log.len() as u64);
    assert_eq!(cache.errors(), 0);
}

#[test]
fn values_of_any_serde_type() {
    let server = need_redis!("values_of_any_serde_type");
    let cache: RedisCache<(u32, String), Vec<Option<String>>> = redis_cache(&server, &prefix("serde"), |b| b);
    let key = (7, "tenant".to_string());
    let value = vec![Some("a".to_string()), None, Some(String::new())];
    cache.insert(key.clone(), value.clone());
    assert_eq!(cache.get(&key), Some(value));
    // Another type under the same prefix fails to decode (the codec is not
    // self-describing, but a record must decode exactly, with no bytes left
    // over): an error and a miss, never a panic.
    let wrong: RedisCache<(u32, String), u64> = redis_cache(&server, cache.prefix(), |b| b);
    assert_eq!(wrong.get(&key), None);
    assert!(wrong.try_get(&key).is_err());
    assert_eq!(wrong.errors(), 1);
}

#[test]
fn builder_refuses_capacity() {
    // No server needed: the build fails before connecting.
    let b = CacheBuilder::<u64, u64>::new().time_to_idle(TTI).max_capacity(10);
    let err = ttlkit::RedisOptions::new("redis://127.0.0.1:1").build(b).unwrap_err();
    assert!(matches!(err, RedisBuildError::Unsupported { what: "max_capacity", .. }), "{err}");
    assert!(err.to_string().contains("maxmemory"), "{err}");
    let w = CacheBuilder::<u64, u64>::new().time_to_idle(TTI).max_capacity(10).weigher(|_, _| 1);
    let err = ttlkit::RedisOptions::new("redis://127.0.0.1:1").build(w).unwrap_err();
    assert!(matches!(err, RedisBuildError::Unsupported { what: "weigher", .. }), "{err}");
    let bad =
        ttlkit::RedisOptions::new("not a server").build(CacheBuilder::<u64, u64>::new().time_to_idle(TTI)).unwrap_err();
    assert!(matches!(bad, RedisBuildError::Url(_)), "{bad}");
    let empty = ttlkit::RedisOptions::new("redis://127.0.0.1:1")
        .prefix("")
        .build(CacheBuilder::<u64, u64>::new().time_to_idle(TTI));
    assert!(matches!(empty, Err(RedisBuildError::Option(_))));
    let zero = ttlkit::RedisOptions::new("redis://127.0.0.1:1")
        .build(CacheBuilder::<u64, u64>::new().time_to_idle(Duration::ZERO));
    assert!(matches!(zero, Err(RedisBuildError::Config(_))));
}

/// Redis evicts, keeps time and refreshes on its own: a policy, a clock
/// other than the system clock and a refresh granularity are refused, not
/// ignored. The system clock, set explicitly, is the default and is taken.
#[test]
fn builder_refuses_what_redis_does_itself() {
    // No server needed: the build fails (or succeeds, lazily) before connecting.
    let build = |b: CacheBuilder<u64, u64>| ttlkit::RedisOptions::new("redis://127.0.0.1:1").build(b);
    let refused = [
        ("policy", build(CacheBuilder::new().time_to_idle(TTI).policy_kind(ttlkit::PolicyKind::Lru)).err()),
        ("policy", build(CacheBuilder::new().time_to_idle(TTI).policy("s3-fifo")).err()),
        ("clock", build(CacheBuilder::new().time_to_idle(TTI).clock(ttlkit::clock::MockClock::new())).err()),
        ("refresh_granularity", build(CacheBuilder::new().time_to_idle(TTI).refresh_granularity(Duration::ZERO)).err()),
        ("expire_after", build(CacheBuilder::new().time_to_idle(TTI).expire_after(NoOwnDeadline)).err()),
    ];
    for (setting, err) in refused {
        let Some(err) = err else { panic!("{setting}: built") };
        assert!(matches!(err, RedisBuildError::Unsupported { what, .. } if what == setting), "{setting}: {err}");
        assert!(err.to_string().contains(setting), "{err}");
    }
    // An unknown policy name is the builder's own typed error first.
    let unknown = build(CacheBuilder::new().time_to_idle(TTI).policy("nope")).err();
    assert!(matches!(unknown, Some(RedisBuildError::Config(ttlkit::BuildError::UnknownPolicy(_)))), "{unknown:?}");
    assert!(build(CacheBuilder::new().time_to_idle(TTI).clock(ttlkit::clock::SystemClock::new())).is_ok());
    // What a built Redis cache cannot do is refused at once, before any I/O.
    let cache = build(CacheBuilder::new().time_to_idle(TTI)).unwrap();
    let ttl = cache.insert_with_ttl(1, 1, Duration::from_secs(1));
    assert_eq!(ttl, Err(ttlkit::Unsupported { backend: "redis", operation: "insert_with_ttl" }));
    for refused in [cache.set_max_capacity(5), cache.set_time_to_idle(TTI), cache.set_time_to_live(TTI)] {
        assert!(matches!(refused, Err(ttlkit::BuildError::UnsupportedSetting { core: "redis", .. })), "{refused:?}");
    }
}

/// An `Expiry` that sets nothing (Redis refuses any).
struct NoOwnDeadline;

impl ttlkit::Expiry<u64, u64> for NoOwnDeadline {}

#[test]
fn tiered_meets_the_same_load_and_listener_rules() {
    let server = need_redis!("tiered_meets_the_same_load_and_listener_rules");
    let cache = tiered(&server, &prefix("tiered-rules"), |b| b);
    cache.insert(1, 10);
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(cache.get_or_insert_with(1, || unreachable!("hit must not load")), 10);
    assert_eq!(cache.get_or_insert_with(2, || 20), 20);
    assert_eq!(cache.l2().peek(&2), Some(20), "a load is stored in L2");
    let err = cache.try_get_or_insert_with(3, || Err::<u64, &str>("down")).unwrap_err();
    assert_eq!(err.get(), Some(&"down"));
    assert!(!cache.contains_key(&3));
    assert_eq!(cache.remove(&1), Some(10));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.len(), 1);
    cache.clear();
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.get(&2), None, "clear reached L1 too");
    let s = cache.stats();
    assert_eq!(s.load_failures, 1);
    assert_eq!(s.removals(RemovalCause::Explicit), 1);
    assert_eq!(s.removals(RemovalCause::Cleared), 1);
    assert_eq!(cache.backend_name(), "tiered");
}
