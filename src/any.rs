//! A backend chosen at run time by name.

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;

use crate::backend::moka::MokaCache;
use crate::backend::mutex::MutexCache;
use crate::backend::sharded::ShardedCache;
use crate::builder::{BuildError, CacheBuilder};
use crate::cache::{CacheStats, SlidingTtlCache};
use crate::invalidation::LoadTicket;

/// Any backend, picked by name at run time (from a config file or a flag).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::{AnyCache, CacheBuilder, SlidingTtlCache};
///
/// let cache = AnyCache::from_name("mutex", CacheBuilder::<u64, u64>::new(Duration::from_secs(60)))?;
/// cache.insert(1, 10);
/// assert_eq!(cache.get(&1), Some(10));
/// assert_eq!(cache.backend_name(), "mutex");
/// assert!(AnyCache::from_name("nope", CacheBuilder::<u64, u64>::new(Duration::from_secs(60))).is_err());
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyCache<K, V> {
    /// The [`MutexCache`] backend.
    Mutex(MutexCache<K, V>),
    /// The [`ShardedCache`] backend.
    Sharded(ShardedCache<K, V>),
    /// The [`MokaCache`] backend.
    Moka(MokaCache<K, V>),
}

impl<K, V> Clone for AnyCache<K, V> {
    fn clone(&self) -> Self {
        match self {
            AnyCache::Mutex(c) => AnyCache::Mutex(c.clone()),
            AnyCache::Sharded(c) => AnyCache::Sharded(c.clone()),
            AnyCache::Moka(c) => AnyCache::Moka(c.clone()),
        }
    }
}

/// The backend names [`AnyCache::from_name`] accepts.
pub const BACKEND_NAMES: &[&str] = &["mutex", "moka", "sharded"];

impl<K, V> AnyCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Builds the backend called `name` (see [`BACKEND_NAMES`]) from `builder`.
    pub fn from_name(name: &str, builder: CacheBuilder<K, V>) -> Result<Self, BuildError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "mutex" => Ok(AnyCache::Mutex(builder.build()?)),
            "sharded" => Ok(AnyCache::Sharded(builder.build()?)),
            "moka" => Ok(AnyCache::Moka(builder.build()?)),
            _ => Err(BuildError::UnknownBackend { name: name.to_owned(), known: BACKEND_NAMES.join(", ") }),
        }
    }
}

/// Forwards a call to whichever backend is inside.
macro_rules! dispatch {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            AnyCache::Mutex($c) => $call,
            AnyCache::Sharded($c) => $call,
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

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        dispatch!(self, c => c.remove(key))
    }

    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        dispatch!(self, c => c.try_get_or_insert_with(key, init))
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

    fn begin_load(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        dispatch!(self, c => c.begin_load(key))
    }

    fn commit_load(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        dispatch!(self, c => c.commit_load(key, value, ticket))
    }
}
