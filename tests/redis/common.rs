//! Finding the server, unique prefixes, and timing helpers.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

/// The idle timeout of the real-time cases.
pub const TTI: Duration = Duration::from_millis(200);
/// Slack after a deadline before asserting that an entry is gone (Redis
/// keeps expiry in whole milliseconds).
pub const SLACK: Duration = Duration::from_millis(15);

/// The Redis the tests run against: one server (`REDIS_URL`) or a cluster
/// (`REDIS_CLUSTER_URLS`, comma-separated seed URLs; it wins when both are
/// set, so one run of the binary covers one deployment).
#[derive(Debug, Clone)]
pub enum Server {
    Single(String),
    Cluster(Vec<String>),
}

impl Server {
    /// From the environment, without a note.
    pub fn from_env() -> Option<Server> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(seeds) = var("REDIS_CLUSTER_URLS") {
            return Some(Server::Cluster(seeds.split(',').map(|s| s.trim().to_owned()).collect()));
        }
        var("REDIS_URL").map(Server::Single)
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Server::Cluster(_))
    }

    /// Options with no test defaults.
    pub fn bare_options(&self) -> RedisOptions {
        match self {
            Server::Single(url) => RedisOptions::new(url),
            Server::Cluster(seeds) => RedisOptions::cluster(seeds.clone()),
        }
    }

    /// A plain connection for commands of the tests' own (a cluster
    /// connection routes each by its key; `KEYS` goes to every master).
    pub fn raw(&self) -> Raw {
        match self {
            Server::Single(url) => Box::new(redis::Client::open(url.as_str()).unwrap().get_connection().unwrap()),
            Server::Cluster(seeds) => {
                Box::new(redis::cluster::ClusterClient::new(seeds.clone()).unwrap().get_connection().unwrap())
            }
        }
    }

    /// The URLs `redis-cli` can be pointed at (the seeds of a cluster).
    pub fn urls(&self) -> Vec<String> {
        match self {
            Server::Single(url) => vec![url.clone()],
            Server::Cluster(seeds) => seeds.clone(),
        }
    }
}

/// A connection for raw commands.
pub type Raw = Box<dyn redis::ConnectionLike + Send>;

/// The configured server, or `None` after printing why the test is skipped
/// (once per test binary, straight to stderr so the test harness does not
/// hide it).
pub fn server(test: &str) -> Option<Server> {
    let found = Server::from_env();
    if found.is_none() {
        static NOTE: std::sync::Once = std::sync::Once::new();
        NOTE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: neither REDIS_URL nor REDIS_CLUSTER_URLS is set: skipping the tests that need a Redis \
                 server (first: {test}); run them with REDIS_URL=redis://127.0.0.1:PORT cargo test --features redis"
            );
        });
    }
    found
}

/// Returns from the test when no server is configured.
#[macro_export]
macro_rules! need_redis {
    ($test:expr) => {
        match $crate::common::server($test) {
            Some(s) => s,
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
pub fn options(server: &Server, prefix: &str) -> RedisOptions {
    server
        .bare_options()
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
    server: &Server,
    prefix: &str,
    f: impl FnOnce(CacheBuilder<K, V>) -> CacheBuilder<K, V>,
) -> RedisCache<K, V> {
    options(server, prefix).build(f(CacheBuilder::new().time_to_idle(LONG_TTI))).unwrap()
}

/// A Redis cache under `prefix` with the real-time cases' idle timeout [`TTI`].
pub fn timed_cache<K, V>(
    server: &Server,
    prefix: &str,
    f: impl FnOnce(CacheBuilder<K, V>) -> CacheBuilder<K, V>,
) -> RedisCache<K, V> {
    options(server, prefix).build(f(CacheBuilder::new().time_to_idle(TTI))).unwrap()
}

/// How long the tiered cases wait for invalidation to act.
pub const WAIT: Duration = Duration::from_secs(10);

/// Waits until `cache` holds an L1 copy of `key` with `value` that no
/// invalidation still on its way can drop: the echo of a cache's own write
/// (or of the idle deadline its read slid) may reach it after a read has
/// made the copy.
pub fn copy_of(cache: &TieredCache<u64, u64>, key: u64, value: u64) {
    wait_for("a settled L1 copy", WAIT, || {
        cache.get(&key) == Some(value) && {
            settled(cache);
            cache.l1().peek(&key) == Some(value)
        }
    });
}

/// Waits until every invalidation sent so far has reached `cache`.
pub fn settled(cache: &TieredCache<u64, u64>) {
    let done = cache.sync_invalidation(WAIT);
    assert!(done, "invalidation did not sync within {WAIT:?}: {:?}", cache.invalidation_stats());
}

/// A tiered cache (L1 idle and lifetime 100 ms) over a fresh Redis cache,
/// once its invalidation is live.
pub fn tiered(
    server: &Server,
    prefix: &str,
    f: impl FnOnce(CacheBuilder<u64, u64>) -> CacheBuilder<u64, u64>,
) -> TieredCache<u64, u64> {
    let l2 = redis_cache(server, prefix, f);
    let cache = TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_millis(100)), l2).unwrap();
    wait_for("live invalidation", Duration::from_secs(10), || cache.is_live());
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

/// The URL of each master (the one server's URL, or each cluster master's).
pub fn masters(server: &Server) -> Vec<String> {
    let Server::Cluster(_) = server else { return server.urls() };
    let reply: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(&mut *server.raw()).unwrap();
    let redis::Value::Array(ranges) = reply else { panic!("CLUSTER SLOTS: {reply:?}") };
    let mut urls: Vec<String> = ranges
        .into_iter()
        .map(|range| {
            let redis::Value::Array(parts) = range else { panic!("CLUSTER SLOTS range: {range:?}") };
            let (host, port): (String, u16) = match &parts[2] {
                redis::Value::Array(node) => (
                    redis::from_redis_value(node[0].clone()).unwrap(),
                    redis::from_redis_value(node[1].clone()).unwrap(),
                ),
                other => panic!("CLUSTER SLOTS node: {other:?}"),
            };
            format!("redis://{host}:{port}")
        })
        .collect();
    urls.sort();
    urls.dedup();
    urls
}
