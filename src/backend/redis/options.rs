//! [`RedisOptions`]: where a [`RedisCache`] lives and how it talks to Redis.

use std::fmt;
use std::time::Duration;

use super::error::RedisBuildError;
use super::RedisCache;
use crate::builder::CacheBuilder;

/// Where a [`RedisCache`] lives (one server, or a Redis Cluster) and how it
/// talks to Redis; the expiry settings come from a [`CacheBuilder`].
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
///
/// A cluster is given by its seed nodes ([`RedisOptions::cluster`]); the
/// rest of the topology is discovered and followed through failovers and
/// slot migrations.
#[derive(Clone)]
pub struct RedisOptions {
    pub(crate) servers: Servers,
    pub(crate) prefix: String,
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) publish: bool,
    pub(crate) tracking: bool,
}

/// One server, or the seed nodes of a cluster.
#[derive(Clone)]
pub(crate) enum Servers {
    One(String),
    Cluster(Vec<String>),
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs are not shown: they may carry a password.
        let servers = match &self.servers {
            Servers::One(_) => "one server".to_owned(),
            Servers::Cluster(seeds) => format!("a cluster ({} seeds)", seeds.len()),
        };
        f.debug_struct("RedisOptions")
            .field("servers", &servers)
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("lock_timeout", &self.lock_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("publish", &self.publish)
            .field("tracking", &self.tracking)
            .finish()
    }
}

impl RedisOptions {
    /// Options for the Redis at `url` (`redis://[:password@]host:port[/db]`).
    ///
    /// Defaults: prefix `ttlkit`, a pool of up to 16 connections, 250 ms to
    /// connect (also the longest an operation waits for a pooled connection
    /// while Redis is down), 1 s per command, a 10 s load lock, waiters
    /// polling at most every 20 ms, invalidations published, and a
    /// [`TieredCache`](crate::TieredCache) over it invalidating its L1 by
    /// server-assisted client tracking where the server offers it.
    pub fn new(url: impl Into<String>) -> RedisOptions {
        RedisOptions::with_servers(Servers::One(url.into()))
    }

    /// Options for a Redis Cluster reached through `seeds`
    /// (`redis://[:password@]host:port` each; one reachable seed is
    /// enough, the others are tried in turn). The defaults are those of
    /// [`RedisOptions::new`].
    ///
    /// Every operation works on a cluster: an entry's keys and its load
    /// lock share a hash slot (the digest is their hash tag), every script
    /// touches one key, and `len` and `clear` visit each master. A slot
    /// migration or a failover makes operations fail (counted, reported by
    /// the `try_*` methods) until the cluster serves the slot again; the
    /// cache then recovers on its own. Each key's creation stamp comes from
    /// the clock of the master holding it.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ttlkit::{CacheBuilder, RedisCache, RedisOptions, SlidingTtlCache};
    ///
    /// let cache: RedisCache<String, u64> =
    ///     RedisOptions::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
    ///         .prefix("myapp:counts")
    ///         .build(CacheBuilder::new().time_to_idle(Duration::from_secs(600)))?;
    /// cache.insert("a".to_string(), 1);
    /// assert_eq!(cache.get("a"), Some(1));
    /// # Ok::<(), ttlkit::RedisBuildError>(())
    /// ```
    pub fn cluster<I, S>(seeds: I) -> RedisOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisOptions::with_servers(Servers::Cluster(seeds.into_iter().map(Into::into).collect()))
    }

    fn with_servers(servers: Servers) -> RedisOptions {
        RedisOptions {
            servers,
            prefix: "ttlkit".to_owned(),
            pool_size: 16,
            connect_timeout: Duration::from_millis(250),
            io_timeout: Duration::from_secs(1),
            lock_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(20),
            publish: true,
            tracking: true,
        }
    }

    /// Namespaces every key: data under `<prefix>:{<digest>}:d`, load locks
    /// under `<prefix>:{<digest>}:l` (the braces make the digest the hash
    /// tag, so both land in one cluster slot), invalidations on channel
    /// `<prefix>:inv`. Caches that share a prefix share their entries,
    /// across processes. [`RedisCache::redis_key`] names a key's entry.
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
    /// on). A [`TieredCache`](crate::TieredCache) that falls back to pub/sub
    /// (see [`client_tracking`](Self::client_tracking)) needs every writer to
    /// the prefix to publish; turning it off saves one `PUBLISH` per write
    /// where every tiered cache tracks.
    pub fn publish_invalidations(mut self, on: bool) -> RedisOptions {
        self.publish = on;
        self
    }

    /// Whether a [`TieredCache`](crate::TieredCache) over this cache drops
    /// its L1 copies on the server's word (default on): `CLIENT TRACKING`
    /// in broadcast mode on the prefix's data keys, over a RESP3 connection
    /// to each server (each master of a cluster). Then a change by **any**
    /// client (including one that does not use ttlkit, such as
    /// `redis-cli`), a key Redis expires or evicts, and `FLUSHALL` or
    /// `FLUSHDB` all drop the L1 copies. Off, or where the server refuses
    /// tracking (no RESP3, `CLIENT` not allowed), the tiered cache listens to
    /// the invalidations ttlkit writers publish instead (pub/sub), which
    /// only ttlkit's own writes send.
    pub fn client_tracking(mut self, on: bool) -> RedisOptions {
        self.tracking = on;
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
        if let Servers::Cluster(seeds) = &self.servers {
            if seeds.is_empty() {
                return bad("a redis cluster needs at least one seed url");
            }
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
