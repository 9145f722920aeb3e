//! The load rules (single flight, errors, panics, locks) under Redis.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use ttlkit::{RedisCache, SlidingTtlCache};

use crate::common::{prefix, redis_cache, timed, wait_for};
use crate::need_redis;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn get_or_insert_hit_skips_init() {
    let url = need_redis!("get_or_insert_hit_skips_init");
    let cache: RedisCache<u64, u64> = redis_cache(&url, &prefix("hit-skips"), |b| b);
    cache.insert(1, 10);
    assert_eq!(cache.get_or_insert_with(1, || unreachable!("hit must not load")), 10);
    assert_eq!(cache.try_get_or_insert_with(1, || Err::<u64, &str>("no")), Ok(10));
    assert_eq!(cache.get_or_insert_with(2, || 20), 20);
    assert_eq!(cache.get(&2), Some(20), "a loaded value is stored");
}

#[test]
fn single_flight_eight_threads() {
    const N: usize = 8;
    let url = need_redis!("single_flight_eight_threads");
    let cache: RedisCache<u64, u64> = redis_cache(&url, &prefix("flight"), |b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (cache, runs, arrived, start) = (cache.clone(), runs.clone(), arrived.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                arrived.fetch_add(1, Ordering::SeqCst);
                cache.get_or_insert_with(7, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < N {
                        thread::yield_now();
                    }
                    thread::sleep(ms(20));
                    77
                })
            })
        })
        .collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, vec![77; N]);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "init ran once for {N} concurrent callers");
    assert_eq!(cache.stats().inserts, 1);
}

#[test]
fn error_is_not_cached() {
    let url = need_redis!("error_is_not_cached");
    let cache: RedisCache<u64, u64> = redis_cache(&url, &prefix("error"), |b| b);
    let err = cache.try_get_or_insert_with(1, || Err::<u64, String>("upstream down".into())).unwrap_err();
    assert_eq!(*err, "upstream down");
    assert!(!cache.contains_key(&1));
    assert_eq!(cache.try_get_or_insert_with(1, || Ok::<u64, String>(11)), Ok(11), "the lock was released");
    assert_eq!(cache.get(&1), Some(11));
    assert_eq!(cache.stats().load_failures, 1);
}

#[test]
fn concurrent_waiters_share_the_error() {
    const N: usize = 4;
    let url = need_redis!("concurrent_waiters_share_the_error");
    let cache: RedisCache<u64, u64> = redis_cache(&url, &prefix("shared-error"), |b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (cache, runs, arrived, start) = (cache.clone(), runs.clone(), arrived.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                arrived.fetch_add(1, Ordering::SeqCst);
                cache.try_get_or_insert_with(5, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < N {
                        thread::yield_now();
                    }
                    Err::<u64, u32>(503)
                })
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.iter().all(|r| r.as_ref().err().map(|e| **e) == Some(503)));
    let runs = runs.load(Ordering::SeqCst);
    assert!((1..=N).contains(&runs));
    assert!(!cache.contains_key(&5), "the error was not cached");
    assert_eq!(cache.stats().load_failures, runs as u64);
}

#[test]
fn panicking_init_poisons_nothing() {
    let url = need_redis!("panicking_init_poisons_nothing");
    let cache: RedisCache<u64, u64> = redis_cache(&url, &prefix("panic"), |b| b);
    let caught = catch_unwind(AssertUnwindSafe(|| cache.get_or_insert_with(1, || panic!("init bug"))));
    assert!(caught.is_err(), "the panic reaches its caller");
    assert!(!cache.contains_key(&1));
    // The Redis lock was released while unwinding: this does not wait 5 s.
    let (a, v, b) = timed(|| cache.get_or_insert_with(1, || 11));
    assert_eq!(v, 11, "a later caller retries");
    eprintln!("retry after a panicking init took {:?}", b - a);
    assert_eq!(cache.stats().load_failures, 1);
    assert_eq!(cache.errors(), 0);
}

#[test]
fn waiter_retries_after_leader_panics() {
    let url = need_redis!("waiter_retries_after_leader_panics");
    let cache: RedisCache<u64, u64> = redis_cache(&url, &prefix("leader-panics"), |b| b);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let leader_cache = cache.clone();
    let leader = thread::spawn(move || {
        catch_unwind(AssertUnwindSafe(|| {
            leader_cache.get_or_insert_with(9, || {
                entered_tx.send(()).unwrap();
                let _ = release_rx.recv();
                panic!("leader's init fails")
            })
        }))
    });
    entered_rx.recv().unwrap();
    let waiter_cache = cache.clone();
    let waiter = thread::spawn(move || waiter_cache.get_or_insert_with(9, || 99));
    thread::sleep(ms(20));
    release_tx.send(()).unwrap();
    assert!(leader.join().unwrap().is_err());
    assert_eq!(waiter.join().unwrap(), 99, "the waiter was not wedged and loaded for itself");
    assert_eq!(cache.get(&9), Some(99));
}

#[test]
fn crashed_lock_holder_does_not_wedge_waiters() {
    // A lock left by a holder that died (taken here by hand, never
    // released) delays a load by at most the lock's own expiry.
    let url = need_redis!("crashed_lock_holder_does_not_wedge_waiters");
    let p = prefix("stale-lock");
    let cache: RedisCache<String, u64> = redis_cache(&url, &p, |b| b);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    // The lock key of "k": take it the way a process would, then "crash".
    let lock_key = lock_key_of(&mut con, &cache, "k");
    let _: () =
        redis::cmd("SET").arg(&lock_key).arg("dead-holder").arg("NX").arg("PX").arg(300).query(&mut con).unwrap();
    let (a, v, b) = timed(|| cache.get_or_insert_with("k".to_string(), || 5));
    assert_eq!(v, 5);
    eprintln!("load behind a crashed holder's lock (300 ms expiry) waited {:?}", b - a);
    let left: i64 = redis::cmd("EXISTS").arg(&lock_key).query(&mut con).unwrap();
    assert_eq!(left, 0, "the load released its own lock");
}

/// Finds the lock key a load of `key` takes, by watching Redis during one.
fn lock_key_of(con: &mut redis::Connection, cache: &RedisCache<String, u64>, key: &str) -> String {
    let (tx, rx) = mpsc::channel();
    let c = cache.clone();
    let k = key.to_string();
    let pattern = format!("{}:l:*", cache.prefix());
    let probe = thread::spawn(move || {
        c.get_or_insert_with(k.clone(), || {
            let _ = rx.recv();
            0
        });
        c.remove(&k);
    });
    let mut found = None;
    wait_for("the load lock", Duration::from_secs(10), || {
        let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(con).unwrap();
        found = keys.into_iter().next();
        found.is_some()
    });
    tx.send(()).unwrap();
    probe.join().unwrap();
    found.unwrap()
}
