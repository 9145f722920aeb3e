//! Two tiers: a local cache (L1) in front of a [`RedisCache`] (L2), with the
//! L1 copies of other processes invalidated through Redis pub/sub.
//!
//! The details are on [`TieredCache`].

#[path = "tiered/subscriber.rs"]
mod subscriber;

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::mutex::MutexCache;
use crate::backend::redis::load::Served;
use crate::backend::redis::{RedisBuildError, RedisCache};
use crate::builder::{BuildError, CacheBuilder, FromConfig};
use crate::cache::{CacheStats, SlidingTtlCache};
use crate::load_error::LoadError;
use crate::stats::{LoadRecorder, StatsCounter};
use subscriber::{Shared, Subscriber};

/// A local L1 (by default a [`MutexCache`]) in front of a shared
/// [`RedisCache`] L2, with cross-process invalidation of L1 copies.
///
/// # How it works
///
/// * **Reads** go to L1; an L1 miss reads L2 (`GETEX`, sliding the shared
///   idle deadline) and keeps a copy in L1. An L1 hit does not touch Redis,
///   so L1 must be short-lived: [`TieredCache::new`] gives L1 a time-to-live
///   equal to its idle timeout unless one is set. A key read every L1
///   lifetime refreshes L2 at least that often, so its L2 idle deadline
///   lags the last read by at most the L1 lifetime (an entry may expire from
///   L2 up to one L1 lifetime early, never late), and an L1 copy can be
///   served at most one L1 lifetime after the L2 entry expired or a lost
///   invalidation.
/// * **Writes** (`insert`, `remove`, `clear`) go to L2 first; the same Lua
///   script that writes publishes `<origin>k<key>` (or `<origin>*`) on
///   `<prefix>:inv`, then this cache updates its own L1.
/// * **Invalidation.** Each tiered cache runs one subscriber thread on a
///   connection of its own. A message from another cache removes that key
///   from L1; the thread skips its own cache's messages. Any fill of L1 that
///   raced with an invalidation (or with this process's own write) drops its
///   copy, so a stale value is never left behind by a race. Pub/sub is
///   at-most-once: while the subscription is down (Redis restart, network)
///   L1 is cleared and not used, and it is cleared again on resubscribing,
///   so missed messages cannot leave stale copies. The delay from a write
///   in one process to the L1 copy leaving another is one Redis hop plus
///   the subscriber's wake-up (about 0.1 ms on loopback; see the tests,
///   which measure it).
/// * **Drop.** The last handle stops the subscriber (a wake-up message makes
///   its blocking read return at once; a 100 ms read timeout is the
///   backstop when Redis is down) and joins it.
/// * **The removal listener** is L2's (the one given to the L2 builder): L1
///   copies come and go without being reported.
/// * **Statistics**: `hits` and `misses` are the tiered cache's (a hit in
///   either tier is a hit); inserts, load failures and removals are L2's.
///   [`TieredCache::l1`] and [`TieredCache::l2`] give each tier's own.
///
/// Build each tiered cache from its own [`RedisCache`] (not a clone of one
/// that another tiered cache uses): a cache skips the invalidations that
/// carry its L2's identity.
///
/// ```no_run
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, RedisOptions, SlidingTtlCache, TieredCache};
///
/// let l2 = RedisOptions::new("redis://127.0.0.1:6379")
///     .prefix("myapp:tokens")
///     .build(CacheBuilder::<String, String>::new().time_to_idle(Duration::from_secs(600)))?;
/// let l1 = CacheBuilder::new().time_to_idle(Duration::from_secs(2)).max_capacity(10_000);
/// let cache: TieredCache<String, String> = TieredCache::new(l1, l2)?;
/// cache.insert("user-1".to_string(), "token".to_string());
/// assert_eq!(cache.get("user-1").as_deref(), Some("token")); // from L1
/// # Ok::<(), ttlkit::RedisBuildError>(())
/// ```
pub struct TieredCache<K, V, L1 = MutexCache<K, V>> {
    inner: Arc<Inner<K, V, L1>>,
}

struct Inner<K, V, L1> {
    l1: L1,
    l2: RedisCache<K, V>,
    shared: Arc<Shared>,
    stats: StatsCounter,
    subscriber: Subscriber,
}

impl<K, V, L1> Drop for Inner<K, V, L1> {
    fn drop(&mut self) {
        let l2 = self.l2.shared();
        let (Some(channel), origin) = (l2.channel(), l2.origin()) else { return };
        self.subscriber.stop(|| {
            // Wake the blocked read with a message it will recognise.
            let wake = format!("{origin}!");
            if let Ok(mut c) = l2.manager().open() {
                let _ = redis::cmd("PUBLISH").arg(channel).arg(wake).query::<()>(&mut c);
            }
        });
    }
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
            .field("subscribed", &self.inner.shared.subscribed.load(SeqCst))
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
        let l1 = match (probe.time_to_live(), probe.time_to_idle()) {
            (Some(_), _) => l1,
            (None, Some(idle)) => l1.time_to_live(idle),
            (None, None) => {
                let needs = "time_to_live or time_to_idle";
                return Err(BuildError::MissingSetting { what: "a TieredCache's L1", needs }.into());
            }
        };
        drop(probe);
        Self::with_l1(l1.build()?, l2)
    }

    /// Puts an already built local cache in front of `l2`. Give it a short
    /// time-to-live: it bounds how long an L1 copy can outlive its L2 entry.
    pub fn with_l1(l1: L1, l2: RedisCache<K, V>) -> Result<Self, RedisBuildError> {
        let shared = l2.shared();
        let Some(channel) = shared.channel() else {
            return Err(RedisBuildError::Option(
                "a tiered cache needs its redis cache to publish invalidations (publish_invalidations(true))"
                    .to_owned(),
            ));
        };
        let state = Arc::new(Shared::default());
        let subscriber = Subscriber::start::<K, V, L1>(
            l1.clone(),
            Arc::clone(&state),
            shared.manager().clone(),
            channel.to_owned(),
            shared.origin().to_owned(),
        )
        .map_err(RedisBuildError::Spawn)?;
        Ok(TieredCache { inner: Arc::new(Inner { l1, l2, shared: state, stats: StatsCounter::default(), subscriber }) })
    }

    /// The L1 cache (its own statistics count L1 hits and copies).
    pub fn l1(&self) -> &L1 {
        &self.inner.l1
    }

    /// The L2 cache.
    pub fn l2(&self) -> &RedisCache<K, V> {
        &self.inner.l2
    }

    /// Whether the invalidation channel is live (L1 is in use only then).
    pub fn is_subscribed(&self) -> bool {
        self.inner.shared.subscribed.load(SeqCst)
    }

    /// How many times the subscriber has (re)subscribed.
    pub fn subscriptions(&self) -> u64 {
        self.inner.shared.subscriptions.load(SeqCst)
    }

    /// How many invalidations from other caches were applied to L1.
    pub fn invalidations_applied(&self) -> u64 {
        self.inner.shared.applied.load(SeqCst)
    }

    /// The invalidation epoch before an L2 read.
    fn epoch(&self) -> u64 {
        self.inner.shared.epoch.load(SeqCst)
    }

    /// Keeps an L1 copy of a value read from (or written to) L2 at `epoch`,
    /// unless an invalidation may have overtaken it.
    fn fill(&self, key: K, value: V, epoch: u64) {
        let s = &self.inner.shared;
        if !s.subscribed.load(SeqCst) {
            return;
        }
        self.inner.l1.insert(key.clone(), value);
        if s.epoch.load(SeqCst) != epoch || !s.subscribed.load(SeqCst) {
            self.inner.l1.remove(&key);
        }
    }

    /// Marks a write of this cache: a concurrent fill drops its copy.
    fn bump(&self) {
        self.inner.shared.epoch.fetch_add(1, SeqCst);
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

    /// L1, else L2 (`GETEX`) and an L1 copy. A Redis failure is a miss.
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(v) = self.inner.l1.get(key) {
            self.inner.stats.lookup(true);
            return Some(v);
        }
        let epoch = self.epoch();
        let l2 = self.inner.l2.shared();
        let found = match l2.read(key, true) {
            Ok(found) => found,
            Err(e) => {
                l2.failed(&e);
                None
            }
        };
        l2.stats().lookup(found.is_some());
        self.inner.stats.lookup(found.is_some());
        let (k, v) = found?;
        self.fill(k, v.clone(), epoch);
        Some(v)
    }

    /// L1, else L2 without refreshing either; no L1 copy is made.
    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.l1.peek(key).or_else(|| self.inner.l2.peek(key))
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.peek(key).is_some()
    }

    /// Writes L2 (publishing the invalidation), then L1.
    fn insert(&self, key: K, value: V) {
        let l2 = self.inner.l2.shared();
        match l2.write(key.clone(), value.clone()) {
            Ok(()) => {
                self.bump();
                let epoch = self.epoch();
                self.fill(key, value, epoch);
            }
            Err(e) => {
                l2.failed(&e);
                self.bump();
                self.inner.l1.remove(&key);
            }
        }
    }

    /// Removes from L2 (publishing the invalidation) and L1; returns L2's value.
    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.inner.l2.remove(key);
        self.bump();
        self.inner.l1.remove(key);
        value
    }

    /// L1, else L2's cross-process single-flight load; keeps an L1 copy.
    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        if let Some(v) = self.inner.l1.get(&key) {
            self.inner.stats.lookup(true);
            return Ok(v);
        }
        let epoch = self.epoch();
        let (result, served) = self.inner.l2.shared().get_or_load(key.clone(), init);
        match served {
            Served::Hit => self.inner.stats.lookup(true),
            Served::Miss => self.inner.stats.lookup(false),
            // Not a miss; L2's stats count it coalesced.
            Served::Coalesced => {}
        }
        if let Ok(v) = &result {
            self.fill(key, v.clone(), epoch);
        }
        result
    }

    /// L2's [`len`](RedisCache::len) (L1 holds copies, not entries).
    fn len(&self) -> usize {
        self.inner.l2.len()
    }

    /// Clears L2 (publishing a clear-all), then L1.
    fn clear(&self) {
        self.inner.l2.clear();
        self.bump();
        self.inner.l1.clear();
    }

    /// Purges expired L1 copies; returns 0 (no entry left the cache: Redis
    /// expires L2 entries itself).
    fn purge_expired(&self) -> usize {
        self.inner.l1.purge_expired();
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
