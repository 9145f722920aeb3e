//! The `redis` backend: entries live in Redis, shared by every process that
//! uses the same prefix (behind the cargo feature `redis`).
//!
//! # How the contract maps onto Redis
//!
//! * **Keys.** A key's Redis name is `<prefix>:{<digest>}:d`, the digest
//!   being 128 bits of BLAKE3 over the key's `Hash` stream (integers fed in
//!   a fixed little-endian encoding); its load lock is
//!   `<prefix>:{<digest>}:l`. The braces make the digest the hash tag, so
//!   on a cluster an entry's keys share a slot ([`RedisCache::redis_key`]
//!   names a key's entry). The trait looks entries up by a borrowed
//!   form `&Q`, of which only `Hash + Eq` is known, and `K: Borrow<Q>`
//!   promises `K` and `Q` hash alike, so `get("a")` finds the `String` key
//!   `"a"`. The record also stores the encoded key, and every read checks
//!   it (`stored == q`): two unequal keys whose `Hash` streams are equal (a
//!   hand-written `Hash` that skips fields `Eq` compares; std types and
//!   derives never do this) share one slot, so a write of one displaces the
//!   other (reported as `Capacity`) and a `remove` of one removes the
//!   other's entry (reported, `None` returned), but a read never returns
//!   the wrong key's value. The `Hash` stream of std types is the same on
//!   every platform of one endianness; processes sharing a prefix should
//!   run builds of the same key type. They must also use the same value
//!   type and the same `time_to_idle`/`time_to_live` (a record that does
//!   not decode exactly is an error, counted, and a miss).
//! * **Values.** `postcard` (compact binary serde), after a header with the
//!   creation stamp: `<created_ms>:<key_len>:<key><value>`.
//! * **Idle expiry.** Every write sets the Redis TTL to the idle timeout;
//!   `get` is `GETEX key PX <idle>` (Redis >= 6.2), which returns the value
//!   and slides the deadline in one command. `peek` and `contains_key` are a
//!   plain `GET`. Redis never returns a key past its TTL, so an expired
//!   entry is never read, and Redis reclaims it on its own (lazily on
//!   access and by its active expiry cycle).
//! * **Max lifetime.** The creation stamp is Redis's own clock (`TIME`,
//!   Unix ms) read inside the write script, so every process compares
//!   against one clock. The TTL is capped with `PXAT`/`PEXPIREAT` at
//!   `created + time_to_live`, so Redis drops the entry when its lifetime
//!   ends however hot it is; reads (a Lua script when a lifetime is set)
//!   also check the stamp against the reader's own `time_to_live`.
//! * **Capacity** is Redis's: set `maxmemory` and a `maxmemory-policy`
//!   (`volatile-lru`, `volatile-lfu` or `allkeys-*`; every entry has a TTL,
//!   so the `volatile-*` policies see all of them). Redis evicts silently:
//!   the listener does not hear of it. `max_capacity` and `weigher` are
//!   refused by the builder ([`RedisBuildError::Unsupported`]) rather than
//!   silently ignored, as are a `policy`, a clock other than the
//!   [`SystemClock`](crate::clock::SystemClock) and a `refresh_granularity`: Redis
//!   evicts, keeps time and refreshes on its own.
//! * **Removal listener.** Reports what *this process* removes: `Explicit`
//!   (`remove`), `Replaced` (an `insert` over a live value, via
//!   `SET ... GET`), `Cleared` (`clear`), `Expired` (a read or overwrite
//!   that found the entry past this process's max lifetime), and
//!   `Capacity` (a colliding key displaced, see above). **Expiries that
//!   Redis performs itself are not observed** (no keyspace notifications),
//!   so neither are `maxmemory` evictions. Calls happen with no connection
//!   held; a listener may use the cache.
//! * **Loads.** `get_or_insert_with` is single-flight within the process
//!   (the shared loader) and across processes: the loading thread takes
//!   `SET <prefix>:l:<digest> <token> NX PX <lock_timeout>`, checks Redis
//!   again, runs `init`, stores the value and releases the lock with a
//!   token-checked Lua script (also when `init` panics). Other processes
//!   poll for the value (backing off from 1 ms to `load_poll_interval`)
//!   and take the lock over if it is released without a value or expires,
//!   so a crashed holder delays them by at most the lock timeout. An error
//!   is shared with the waiting threads of the same process; waiting
//!   processes do not see it (it is not serializable): they retry `init`
//!   themselves once the lock is free.
//! * **`len()`** counts the keys under the prefix with `SCAN` (which skips
//!   keys past their TTL): O(keys in the database), meant for diagnostics.
//!   **`purge_expired()`** has nothing to do (Redis expires keys itself)
//!   and returns 0. **`clear()`** `SCAN`s the prefix and deletes in batches
//!   of 500, reporting each entry as `Cleared`.
//! * **Errors.** The trait's methods are infallible and never panic when
//!   Redis is down: a failed read is a miss (counted in `misses`), a failed
//!   write or remove does nothing (`remove` returns `None`), `len()` returns
//!   0, and a load runs `init` locally without caching its value. Each
//!   failure is counted in [`RedisCache::errors`]. The `try_*` inherent
//!   methods return [`RedisCacheError`] instead. Connections come from an
//!   `r2d2` pool; one that failed at the I/O level is dropped, so after a
//!   Redis restart operations recover on their own.
//! * **Statistics** are this handle's process only: hits, misses and
//!   inserts it made, removals it reported.
//! * **Deployment.** One Redis server (>= 6.2; replicas are fine, writes go
//!   to the URL given), or a Redis Cluster ([`RedisOptions::cluster`]):
//!   every script touches one key, `len` and `clear` scan each master, and
//!   a slot migration or failover makes operations fail (counted) until the
//!   cluster serves the slot again; a pooled connection that met a topology
//!   error is dropped, so the next one reads the topology anew.
//! * **Threads.** Each built cache (not each clone) has one helper thread
//!   for its connection pool (opening and reaping connections); it exits
//!   when the last handle drops.

pub(crate) mod cluster;
pub(crate) mod conn;
mod error;
pub(crate) mod load;
mod ops;
mod options;
pub(crate) mod record;
mod scripts;

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::{RedisBuildError, RedisCacheError};
pub(crate) use ops::Refresh;
pub use options::RedisOptions;

use crate::builder::{CacheBuilder, MAX_DURATION};
use crate::cache::{CacheStats, SlidingTtlCache};
use crate::clock::ClockSource;
use crate::listener::{notify, RemovalListener, Removed};
use crate::load_error::LoadError;
use crate::loader::{LoadTarget, Loader};
use crate::stats::{LoadRecorder, StatsCounter};
use conn::{Manager, Pool};
use scripts::Scripts;

/// Keys deleted per `clear` round trip.
const CLEAR_BATCH: usize = 500;

/// A cache whose entries live in Redis, shared across processes. See the
/// [module docs](self) for how each rule of the contract maps onto Redis,
/// and [`RedisOptions`] to build one.
///
/// ```no_run
/// use std::time::Duration;
/// use ttlkit::prelude::*;
/// use ttlkit::{RedisCache, RedisOptions};
///
/// let cache: RedisCache<String, u64> = RedisOptions::new("redis://127.0.0.1:6379")
///     .prefix("myapp:counts")
///     .build(CacheBuilder::new().time_to_idle(Duration::from_secs(600)))?;
/// cache.ping()?;
/// cache.insert("a".to_string(), 1);
/// assert_eq!(cache.get("a"), Some(1)); // any process with the same prefix sees it
/// assert_eq!(cache.errors(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisCache<K, V> {
    inner: Arc<Inner<K, V>>,
}

pub(crate) struct Inner<K, V> {
    pool: Pool,
    prefix: String,
    /// The invalidation channel, when writes publish.
    channel: Option<String>,
    /// Identifies this cache's writes on the channel (16 hex digits).
    origin: String,
    /// Whether a tiered cache over this one should use client tracking.
    tracking: bool,
    idle_ms: u64,
    lifetime_ms: Option<u64>,
    lock_ms: u64,
    poll_max: Duration,
    scripts: Scripts,
    stats: StatsCounter,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    listener: Option<RemovalListener<K, V>>,
    loader: Loader<K, V>,
    tokens: AtomicU64,
}

impl<K, V> Clone for RedisCache<K, V> {
    fn clone(&self) -> Self {
        RedisCache { inner: Arc::clone(&self.inner) }
    }
}

impl<K, V> fmt::Debug for RedisCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL is not shown: it may carry a password.
        f.debug_struct("RedisCache")
            .field("prefix", &self.inner.prefix)
            .field("idle_ms", &self.inner.idle_ms)
            .field("lifetime_ms", &self.inner.lifetime_ms)
            .field("errors", &self.inner.errors.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Whole milliseconds, rounded up (Redis TTLs are in ms; 1 ms at least).
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

/// A random 64-bit id as 16 hex digits.
fn random_origin() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to something process-unique.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        bytes = (u64::from(std::process::id()) ^ nanos.as_nanos() as u64).to_le_bytes();
    }
    format!("{:016x}", u64::from_le_bytes(bytes))
}

impl<K, V> RedisCache<K, V> {
    fn from_options(options: RedisOptions, builder: CacheBuilder<K, V>) -> Result<Self, RedisBuildError> {
        options.check()?;
        let config = builder.validate()?;
        if config.max_capacity.is_some() {
            let why = if config.weigher.is_some() { "weigher" } else { "max_capacity" };
            return Err(RedisBuildError::Unsupported {
                what: why,
                why: "Redis bounds memory itself: set maxmemory and a maxmemory-policy on the server",
            });
        }
        if config.weigher.is_some() {
            return Err(RedisBuildError::Unsupported {
                what: "weigher",
                why: "there is no capacity bound to weigh against",
            });
        }
        // Redis evicts, keeps time and refreshes on its own: a setting for
        // any of those would be ignored, so it is refused instead.
        if config.policy_set {
            return Err(RedisBuildError::Unsupported {
                what: "policy",
                why: "Redis evicts by its own maxmemory-policy, set on the server",
            });
        }
        if !matches!(config.clock, ClockSource::System(_)) {
            return Err(RedisBuildError::Unsupported {
                what: "clock",
                why: "Redis expires keys on the server's clock; only the default system clock is accepted",
            });
        }
        if config.own.has_expiry() {
            return Err(RedisBuildError::Unsupported {
                what: "expire_after",
                why: "a Redis record carries no deadline of its own: reads would extend it (GETEX)",
            });
        }
        if let Some(what) = config.loads.first_set() {
            return Err(RedisBuildError::Unsupported {
                what,
                why: "Redis loads are locked across processes on the server; refresh-ahead, stale values, \
                      load timeouts and spawners are settings of the in-process caches",
            });
        }
        if config.granularity_set {
            return Err(RedisBuildError::Unsupported {
                what: "refresh_granularity",
                why: "every get refreshes the key's TTL on the server (GETEX), so idle expiry is exact already",
            });
        }
        let manager = Manager::new(&options.servers, options.connect_timeout, options.io_timeout)
            .map_err(RedisBuildError::Url)?;
        let channel = options.publish.then(|| format!("{}:inv", options.prefix));
        let inner = Inner {
            pool: Pool::new(manager, options.pool_size, options.connect_timeout),
            channel,
            origin: random_origin(),
            tracking: options.tracking,
            idle_ms: ceil_ms(config.time_to_idle.unwrap_or(MAX_DURATION)),
            lifetime_ms: config.time_to_live.map(ceil_ms),
            lock_ms: ceil_ms(options.lock_timeout),
            poll_max: options.poll_interval,
            prefix: options.prefix,
            scripts: Scripts::new(),
            stats: StatsCounter::default(),
            errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
            listener: config.listener,
            loader: Loader::default(),
            tokens: AtomicU64::new(0),
        };
        Ok(RedisCache { inner: Arc::new(inner) })
    }

    /// How many Redis operations failed (connection, timeout, server error,
    /// undecodable record) since the cache was built.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// The most recent failure, as text.
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().clone()
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The Redis key under which `key`'s entry lives
    /// (`<prefix>:{<digest>}:d`), for inspecting it with other tools.
    ///
    /// ```
    /// use ttlkit::{CacheBuilder, RedisCache, RedisOptions};
    ///
    /// // Building connects lazily: no server is needed to name a key.
    /// let cache: RedisCache<String, u32> = RedisOptions::new("redis://127.0.0.1:6379")
    ///     .prefix("app")
    ///     .build(CacheBuilder::new())?;
    /// let name = cache.redis_key("user-1");
    /// assert!(name.starts_with("app:{") && name.ends_with("}:d"));
    /// # Ok::<(), ttlkit::RedisBuildError>(())
    /// ```
    pub fn redis_key<Q>(&self, key: &Q) -> String
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.inner.data_key(record::key_digest(key))
    }

    pub(crate) fn shared(&self) -> &Arc<Inner<K, V>> {
        &self.inner
    }
}

impl<K, V> Inner<K, V> {
    pub(crate) fn failed(&self, e: &RedisCacheError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = Some(e.to_string());
    }

    /// `<prefix>:{<digest>}:d`. The digest is the hash tag (the first
    /// `{...}` after the first `{`): the data and lock keys of one entry
    /// differ only after it, so they share a cluster slot whatever the
    /// prefix holds.
    pub(crate) fn data_key(&self, digest: record::Digest) -> String {
        format!("{}:{{{digest}}}:d", self.prefix)
    }

    fn lock_key(&self, digest: record::Digest) -> String {
        format!("{}:{{{digest}}}:l", self.prefix)
    }

    /// The key prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether a tiered cache over this one should try client tracking.
    pub(crate) fn tracking(&self) -> bool {
        self.tracking
    }

    /// The idle timeout, in ms.
    pub(crate) fn idle_ms(&self) -> u64 {
        self.idle_ms
    }

    pub(crate) fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn manager(&self) -> &Manager {
        self.pool.manager()
    }

    pub(crate) fn stats(&self) -> &StatsCounter {
        &self.stats
    }

    fn notify(&self, removed: Vec<Removed<K, V>>) {
        if !removed.is_empty() {
            notify(self.listener.as_ref(), &self.stats, removed);
        }
    }

    /// Whether a record stamped `created_ms` is past this cache's lifetime at `now_ms`.
    fn past_lifetime(&self, created_ms: u64, now_ms: u64) -> bool {
        self.lifetime_ms.is_some_and(|l| now_ms >= created_ms.saturating_add(l))
    }
}

impl<K, V> RedisCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    V: Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
{
    /// [`get`](SlidingTtlCache::get) that reports failures (counted as a
    /// miss only when it succeeds).
    pub fn try_get<Q>(&self, key: &Q) -> Result<Option<V>, RedisCacheError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.inner.read(key, Refresh::Always)?.map(|(_, v)| v);
        self.inner.stats.lookup(found.is_some());
        Ok(found)
    }

    /// [`peek`](SlidingTtlCache::peek) that reports failures.
    pub fn try_peek<Q>(&self, key: &Q) -> Result<Option<V>, RedisCacheError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Ok(self.inner.read(key, Refresh::No)?.map(|(_, v)| v))
    }

    /// [`insert`](SlidingTtlCache::insert) that reports failures.
    pub fn try_insert(&self, key: K, value: V) -> Result<(), RedisCacheError> {
        self.inner.write(key, value)
    }

    /// [`remove`](SlidingTtlCache::remove) that reports failures.
    pub fn try_remove<Q>(&self, key: &Q) -> Result<Option<V>, RedisCacheError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.take(key)
    }

    /// [`len`](SlidingTtlCache::len) that reports failures.
    pub fn try_len(&self) -> Result<usize, RedisCacheError> {
        self.inner.count()
    }

    /// [`clear`](SlidingTtlCache::clear) that reports failures; returns how
    /// many entries it removed.
    pub fn try_clear(&self) -> Result<usize, RedisCacheError> {
        self.inner.clear_all()
    }

    /// Checks that Redis answers (`PING`).
    pub fn ping(&self) -> Result<(), RedisCacheError> {
        self.inner.pool.run(|c| Ok(redis::cmd("PING").query::<()>(c)?))
    }

    /// Runs a fallible operation, counting a failure and falling back.
    fn or_else<T>(&self, r: Result<T, RedisCacheError>, fallback: T) -> T {
        r.unwrap_or_else(|e| {
            self.inner.failed(&e);
            fallback
        })
    }
}

impl<K, V> SlidingTtlCache<K, V> for RedisCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    V: Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
{
    fn backend_name(&self) -> &'static str {
        "redis"
    }

    /// `GETEX key PX <idle>`; a Redis failure is a miss.
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let found = self.or_else(self.inner.read(key, Refresh::Always).map(|e| e.map(|(_, v)| v)), None);
        self.inner.stats.lookup(found.is_some());
        found
    }

    /// `GET key`; a Redis failure is `None`.
    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.or_else(self.try_peek(key), None)
    }

    /// A [`peek`](Self::peek); a Redis failure is `false`.
    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peek(key).is_some()
    }

    /// A Redis failure drops the write (counted in [`RedisCache::errors`]).
    fn insert(&self, key: K, value: V) {
        let r = self.inner.write(key, value);
        self.or_else(r, ());
    }

    /// A Redis failure removes nothing and returns `None`.
    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.or_else(self.inner.take(key), None)
    }

    /// Single-flight within the process and across processes (see the
    /// [module docs](self)); with Redis down, `init` runs here and its value
    /// is returned but not cached.
    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        self.inner.get_or_load(key, Refresh::Always, init).0
    }

    /// Keys under the prefix (a `SCAN`); 0 when Redis fails.
    fn len(&self) -> usize {
        self.or_else(self.inner.count(), 0)
    }

    /// Deletes every key of the prefix, reported as `Cleared`.
    fn clear(&self) {
        let r = self.inner.clear_all();
        self.or_else(r.map(drop), ());
    }

    /// Redis expires keys itself: nothing to do, returns 0.
    fn purge_expired(&self) -> usize {
        0
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    fn load_recorder(&self) -> LoadRecorder<'_> {
        self.inner.recorder()
    }
}
