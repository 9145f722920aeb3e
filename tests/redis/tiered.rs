//! The two-tier cache: L1 copies invalidated across caches (each with its
//! own Redis connections and invalidation threads, as two processes would
//! have), by client tracking and by pub/sub; what only tracking sees
//! (foreign writes, Redis's own expiry, `FLUSHDB`); and invalidation lost
//! and re-established (`CLIENT KILL` of the tracking connection).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, InvalidationMode, RedisCache, SlidingTtlCache, TieredCache};

use crate::common::{copy_of, masters, options, prefix, settled, wait_for, Server, WAIT};
use crate::need_redis;

/// A tiered cache with a long-lived L1 (10 s): copies leave it only by
/// invalidation during these tests.
pub fn long_l1(server: &Server, p: &str, tracking: bool) -> TieredCache<u64, u64> {
    let l2 = options(server, p)
        .client_tracking(tracking)
        .build(CacheBuilder::new().time_to_idle(Duration::from_secs(30)))
        .unwrap();
    let cache = TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(10)), l2).unwrap();
    wait_for("live invalidation", WAIT, || cache.is_live());
    let want = if tracking { InvalidationMode::Tracking } else { InvalidationMode::PubSub };
    assert_eq!(cache.invalidation_stats().mode, Some(want), "{:?}", cache.invalidation_stats());
    cache
}

fn invalidates_across_caches(tracking: bool) {
    let server = need_redis!("invalidates_across_caches");
    let p = prefix("tiered-inv");
    let (a, b) = (long_l1(&server, &p, tracking), long_l1(&server, &p, tracking));
    a.insert(1, 10);
    copy_of(&b, 1, 10);
    a.insert(1, 11);
    wait_for("the overwrite to reach b", WAIT, || b.l1().peek(&1).is_none());
    assert_eq!(b.get(&1), Some(11));
    a.remove(&1);
    wait_for("the remove to reach b", WAIT, || b.l1().peek(&1).is_none());
    assert_eq!(b.get(&1), None);
    b.insert(2, 20);
    copy_of(&a, 2, 20);
    b.clear();
    wait_for("the clear to reach a", WAIT, || a.l1().peek(&2).is_none());
    assert_eq!(a.get(&2), None);
    assert!(a.invalidation_stats().applied >= 1 && b.invalidation_stats().applied >= 2);
    // A cache's own reads do not invalidate its copies (an L2 read slides
    // the shared deadline only when it has moved by more than the slack).
    a.insert(3, 30);
    copy_of(&a, 3, 30);
    settled(&a);
    assert_eq!(a.l1().peek(&3), Some(30));
    assert_eq!(a.l2().errors() + b.l2().errors(), 0, "{:?}", a.l2().last_error());
}

#[test]
fn writes_in_one_cache_invalidate_l1_copies_in_another_by_tracking() {
    invalidates_across_caches(true);
}

#[test]
fn writes_in_one_cache_invalidate_l1_copies_in_another_by_pub_sub() {
    invalidates_across_caches(false);
}

fn reads_what_was_written_after_a_sync(tracking: bool) {
    let server = need_redis!("reads_what_was_written_after_a_sync");
    if !tracking && server.is_cluster() {
        eprintln!("note: pub/sub crosses a cluster's bus, which a sync does not wait for: skipped");
        return;
    }
    let p = prefix("tiered-sync");
    let (a, b) = (long_l1(&server, &p, tracking), long_l1(&server, &p, tracking));
    a.insert(1, 0);
    copy_of(&b, 1, 0);
    // Without the sync, b may still hold the copy of the value before: the
    // invalidation and the write's reply race to b's threads.
    for v in 1..=10 {
        a.insert(1, v);
        assert!(b.sync_invalidation(WAIT));
        assert_eq!(b.get(&1), Some(v));
    }
}

#[test]
fn after_a_sync_another_cache_reads_what_was_written_by_tracking() {
    reads_what_was_written_after_a_sync(true);
}

#[test]
fn after_a_sync_another_cache_reads_what_was_written_by_pub_sub() {
    reads_what_was_written_after_a_sync(false);
}

#[test]
fn a_sync_from_an_l1_listener_on_the_invalidation_thread_returns_at_once() {
    let server = need_redis!("a_sync_from_an_l1_listener_on_the_invalidation_thread_returns_at_once");
    let p = prefix("tiered-sync-listener");
    let slot: Arc<Mutex<Option<TieredCache<u64, u64>>>> = Arc::default();
    let seen: Arc<Mutex<Vec<(bool, Duration)>>> = Arc::default();
    let l1 = {
        let (slot, seen) = (Arc::clone(&slot), Arc::clone(&seen));
        CacheBuilder::new().time_to_idle(Duration::from_secs(10)).removal_listener(move |_: &u64, _: u64, _| {
            let cache = slot.lock().unwrap().clone();
            if let Some(cache) = cache {
                let start = Instant::now();
                let synced = cache.sync_invalidation(WAIT);
                seen.lock().unwrap().push((synced, start.elapsed()));
            }
        })
    };
    let l2 = options(&server, &p).build(CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    let cache: TieredCache<u64, u64> = TieredCache::new(l1, l2).unwrap();
    wait_for("live invalidation", WAIT, || cache.is_live());
    *slot.lock().unwrap() = Some(cache.clone());
    let writer = long_l1(&server, &p, true);
    writer.insert(1, 10);
    copy_of(&cache, 1, 10);
    let before = seen.lock().unwrap().len();
    writer.insert(1, 11);
    wait_for("the invalidation to reach the listener", WAIT, || seen.lock().unwrap().len() > before);
    let (synced, took) = seen.lock().unwrap()[before];
    assert!(!synced && took < Duration::from_secs(1), "the feed thread waited for itself: {took:?}");
    settled(&cache); // a sync from another thread still works
    assert_eq!(cache.get(&1), Some(11));
    // The listener holds a handle of the cache it is part of: let it go.
    slot.lock().unwrap().take();
}

#[test]
fn writes_by_any_client_drop_l1_copies() {
    let server = need_redis!("writes_by_any_client_drop_l1_copies");
    let p = prefix("tiered-foreign");
    let cache = long_l1(&server, &p, true);
    let mut raw = server.raw();
    let name = cache.l2().redis_key(&1u64);
    // A record as ttlkit writes it, to put back by hand later.
    cache.insert(1, 10);
    let record: Vec<u8> = redis::cmd("GET").arg(&name).query(&mut *raw).unwrap();
    cache.insert(1, 11);
    copy_of(&cache, 1, 11);
    let _: () = redis::cmd("SET").arg(&name).arg(&record).query(&mut *raw).unwrap();
    wait_for("a foreign SET to drop the copy", WAIT, || cache.l1().peek(&1).is_none());
    assert_eq!(cache.get(&1), Some(10), "the foreign write's value");
    copy_of(&cache, 1, 10);
    let _: () = redis::cmd("PEXPIRE").arg(&name).arg(60_000).query(&mut *raw).unwrap();
    wait_for("a foreign PEXPIRE to drop the copy", WAIT, || cache.l1().peek(&1).is_none());
    copy_of(&cache, 1, 10);
    let _: () = redis::cmd("DEL").arg(&name).query(&mut *raw).unwrap();
    wait_for("a foreign DEL to drop the copy", WAIT, || cache.l1().peek(&1).is_none());
    assert_eq!(cache.get(&1), None);
    // The prefix's other keys (a load lock) are not entries.
    cache.insert(2, 20);
    copy_of(&cache, 2, 20);
    let lock = name.replace("}:d", "}:l");
    let _: () = redis::cmd("SET").arg(&lock).arg("x").arg("PX").arg(1000).query(&mut *raw).unwrap();
    settled(&cache);
    assert_eq!(cache.l1().peek(&2), Some(20), "a lock key names no entry");
}

#[test]
fn redis_expiry_drops_l1_copies() {
    let server = need_redis!("redis_expiry_drops_l1_copies");
    let l2 = options(&server, &prefix("tiered-expiry"))
        .build(CacheBuilder::new().time_to_idle(Duration::from_secs(1)))
        .unwrap();
    let cache: TieredCache<u64, u64> =
        TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(30)), l2).unwrap();
    wait_for("live invalidation", WAIT, || cache.is_live());
    cache.insert(1, 10);
    copy_of(&cache, 1, 10);
    // Reads served by L1 do not reach Redis, which expires the key after
    // 1 s idle and says so; the copy goes long before its own 30 s.
    wait_for("Redis's expiry to drop the copy", WAIT, || cache.l1().peek(&1).is_none());
    assert_eq!(cache.get(&1), None);
}

#[test]
fn flushdb_drops_every_l1_copy() {
    let server = need_redis!("flushdb_drops_every_l1_copy");
    let Server::Single(url) = &server else {
        eprintln!("note: flushdb_drops_every_l1_copy needs a database other than 0, which a cluster lacks: skipped");
        return;
    };
    let cache = long_l1(&server, &prefix("tiered-flush"), true);
    cache.insert(1, 10);
    copy_of(&cache, 1, 10);
    let flushes = cache.invalidation_stats().flushes;
    // Database 9 holds nothing of the other tests; Redis tells every
    // tracking client of any FLUSHDB all the same.
    let mut con = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SELECT").arg(9).query(&mut con).unwrap();
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    wait_for("FLUSHDB to drop the copy", WAIT, || cache.l1().peek(&1).is_none());
    assert!(cache.invalidation_stats().flushes > flushes);
    assert_eq!(cache.get(&1), Some(10), "db 0 kept the entry");
}

/// Kills the invalidation connections of the cache whose prefix is `p`
/// (they are named after it); returns how many.
pub fn kill_invalidation_connections(server: &Server, p: &str) -> usize {
    let name = format!("name=ttlkit-inv:{p}");
    let mut killed = 0;
    for url in masters(server) {
        let mut con = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        for line in list.lines().filter(|l| l.split(' ').any(|f| f == name)) {
            let id = line.split(' ').find_map(|f| f.strip_prefix("id=")).unwrap();
            let n: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut con).unwrap();
            killed += n as usize;
        }
    }
    killed
}

#[test]
fn a_killed_tracking_connection_flushes_l1_and_recovers() {
    let server = need_redis!("a_killed_tracking_connection_flushes_l1_and_recovers");
    let p = prefix("tiered-kill");
    let cache = long_l1(&server, &p, true);
    let writer: RedisCache<u64, u64> =
        options(&server, &p).build(CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    writer.insert(1, 10);
    copy_of(&cache, 1, 10);
    let before = cache.invalidation_stats();
    // (On a cluster, the first kill ends the session, which closes the rest.)
    assert!(kill_invalidation_connections(&server, &p) >= 1);
    // A write while tracking is down: nobody would report it.
    writer.insert(1, 11);
    wait_for("tracking to start over", WAIT, || cache.invalidation_stats().established > before.established);
    wait_for("live again", WAIT, || cache.is_live());
    let after = cache.invalidation_stats();
    assert!(after.flushes > before.flushes, "L1 was flushed: {after:?}");
    assert!(after.last_error.is_some());
    assert_eq!(cache.get(&1), Some(11), "the write made while tracking was down");
    // And tracking works again.
    copy_of(&cache, 1, 11);
    writer.insert(1, 12);
    wait_for("the invalidation", WAIT, || cache.l1().peek(&1).is_none());
    assert_eq!(cache.get(&1), Some(12));
}

#[test]
fn dropping_the_last_handle_joins_the_invalidation_threads_promptly() {
    let server = need_redis!("dropping_the_last_handle_joins_the_invalidation_threads_promptly");
    for tracking in [true, false] {
        for _ in 0..10 {
            let cache = long_l1(&server, &prefix("tiered-drop"), tracking);
            let clone = cache.clone();
            drop(cache);
            assert!(clone.is_live(), "a clone keeps it running");
            drop(clone);
        }
    }
}

#[test]
fn an_l1_with_no_expiry_is_a_typed_error() {
    let server = need_redis!("an_l1_with_no_expiry_is_a_typed_error");
    let l2 = options(&server, &prefix("tiered-forever"))
        .build(CacheBuilder::new().time_to_idle(Duration::from_secs(30)))
        .unwrap();
    let err = TieredCache::<u64, u64>::new(CacheBuilder::new(), l2).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("time_to_live or time_to_idle"), "nothing would bound a stale L1 copy: {err}");
}
