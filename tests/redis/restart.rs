//! A server of the test's own: restarted mid-test (errors while it is down,
//! then recovery, never a panic or a stale value), one that refuses client
//! tracking (the tiered cache falls back to pub/sub), and one whose memory
//! bound evicts and that another client flushes (both reach L1). They run
//! in the single-server run (`REDIS_URL`), not the cluster's.

use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, InvalidationMode, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

use crate::common::{copy_of, prefix, wait_for};
use crate::spawn::{free_port, Proc, TempDir};
use crate::staleness::Race;

const WAIT: Duration = Duration::from_secs(20);

/// A server of this test's own, when the run is the single-server one.
fn own_server(test: &str, extra: &[&str]) -> Option<(Proc, TempDir)> {
    if crate::common::server(test)?.is_cluster() {
        eprintln!("note: {test} runs in the single-server run (REDIS_URL): skipped");
        return None;
    }
    let dir = TempDir::new("server");
    Some((Proc::start(free_port(), dir.0.clone(), extra)?, dir))
}

fn options(url: &str) -> RedisOptions {
    RedisOptions::new(url).prefix(prefix("restart")).connect_timeout(Duration::from_millis(50))
}

fn tiered(opts: RedisOptions, l1_lifetime: Duration) -> TieredCache<u64, u64> {
    let l2 = opts.build(CacheBuilder::new().time_to_idle(Duration::from_secs(60))).unwrap();
    let cache = TieredCache::new(CacheBuilder::new().time_to_idle(l1_lifetime), l2).unwrap();
    wait_for("live invalidation", WAIT, || cache.is_live());
    cache
}

#[test]
fn redis_restart_errors_then_recovers() {
    let Some((mut server, _dir)) = own_server("redis_restart_errors_then_recovers", &[]) else { return };
    let opts = options(&server.url());
    let cache: RedisCache<u64, u64> =
        opts.clone().build(CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    let tiered = tiered(opts, Duration::from_millis(200));
    assert_eq!(tiered.invalidation_stats().mode, Some(InvalidationMode::Tracking));
    cache.insert(1, 10);
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(tiered.get(&1), Some(10));
    assert_eq!(cache.errors(), 0);

    server.kill();
    // Down: misses, no-ops and typed errors; nothing panics.
    assert_eq!(cache.get(&1), None);
    cache.insert(2, 20);
    assert_eq!(cache.remove(&1), None);
    assert_eq!(cache.get_or_insert_with(3, || 30), 30, "loads run locally");
    let err = cache.try_get(&1).unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(cache.errors() >= 4, "errors counted: {}", cache.errors());
    wait_for("the tiered cache to notice", WAIT, || !tiered.is_live());
    assert_eq!(tiered.get(&1), None, "L1 was dropped with the invalidation connection");
    eprintln!("while down: {} errors, last: {:?}", cache.errors(), cache.last_error());

    server.restart();
    let down_at = Instant::now();
    // The pool drops broken connections: operations recover on their own.
    wait_for("operations to recover", WAIT, || cache.try_insert(4, 40).is_ok());
    eprintln!("recovered {:?} after the restart", down_at.elapsed());
    assert_eq!(cache.get(&4), Some(40));
    assert_eq!(cache.get(&1), None, "the restarted server kept nothing (no persistence)");
    wait_for("invalidation to recover", WAIT, || tiered.is_live());
    assert!(tiered.invalidation_stats().established >= 2);
    assert_eq!(tiered.get(&4), Some(40));
    // Invalidation works again.
    cache.insert(4, 41);
    wait_for("the invalidation", WAIT, || tiered.get(&4) == Some(41));
}

#[test]
fn a_restart_mid_run_serves_nothing_stale() {
    let Some((mut server, _dir)) = own_server("a_restart_mid_run_serves_nothing_stale", &[]) else { return };
    let opts = options(&server.url());
    let writer = opts.clone().build(CacheBuilder::new().time_to_idle(Duration::from_secs(60))).unwrap();
    let reader = tiered(opts, Duration::from_secs(30));
    let race = Race::start(writer, reader.clone());
    race.wait_writes(50, WAIT);
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    race.wait_writes(50, WAIT);
    wait_for("invalidation to recover", WAIT, || reader.is_live());
    race.wait_writes(50, WAIT);
    let seen = race.finish();
    eprintln!("restart mid-run: {seen:?}; {:?}", reader.invalidation_stats());
    assert!(seen.failed_writes > 0 && seen.hits > 0, "the run crossed the restart: {seen:?}");
    assert!(reader.l2().errors() > 0, "the reader reported errors");
}

#[test]
fn a_server_without_tracking_gets_pub_sub() {
    // `CLIENT` renamed away: no tracking (and no CLIENT SETNAME).
    let Some((server, _dir)) =
        own_server("a_server_without_tracking_gets_pub_sub", &["--rename-command", "CLIENT", ""])
    else {
        return;
    };
    let p = prefix("fallback");
    let opts = RedisOptions::new(server.url()).prefix(&p);
    let (a, b) = (tiered(opts.clone(), Duration::from_secs(10)), tiered(opts, Duration::from_secs(10)));
    let stats = b.invalidation_stats();
    assert_eq!(stats.mode, Some(InvalidationMode::PubSub), "{stats:?}");
    assert!(stats.last_error.as_deref().is_some_and(|e| e.contains("tracking")), "{stats:?}");
    a.insert(1, 10);
    wait_for("b's copy", WAIT, || b.get(&1) == Some(10) && b.l1().peek(&1) == Some(10));
    a.insert(1, 11);
    wait_for("the published invalidation", WAIT, || b.l1().peek(&1).is_none());
    assert_eq!(b.get(&1), Some(11));
    assert_eq!(a.l2().errors() + b.l2().errors(), 0, "{:?}", b.l2().last_error());
}

#[test]
fn a_silent_server_is_noticed_by_ping_and_recovers() {
    let Some((server, _dir)) = own_server("a_silent_server_is_noticed_by_ping_and_recovers", &[]) else { return };
    let opts = options(&server.url()).io_timeout(Duration::from_millis(200));
    let cache = tiered(opts, Duration::from_secs(30));
    cache.insert(1, 10);
    wait_for("a copy", WAIT, || cache.get(&1) == Some(10) && cache.l1().peek(&1) == Some(10));
    // Every client stalls: the tracking connection stays open but says
    // nothing, so only an unanswered PING can tell.
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(2000).arg("ALL").query(&mut server.connection()).unwrap();
    wait_for("the unanswered PING", WAIT, || !cache.is_live());
    assert_eq!(cache.l1().peek(&1), None, "L1 dropped with it");
    let why = cache.invalidation_stats().last_error.unwrap_or_default();
    assert!(why.contains("PING"), "{why}");
    wait_for("recovery after the pause", WAIT, || cache.is_live());
    assert_eq!(cache.get(&1), Some(10));
}

#[test]
fn evictions_and_flushall_drop_l1_copies() {
    // A small memory bound evicting the least recently used keys: the
    // cache's own keys, read only from L1 after the first read, go first.
    let Some((server, _dir)) = own_server(
        "evictions_and_flushall_drop_l1_copies",
        &["--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru"],
    ) else {
        return;
    };
    let cache = tiered(options(&server.url()), Duration::from_secs(60));
    assert_eq!(cache.invalidation_stats().mode, Some(InvalidationMode::Tracking));
    let held: Vec<u64> = (0..10).collect();
    for &k in &held {
        cache.insert(k, k * 10);
        copy_of(&cache, k, k * 10);
    }
    let mut con = server.connection();
    let redis_keys: Vec<String> = held.iter().map(|k| cache.l2().redis_key(k)).collect();
    let gone = |con: &mut redis::Connection| -> Vec<u64> {
        held.iter()
            .zip(&redis_keys)
            .filter(|(_, rk)| !redis::cmd("EXISTS").arg(rk).query::<bool>(con).unwrap())
            .map(|(&k, _)| k)
            .collect()
    };
    // Another client fills memory until Redis has evicted some of them.
    let filler = vec![b'x'; 4096];
    let mut written = 0;
    while gone(&mut con).is_empty() {
        assert!(written < 100_000, "nothing evicted after {written} filler keys");
        let mut pipe = redis::pipe();
        for i in written..written + 500 {
            pipe.cmd("SET").arg(format!("filler:{i}")).arg(&filler[..]).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
        written += 500;
    }
    let evicted = gone(&mut con);
    for &k in &evicted {
        wait_for("an eviction to drop the copy", WAIT, || cache.l1().peek(&k).is_none());
        assert_eq!(cache.get(&k), None, "evicted from Redis, so a miss everywhere");
    }
    eprintln!("{} of {} keys evicted after {written} filler keys", evicted.len(), held.len());

    // FLUSHALL names no key: L1 empties whole.
    cache.insert(100, 1000);
    copy_of(&cache, 100, 1000);
    let flushes = cache.invalidation_stats().flushes;
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    wait_for("FLUSHALL to drop the copy", WAIT, || cache.l1().peek(&100).is_none());
    assert!(cache.invalidation_stats().flushes > flushes, "{:?}", cache.invalidation_stats());
    assert_eq!(cache.get(&100), None, "FLUSHALL emptied Redis too");
}
