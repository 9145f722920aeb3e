//! Finding the server, unique prefixes, and timing helpers.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, RedisCache, RedisOptions, TieredCache};

/// The idle timeout of the real-time cases.
pub const TTI: Duration = Duration::from_millis(200);
/// Slack after a deadline before asserting that an entry is gone (Redis
/// keeps expiry in whole milliseconds).
pub const SLACK: Duration = Duration::from_millis(15);

/// `REDIS_URL`, or `None` after printing why the test is skipped (once per
/// test binary, straight to stderr so the test harness does not hide it).
pub fn url(test: &str) -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            static NOTE: std::sync::Once = std::sync::Once::new();
            NOTE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: REDIS_URL is not set: skipping the tests that need a Redis server (first: {test}); \
                     run them with REDIS_URL=redis://127.0.0.1:PORT cargo test --features redis"
                );
            });
            None
        }
    }
}

/// Returns from the test when no server is configured.
#[macro_export]
macro_rules! need_redis {
    ($test:expr) => {
        match $crate::common::url($test) {
            Some(u) => u,
            None => return,
        }
    };
}

/// A prefix no other test (or earlier run) uses.
pub fn prefix(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("ttlkit-test:{tag}:{}:{nanos}:{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Options for a test cache under its own prefix.
pub fn options(url: &str, prefix: &str) -> RedisOptions {
    RedisOptions::new(url)
        .prefix(prefix)
        .load_lock_timeout(Duration::from_secs(5))
        .load_poll_interval(Duration::from_millis(5))
}

/// The idle timeout of the cases that do not test expiry (long enough that
/// nothing idles out on a slow machine).
pub const LONG_TTI: Duration = Duration::from_secs(30);

/// A Redis cache under `prefix` (idle timeout [`LONG_TTI`]), configured
/// further by `f`.
pub fn redis_cache<K, V>(
    url: &str,
    prefix: &str,
    f: impl FnOnce(CacheBuilder<K, V>) -> CacheBuilder<K, V>,
) -> RedisCache<K, V> {
    options(url, prefix).build(f(CacheBuilder::new().time_to_idle(LONG_TTI))).unwrap()
}

/// A Redis cache under `prefix` with the real-time cases' idle timeout [`TTI`].
pub fn timed_cache<K, V>(
    url: &str,
    prefix: &str,
    f: impl FnOnce(CacheBuilder<K, V>) -> CacheBuilder<K, V>,
) -> RedisCache<K, V> {
    options(url, prefix).build(f(CacheBuilder::new().time_to_idle(TTI))).unwrap()
}

/// A tiered cache (L1 idle and lifetime 100 ms) over a fresh Redis cache,
/// once its invalidation channel is live.
pub fn tiered(
    url: &str,
    prefix: &str,
    f: impl FnOnce(CacheBuilder<u64, u64>) -> CacheBuilder<u64, u64>,
) -> TieredCache<u64, u64> {
    let l2 = redis_cache(url, prefix, f);
    let cache = TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_millis(100)), l2).unwrap();
    wait_for("the invalidation subscription", Duration::from_secs(10), || cache.is_subscribed());
    cache
}

/// Polls `cond` until it holds; panics after `limit` (a generous bound).
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Sleeps until `t`.
pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// The result of a timing-sensitive scenario: `Err` when the machine was
/// too slow for one of its preconditions (the run proves nothing).
pub type Timed = Result<(), String>;

/// Runs a real-time scenario until one run is conclusive (at most 5).
pub fn conclusive(name: &str, mut scenario: impl FnMut() -> Timed) {
    for attempt in 1..=5 {
        match scenario() {
            Ok(()) => return,
            Err(why) => eprintln!("{name}: attempt {attempt} inconclusive ({why}); retrying"),
        }
    }
    panic!("{name}: no conclusive run in 5 attempts (machine too loaded for {TTI:?} timeouts)");
}

/// Times one call: (start, result, end).
pub fn timed<T>(f: impl FnOnce() -> T) -> (Instant, T, Instant) {
    let a = Instant::now();
    let r = f();
    (a, r, Instant::now())
}

/// `Err` unless `cond`: a precondition of the scenario did not hold.
pub fn require(cond: bool, why: &str) -> Timed {
    if cond {
        Ok(())
    } else {
        Err(why.to_owned())
    }
}
