//! The load rules only Redis has: its load lock. The rest (single flight,
//! errors, panics) are the conformance suite's cases (`suite.rs`).

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ttlkit::{RedisCache, SlidingTtlCache};

use crate::common::{prefix, redis_cache, timed, wait_for};
use crate::need_redis;

#[test]
fn crashed_lock_holder_does_not_wedge_waiters() {
    // A lock left by a holder that died (taken here by hand, never
    // released) delays a load by at most the lock's own expiry.
    let server = need_redis!("crashed_lock_holder_does_not_wedge_waiters");
    let p = prefix("stale-lock");
    let cache: RedisCache<String, u64> = redis_cache(&server, &p, |b| b);
    let mut con = server.raw();
    // The lock key of "k": take it the way a process would, then "crash".
    let lock_key = lock_key_of(&mut *con, &cache, "k");
    let _: () =
        redis::cmd("SET").arg(&lock_key).arg("dead-holder").arg("NX").arg("PX").arg(300).query(&mut *con).unwrap();
    let (a, v, b) = timed(|| cache.get_or_insert_with("k".to_string(), || 5));
    assert_eq!(v, 5);
    eprintln!("load behind a crashed holder's lock (300 ms expiry) waited {:?}", b - a);
    let left: i64 = redis::cmd("EXISTS").arg(&lock_key).query(&mut *con).unwrap();
    assert_eq!(left, 0, "the load released its own lock");
}

/// Finds the lock key a load of `key` takes, by watching Redis during one.
fn lock_key_of(con: &mut dyn redis::ConnectionLike, cache: &RedisCache<String, u64>, key: &str) -> String {
    let (tx, rx) = mpsc::channel();
    let c = cache.clone();
    let k = key.to_string();
    let pattern = format!("{}:{{*}}:l", cache.prefix());
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
