//! A backend chosen at run time, by [`BackendKind`] or by name.

use std::borrow::Borrow;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

#[cfg(feature = "moka")]
use crate::backend::moka::MokaCache;
use crate::backend::mutex::MutexCache;
#[cfg(feature = "sharded")]
use crate::backend::sharded::ShardedCache;
use crate::builder::{BuildError, CacheBuilder};
use crate::cache::{CacheStats, SlidingTtlCache, Unsupported};
use crate::entry::{Computed, Fetched, Op};
use crate::inspect::{EntryInfo, Iter};
use crate::invalidation::LoadTicket;
use crate::kind::BackendKind;
use crate::load_error::LoadError;
use crate::stats::LoadRecorder;

/// Any in-process backend, picked at run time (from a config file or a flag).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::prelude::*;
///
/// let builder = || CacheBuilder::<u64, u64>::new().time_to_idle(Duration::from_secs(60));
/// let cache = AnyCache::new(BackendKind::Mutex, builder())?;
/// cache.insert(1, 10);
/// assert_eq!(cache.get(&1), Some(10));
/// assert_eq!(cache.kind(), BackendKind::Mutex);
///
/// // The string form, for names read from a config file.
/// let named = AnyCache::from_name("mutex", builder())?;
/// assert_eq!(named.kind(), BackendKind::Mutex);
/// assert!(matches!(AnyCache::from_name("nope", builder()), Err(BuildError::UnknownBackend(_))));
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyCache<K, V> {
    /// The [`MutexCache`] backend.
    Mutex(MutexCache<K, V>),
    /// The [`ShardedCache`] backend.
    #[cfg(feature = "sharded")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sharded")))]
    Sharded(ShardedCache<K, V>),
    /// The [`MokaCache`] backend.
    #[cfg(feature = "moka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "moka")))]
    Moka(MokaCache<K, V>),
}

impl<K, V> Clone for AnyCache<K, V> {
    fn clone(&self) -> Self {
        match self {
            AnyCache::Mutex(c) => AnyCache::Mutex(c.clone()),
            #[cfg(feature = "sharded")]
            AnyCache::Sharded(c) => AnyCache::Sharded(c.clone()),
            #[cfg(feature = "moka")]
            AnyCache::Moka(c) => AnyCache::Moka(c.clone()),
        }
    }
}

impl<K, V> AnyCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Builds a backend of `kind` from `builder`.
    pub fn new(kind: BackendKind, builder: CacheBuilder<K, V>) -> Result<Self, BuildError> {
        Ok(match kind {
            BackendKind::Mutex => AnyCache::Mutex(builder.build()?),
            #[cfg(feature = "sharded")]
            BackendKind::Sharded => AnyCache::Sharded(builder.build()?),
            #[cfg(feature = "moka")]
            BackendKind::Moka => AnyCache::Moka(builder.build()?),
        })
    }

    /// The string form of [`new`](Self::new), for names from config files
    /// and flags: parses `name` with [`BackendKind::from_name`] (an unknown
    /// one is a [`BuildError::UnknownBackend`]) and builds that backend.
    pub fn from_name(name: &str, builder: CacheBuilder<K, V>) -> Result<Self, BuildError> {
        AnyCache::new(BackendKind::from_name(name)?, builder)
    }
}

impl<K, V> AnyCache<K, V> {
    /// Which backend is inside.
    pub fn kind(&self) -> BackendKind {
        match self {
            AnyCache::Mutex(_) => BackendKind::Mutex,
            #[cfg(feature = "sharded")]
            AnyCache::Sharded(_) => BackendKind::Sharded,
            #[cfg(feature = "moka")]
            AnyCache::Moka(_) => BackendKind::Moka,
        }
    }
}

/// Forwards a call to whichever backend is inside.
macro_rules! dispatch {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            AnyCache::Mutex($c) => $call,
            #[cfg(feature = "sharded")]
            AnyCache::Sharded($c) => $call,
            #[cfg(feature = "moka")]
            AnyCache::Moka($c) => $call,
        }
    };
}

impl<K, V> SlidingTtlCache<K, V> for AnyCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn backend_name(&self) -> &'static str {
        dispatch!(self, c => c.backend_name())
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, c => c.get(key))
    }

    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, c => c.peek(key))
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, c => c.contains_key(key))
    }

    fn insert(&self, key: K, value: V) {
        dispatch!(self, c => c.insert(key, value))
    }

    fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> Result<(), Unsupported> {
        dispatch!(self, c => c.insert_with_ttl(key, value, ttl))
    }

    fn set_max_capacity(&self, max: u64) -> Result<(), BuildError> {
        dispatch!(self, c => c.set_max_capacity(max))
    }

    fn coldest(&self, n: usize) -> Option<Vec<(K, V)>> {
        dispatch!(self, c => c.coldest(n))
    }

    fn hottest(&self, n: usize) -> Option<Vec<(K, V)>> {
        dispatch!(self, c => c.hottest(n))
    }

    fn set_time_to_idle(&self, d: Duration) -> Result<(), BuildError> {
        dispatch!(self, c => c.set_time_to_idle(d))
    }

    fn set_time_to_live(&self, d: Duration) -> Result<(), BuildError> {
        dispatch!(self, c => c.set_time_to_live(d))
    }

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, c => c.remove(key))
    }

    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        dispatch!(self, c => c.try_get_or_insert_with(key, init))
    }

    fn try_fetch_with<F, E>(&self, key: K, init: F) -> Result<Fetched<V>, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        dispatch!(self, c => c.try_fetch_with(key, init))
    }

    async fn try_fetch_async<Fut, E>(&self, key: K, init: Fut) -> Result<Fetched<V>, LoadError<E>>
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        dispatch!(self, c => c.try_fetch_async(key, init).await)
    }

    fn compute_with<F>(&self, key: K, f: F) -> Computed<V>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        dispatch!(self, c => c.compute_with(key, f))
    }

    async fn compute_async<F, Fut>(&self, key: K, f: F) -> Computed<V>
    where
        F: FnMut(Option<V>) -> Fut + Send,
        Fut: Future<Output = Op<V>> + Send,
    {
        dispatch!(self, c => c.compute_async(key, f).await)
    }

    fn len(&self) -> usize {
        dispatch!(self, c => c.len())
    }

    fn clear(&self) {
        dispatch!(self, c => c.clear())
    }

    fn purge_expired(&self) -> usize {
        dispatch!(self, c => c.purge_expired())
    }

    fn stats(&self) -> CacheStats {
        dispatch!(self, c => c.stats())
    }

    fn entry_info<Q>(&self, key: &Q) -> Option<EntryInfo>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, c => c.entry_info(key))
    }

    fn iter(&self) -> Iter<K, V> {
        dispatch!(self, c => c.iter())
    }

    fn weighted_size(&self) -> u64 {
        dispatch!(self, c => c.weighted_size())
    }

    fn retain<F>(&self, keep: F) -> usize
    where
        F: FnMut(&K, &V) -> bool,
    {
        dispatch!(self, c => c.retain(keep))
    }

    fn begin_load(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        dispatch!(self, c => c.begin_load(key))
    }

    fn commit_load(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        dispatch!(self, c => c.commit_load(key, value, ticket))
    }

    fn load_recorder(&self) -> LoadRecorder<'_> {
        dispatch!(self, c => c.load_recorder())
    }
}
