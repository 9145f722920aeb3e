//! [`RedisOptions`]: where a [`RedisCache`] lives and how it talks to Redis.

use std::time::Duration;

use super::error::RedisBuildError;
use super::RedisCache;
use crate::builder::CacheBuilder;

/// Where a [`RedisCache`] lives and how it talks to Redis; the expiry
/// settings come from a [`CacheBuilder`].
///
/// ```no_run
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, RedisCache, RedisOptions, SlidingTtlCache};
///
/// let cache: RedisCache<String, Vec<u8>> = RedisOptions::new("redis://127.0.0.1:6379")
///     .prefix("myapp:responses")
///     .build(CacheBuilder::new().time_to_idle(Duration::from_secs(600)).time_to_live(Duration::from_secs(3600)))?;
/// cache.insert("prompt-hash".to_string(), b"answer".to_vec());
/// assert_eq!(cache.get("prompt-hash").as_deref(), Some(&b"answer"[..]));
/// # Ok::<(), ttlkit::RedisBuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) publish: bool,
}

impl RedisOptions {
    /// Options for the Redis at `url` (`redis://[:password@]host:port[/db]`).
    ///
    /// Defaults: prefix `ttlkit`, a pool of up to 16 connections, 250 ms to
    /// connect (also the longest an operation waits for a pooled connection
    /// while Redis is down), 1 s per command, a 10 s load lock, waiters
    /// polling at most every 20 ms, invalidations published.
    pub fn new(url: impl Into<String>) -> RedisOptions {
        RedisOptions {
            url: url.into(),
            prefix: "ttlkit".to_owned(),
            pool_size: 16,
            connect_timeout: Duration::from_millis(250),
            io_timeout: Duration::from_secs(1),
            lock_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(20),
            publish: true,
        }
    }

    /// Namespaces every key: data under `<prefix>:d:<digest>`, load locks
    /// under `<prefix>:l:<digest>`, invalidations on channel `<prefix>:inv`.
    /// Caches that share a prefix share their entries, across processes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisOptions {
        self.prefix = prefix.into();
        self
    }

    /// The most connections the pool keeps open (at least 1).
    pub fn pool_size(mut self, n: u32) -> RedisOptions {
        self.pool_size = n;
        self
    }

    /// How long to wait to connect, and for a pooled connection.
    pub fn connect_timeout(mut self, d: Duration) -> RedisOptions {
        self.connect_timeout = d;
        self
    }

    /// How long one command may take before it fails with a timeout.
    pub fn io_timeout(mut self, d: Duration) -> RedisOptions {
        self.io_timeout = d;
        self
    }

    /// How long a cross-process load lock lives. A holder that crashes
    /// delays the waiters by at most this; an `init` that runs longer than
    /// this may be run again by a waiting process (the lock is not renewed).
    pub fn load_lock_timeout(mut self, d: Duration) -> RedisOptions {
        self.lock_timeout = d;
        self
    }

    /// The longest pause between two polls of a process waiting for
    /// another process's load (polls start at 1 ms and double).
    pub fn load_poll_interval(mut self, d: Duration) -> RedisOptions {
        self.poll_interval = d;
        self
    }

    /// Whether writes publish an invalidation on `<prefix>:inv` (default
    /// on). A [`TieredCache`](crate::TieredCache) needs every writer to the
    /// prefix to publish; turning it off saves one `PUBLISH` per write.
    pub fn publish_invalidations(mut self, on: bool) -> RedisOptions {
        self.publish = on;
        self
    }

    /// Builds the cache. Takes `time_to_idle`, `time_to_live` and the
    /// removal listener from `builder`. Refuses, with
    /// [`RedisBuildError::Unsupported`], what Redis does its own way:
    /// `max_capacity` and `weigher` (capacity is Redis's `maxmemory`), a
    /// `policy` (its `maxmemory-policy`), a clock other than the
    /// [`SystemClock`](crate::clock::SystemClock) (Redis expires keys on its own
    /// clock) and a `refresh_granularity` (every `get` refreshes). Ignores
    /// the sweeper settings (Redis reclaims expired keys itself). Connects
    /// lazily: building succeeds while Redis is down.
    pub fn build<K, V>(self, builder: CacheBuilder<K, V>) -> Result<RedisCache<K, V>, RedisBuildError> {
        RedisCache::from_options(self, builder)
    }

    pub(crate) fn check(&self) -> Result<(), RedisBuildError> {
        let bad = |what: &str| Err(RedisBuildError::Option(what.to_owned()));
        if self.prefix.is_empty() {
            return bad("the redis key prefix must not be empty");
        }
        if self.pool_size == 0 {
            return bad("the redis pool size must be at least 1");
        }
        for (what, d) in [
            ("connect_timeout", self.connect_timeout),
            ("io_timeout", self.io_timeout),
            ("load_lock_timeout", self.lock_timeout),
            ("load_poll_interval", self.poll_interval),
        ] {
            if d < Duration::from_millis(1) {
                return bad(&format!("{what} must be at least 1 ms, got {d:?}"));
            }
        }
        Ok(())
    }
}
