//! Two tiers: a local cache (L1) in front of a [`RedisCache`] (L2), with
//! the L1 copies invalidated by the server's client tracking (or, where the
//! server does not offer it, by the pub/sub messages ttlkit writers send).
//!
//! The details are on [`TieredCache`].

mod barrier;
mod copies;
mod epochs;
mod feed;
mod stats;
mod supervisor;
mod wire;

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use stats::{InvalidationMode, InvalidationStats};

use crate::backend::mutex::MutexCache;
use crate::backend::redis::load::Served;
use crate::backend::redis::record::key_digest;
use crate::backend::redis::{ceil_ms, RedisBuildError, RedisCache, Refresh};
use crate::builder::{BuildError, CacheBuilder, FromConfig};
use crate::cache::{CacheStats, SlidingTtlCache};
use crate::load_error::LoadError;
use crate::stats::{LoadRecorder, StatsCounter};
use copies::{Copies, Sink};
use stats::State;
use supervisor::{Plan, Supervisor};

/// A local L1 (by default a [`MutexCache`]) in front of a shared
/// [`RedisCache`] L2, whose copies are dropped when the entry changes in
/// Redis.
///
/// # How it works
///
/// * **Reads** go to L1; an L1 miss reads L2 and keeps a copy in L1. An L1
///   hit does not touch Redis, so L1 must be short-lived:
///   [`TieredCache::new`] gives L1 a time-to-live equal to its idle timeout
///   unless one is set. An L2 read slides the shared idle deadline only
///   when that moves it by more than the L1 lifetime (at most half the L2
///   idle timeout): Redis reports a touched key to every tracking client,
///   so touching on every fill would drop every process's copy. A key read
///   every L1 lifetime thus keeps its L2 deadline at most two L1 lifetimes
///   behind the last read: an entry may expire from L2 up to two L1
///   lifetimes early, never late.
/// * **Writes** (`insert`, `remove`, `clear`) go to L2 first, then drop
///   this cache's own copy (with pub/sub, an `insert` keeps the written
///   value as the copy).
/// * **Invalidation by client tracking** (the default,
///   [`RedisOptions::client_tracking`](crate::RedisOptions::client_tracking)):
///   one connection per server (per master of a cluster) runs
///   `CLIENT TRACKING on BCAST PREFIX <prefix>:{` over RESP3, and Redis
///   names every key of the prefix that changes, whoever changes it: a
///   ttlkit cache, `redis-cli SET`, another service, Redis's own expiry or
///   eviction. `FLUSHALL`/`FLUSHDB` (which name no keys) drop every copy.
///   A cluster's masters are read again every 250 ms; when they change
///   (failover, new node) tracking starts over.
/// * **Invalidation by pub/sub**, where the server refuses tracking (no
///   RESP3, `CLIENT` not allowed) or it is turned off: the write scripts of
///   ttlkit caches publish `<origin>k<key>` (or `<origin>*`) on
///   `<prefix>:inv`, and only their writes invalidate.
/// * **Losing invalidation.** Whatever the source, while its connections
///   are down (restart, failover, `CLIENT KILL`, no reply to a `PING` within
///   the I/O timeout) L1 is empty and not used, and it is emptied again
///   once they are back, so missed invalidations cannot leave stale copies.
///   A fill of L1 that raced with an invalidation (or with this cache's own
///   write) drops its copy. [`TieredCache::invalidation_stats`] says which
///   source is in use.
/// * **Delay.** From a write in another process to the L1 copy leaving:
///   one Redis hop plus a thread's wake-up, about 0.1 ms at the median on
///   loopback, one server or a cluster (measured by the `redis_rows`
///   bench). Pub/sub over a cluster crosses the cluster bus first: tens of
///   milliseconds at p90 there. [`TieredCache::sync_invalidation`] waits
///   until the invalidations of the writes completed so far have arrived.
/// * **Threads.** Each tiered cache runs a supervisor thread and one reader
///   thread per invalidation connection; the last handle stops and joins
///   them (closing their sockets, so no read holds them up; a connection
///   attempt under way ends first, within the connect and I/O timeouts).
/// * **The removal listener** is L2's (the one given to the L2 builder): L1
///   copies come and go without being reported.
/// * **Statistics**: `hits` and `misses` are the tiered cache's (a hit in
///   either tier is a hit); inserts, load failures and removals are L2's.
///   [`TieredCache::l1`] and [`TieredCache::l2`] give each tier's own.
///
/// Build each tiered cache from its own [`RedisCache`] (not a clone of one
/// that another tiered cache uses): with pub/sub, a cache skips the
/// invalidations that carry its L2's identity.
///
/// ```no_run
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, InvalidationMode, RedisOptions, SlidingTtlCache, TieredCache};
///
/// let l2 = RedisOptions::new("redis://127.0.0.1:6379")
///     .prefix("myapp:tokens")
///     .build(CacheBuilder::<String, String>::new().time_to_idle(Duration::from_secs(600)))?;
/// let l1 = CacheBuilder::new().time_to_idle(Duration::from_secs(2)).max_capacity(10_000);
/// let cache: TieredCache<String, String> = TieredCache::new(l1, l2)?;
/// cache.insert("user-1".to_string(), "token".to_string());
/// assert_eq!(cache.get("user-1").as_deref(), Some("token")); // from L2, then from L1
/// assert_eq!(cache.invalidation_stats().mode, Some(InvalidationMode::Tracking));
/// # Ok::<(), ttlkit::RedisBuildError>(())
/// ```
pub struct TieredCache<K, V, L1 = MutexCache<K, V>> {
    inner: Arc<Inner<K, V, L1>>,
}

struct Inner<K, V, L1> {
    copies: Arc<Copies<K, V, L1>>,
    state: Arc<State>,
    l2: RedisCache<K, V>,
    stats: StatsCounter,
    /// How far an L1 fill lets L2's idle deadline lag, in ms.
    slack_ms: u64,
    /// Dropped last: stops and joins the invalidation threads.
    _supervisor: Supervisor,
}

impl<K, V, L1> Clone for TieredCache<K, V, L1> {
    fn clone(&self) -> Self {
        TieredCache { inner: Arc::clone(&self.inner) }
    }
}

impl<K, V, L1> fmt::Debug for TieredCache<K, V, L1> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredCache")
            .field("l2", &self.inner.l2)
            .field("invalidation", &self.inner.state.mode())
            .finish_non_exhaustive()
    }
}

impl<K, V, L1> TieredCache<K, V, L1>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    V: Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    L1: SlidingTtlCache<K, V>,
{
    /// Builds L1 from `l1` (its time-to-idle is the L1 timeout, keep it
    /// short; without a `time_to_live`, it gets one equal to the
    /// time-to-idle; with neither it is a [`BuildError::MissingSetting`],
    /// as nothing would bound how long an L1 copy outlives its L2 entry)
    /// and puts it in front of `l2`.
    pub fn new(l1: CacheBuilder<K, V>, l2: RedisCache<K, V>) -> Result<Self, RedisBuildError>
    where
        L1: FromConfig<K, V>,
    {
        let probe = l1.clone().validate()?;
        let (l1, lifetime) = match (probe.time_to_live(), probe.time_to_idle()) {
            (Some(ttl), _) => (l1, ttl),
            (None, Some(idle)) => (l1.time_to_live(idle), idle),
            (None, None) => {
                let needs = "time_to_live or time_to_idle";
                return Err(BuildError::MissingSetting { what: "a TieredCache's L1", needs }.into());
            }
        };
        drop(probe);
        Self::with_l1(l1.build()?, lifetime, l2)
    }

    /// Puts an already built local cache in front of `l2`. `lifetime` is
    /// the longest an L1 copy lives (the L1's time-to-live; keep it short):
    /// it bounds how long a copy can outlive its L2 entry while
    /// invalidations cannot arrive, and how far a read lets L2's idle
    /// deadline lag. Refused with [`RedisBuildError::Option`] when `l2`
    /// neither tracks nor publishes (nothing could invalidate L1).
    pub fn with_l1(l1: L1, lifetime: Duration, l2: RedisCache<K, V>) -> Result<Self, RedisBuildError> {
        if lifetime.is_zero() {
            return Err(BuildError::ZeroDuration { what: "a TieredCache's L1 lifetime" }.into());
        }
        let shared = l2.shared();
        if !shared.tracking() && shared.channel().is_none() {
            return Err(RedisBuildError::Option(
                "a tiered cache needs its redis cache to track (client_tracking(true)) or to publish \
                 invalidations (publish_invalidations(true))"
                    .to_owned(),
            ));
        }
        let state = Arc::new(State::default());
        let copies = Arc::new(Copies::new(l1, Arc::clone(&state)));
        let plan = Plan {
            manager: shared.manager().clone(),
            prefix: shared.prefix().to_owned(),
            channel: shared.channel().map(str::to_owned),
            origin: shared.origin().to_owned(),
            tracking: shared.tracking(),
        };
        let sink: Arc<dyn Sink> = copies.clone();
        let supervisor = Supervisor::start(plan, sink).map_err(RedisBuildError::Spawn)?;
        let slack_ms = ceil_ms(lifetime).min(shared.idle_ms() / 2).max(1);
        let inner = Inner { copies, state, l2, stats: StatsCounter::default(), slack_ms, _supervisor: supervisor };
        Ok(TieredCache { inner: Arc::new(inner) })
    }

    /// The L1 cache (its own statistics count L1 hits and copies).
    pub fn l1(&self) -> &L1 {
        &self.inner.copies.l1
    }

    /// The L2 cache.
    pub fn l2(&self) -> &RedisCache<K, V> {
        &self.inner.l2
    }

    /// Whether invalidation is live (L1 is in use only then).
    pub fn is_live(&self) -> bool {
        self.inner.state.is_live()
    }

    /// Which invalidation source is in use, and how it has fared.
    pub fn invalidation_stats(&self) -> InvalidationStats {
        self.inner.state.snapshot()
    }

    /// Waits until L1 holds no copy made stale by a write that completed
    /// before this call, wherever it was made: every invalidation the
    /// servers sent before the call has been applied (a `PING` on each
    /// invalidation connection and its reply), or invalidation went down or
    /// started over (both empty L1). Returns `false` if `timeout` passed
    /// first. It takes one round trip on the invalidation connections,
    /// plus up to 0.1 s for their threads to notice the request.
    ///
    /// Read-your-writes across processes: when another process writes and
    /// then tells this one (a queue message, an RPC), a call here before
    /// reading makes the read see that write, not an older L1 copy. Exact
    /// with client tracking; pub/sub over a cluster reaches the listening
    /// node across the cluster bus, which no `PING` waits for.
    ///
    /// An L1 removal listener that an invalidation runs (on the thread that
    /// reads invalidations, which answers the round) gets `false` at once.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ttlkit::{CacheBuilder, RedisOptions, SlidingTtlCache, TieredCache};
    ///
    /// let l2 = RedisOptions::new("redis://127.0.0.1:6379")
    ///     .build(CacheBuilder::<String, u64>::new().time_to_idle(Duration::from_secs(60)))?;
    /// let cache: TieredCache<String, u64> =
    ///     TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(5)), l2)?;
    /// // ... another process wrote "quota" and said so ...
    /// if cache.sync_invalidation(Duration::from_secs(1)) {
    ///     let fresh = cache.get("quota"); // not an L1 copy from before that write
    /// }
    /// # Ok::<(), ttlkit::RedisBuildError>(())
    /// ```
    pub fn sync_invalidation(&self, timeout: Duration) -> bool {
        self.inner.state.barrier.wait(timeout)
    }
}

impl<K, V, L1> SlidingTtlCache<K, V> for TieredCache<K, V, L1>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    V: Clone + Send + Sync + 'static + Serialize + DeserializeOwned,
    L1: SlidingTtlCache<K, V>,
{
    fn backend_name(&self) -> &'static str {
        "tiered"
    }

    /// L1, else L2 and an L1 copy. A Redis failure is a miss.
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let copies = &self.inner.copies;
        if let Some(v) = copies.l1.get(key) {
            self.inner.stats.lookup(true);
            return Some(v);
        }
        let d = key_digest(key);
        let stamp = copies.stamp(d);
        let l2 = self.inner.l2.shared();
        let found = match l2.read(key, Refresh::Lazy(self.inner.slack_ms)) {
            Ok(found) => found,
            Err(e) => {
                l2.failed(&e);
                None
            }
        };
        l2.stats().lookup(found.is_some());
        self.inner.stats.lookup(found.is_some());
        let (k, v) = found?;
        copies.fill(k, d, v.clone(), stamp);
        Some(v)
    }

    /// L1, else L2 without refreshing either; no L1 copy is made.
    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.copies.l1.peek(key).or_else(|| self.inner.l2.peek(key))
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peek(key).is_some()
    }

    /// Writes L2, then drops this cache's copy (with pub/sub, keeps the
    /// written value as the copy: its own write is not echoed back).
    fn insert(&self, key: K, value: V) {
        let (copies, l2) = (&self.inner.copies, self.inner.l2.shared());
        let d = key_digest(&key);
        let stamp = copies.stamp(d);
        let written = l2.write(key.clone(), value.clone());
        copies.forget(&key, d);
        match written {
            Ok(()) if self.inner.state.mode() == Some(InvalidationMode::PubSub) => {
                copies.fill(key, d, value, stamp.bumped());
            }
            Ok(()) => {}
            Err(e) => l2.failed(&e),
        }
    }

    /// Removes from L2 and L1; returns L2's value.
    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.inner.l2.remove(key);
        self.inner.copies.forget(key, key_digest(key));
        value
    }

    /// L1, else L2's cross-process single-flight load; keeps an L1 copy.
    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let copies = &self.inner.copies;
        if let Some(v) = copies.l1.get(&key) {
            self.inner.stats.lookup(true);
            return Ok(v);
        }
        let d = key_digest(&key);
        let stamp = copies.stamp(d);
        let (result, served) =
            self.inner.l2.shared().get_or_load(key.clone(), Refresh::Lazy(self.inner.slack_ms), init);
        match served {
            Served::Hit => self.inner.stats.lookup(true),
            Served::Miss => self.inner.stats.lookup(false),
            // Not a miss; L2's stats count it coalesced.
            Served::Coalesced => {}
        }
        if let Ok(v) = &result {
            copies.fill(key, d, v.clone(), stamp);
        }
        result
    }

    /// L2's [`len`](RedisCache::len) (L1 holds copies, not entries).
    fn len(&self) -> usize {
        self.inner.l2.len()
    }

    /// Clears L2 (other caches hear of each key, or of a clear-all), then
    /// drops every L1 copy.
    fn clear(&self) {
        self.inner.l2.clear();
        Sink::flush(self.inner.copies.as_ref());
    }

    /// Purges expired L1 copies; returns 0 (no entry left the cache: Redis
    /// expires L2 entries itself).
    fn purge_expired(&self) -> usize {
        self.inner.copies.l1.purge_expired();
        0
    }

    fn stats(&self) -> CacheStats {
        let own = self.inner.stats.snapshot();
        CacheStats { hits: own.hits, misses: own.misses, ..self.inner.l2.stats() }
    }

    /// L2's load counters; a coalesced caller's miss is taken back from
    /// this cache's own misses too.
    fn load_recorder(&self) -> LoadRecorder<'_> {
        self.inner.l2.load_recorder().with_front(&self.inner.stats)
    }
}
