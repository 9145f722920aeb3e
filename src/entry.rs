//! The entry API: [`SlidingTtlCache::entry`] and what its methods return.

use std::future::Future;
use std::marker::PhantomData;

use crate::cache::SlidingTtlCache;
use crate::load_error::LoadError;

/// Where a load-through call's value came from.
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::Fetch;
///
/// let cache: MutexCache<&str, u32> = CacheBuilder::new().build()?;
/// assert_eq!(cache.entry("a").or_insert_with(|| 1).fetch, Fetch::Loaded, "this call ran init");
/// assert_eq!(cache.entry("a").or_insert_with(|| 2).fetch, Fetch::Hit, "init did not run");
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fetch {
    /// A live entry of the cache (also one due for refresh-ahead: a reload
    /// may have been started, and this value is current).
    Hit,
    /// This call's own `init`, which it ran as the load's leader (stored
    /// unless a write of the key came meanwhile).
    Loaded,
    /// Another caller's load, which this call waited on.
    Coalesced,
    /// A value past its deadline, served within the cache's
    /// [`serve_stale_for`](crate::CacheBuilder::serve_stale_for) window
    /// while one reload runs, or because that reload failed.
    Stale,
}

/// A load-through call's value and where it came from.
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::Fetch;
///
/// let cache: MutexCache<&str, u32> = CacheBuilder::new().build()?;
/// let first = cache.entry("a").or_insert_with(|| 1);
/// assert_eq!((first.value, first.fetch), (1, Fetch::Loaded));
/// let again = cache.entry("a").or_insert_with(|| 2);
/// assert_eq!(again.into_value(), 1);
/// assert!(!cache.entry("a").or_insert_with(|| 3).is_stale());
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched<V> {
    /// The value.
    pub value: V,
    /// Where it came from.
    pub fetch: Fetch,
}

impl<V> Fetched<V> {
    pub(crate) fn new(value: V, fetch: Fetch) -> Self {
        Fetched { value, fetch }
    }

    /// The value.
    pub fn into_value(self) -> V {
        self.value
    }

    /// Whether the value is past its deadline ([`Fetch::Stale`]).
    pub fn is_stale(&self) -> bool {
        self.fetch == Fetch::Stale
    }

    /// Whether this call's own `init` made it ([`Fetch::Loaded`]).
    pub fn is_loaded(&self) -> bool {
        self.fetch == Fetch::Loaded
    }
}

/// What an [`and_compute_with`](Entry::and_compute_with) closure asks for.
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::{Computed, Op};
///
/// let hits: MutexCache<&str, u32> = CacheBuilder::new().build()?;
/// let count = |v: Option<&u32>| Op::Put(v.map_or(1, |n| n + 1));
/// assert_eq!(hits.entry("page").and_compute_with(count), Computed::Inserted(1));
/// assert_eq!(hits.entry("page").and_compute_with(count), Computed::Replaced { old: 1, new: 2 });
/// assert_eq!(hits.entry("page").and_compute_with(|_| Op::Keep), Computed::Unchanged(Some(2)));
/// assert_eq!(hits.entry("page").and_compute_with(|_| Op::Remove), Computed::Removed(2));
/// assert_eq!(hits.get("page"), None);
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<V> {
    /// Store this value (a new lifetime; an older live value is reported
    /// `Replaced`).
    Put(V),
    /// Remove the live value, if any (reported `Explicit`).
    Remove,
    /// Change nothing.
    Keep,
}

/// What an [`and_compute_with`](Entry::and_compute_with) did.
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::{Computed, Op};
///
/// let cache: MutexCache<&str, String> = CacheBuilder::new().build()?;
/// cache.insert("name", "ada".to_string());
/// let done = cache.entry("name").and_compute_with(|v| Op::Put(v.map_or(String::new(), |s| s.to_uppercase())));
/// assert_eq!(done, Computed::Replaced { old: "ada".to_string(), new: "ADA".to_string() });
/// assert_eq!(done.into_current().as_deref(), Some("ADA"), "what the key holds now");
/// let gone = cache.entry("name").and_compute_with(|_| Op::Remove);
/// assert_eq!(gone.into_current(), None);
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Computed<V> {
    /// There was no live value; this one was stored.
    Inserted(V),
    /// The live value `old` was replaced by `new`.
    Replaced {
        /// The value the closure saw.
        old: V,
        /// The value stored.
        new: V,
    },
    /// The live value was removed.
    Removed(V),
    /// Nothing changed: the live value as the closure saw it, if any.
    Unchanged(Option<V>),
}

impl<V> Computed<V> {
    /// The key's live value after the compute, if any.
    pub fn into_current(self) -> Option<V> {
        match self {
            Computed::Inserted(v) | Computed::Replaced { new: v, .. } => Some(v),
            Computed::Removed(_) => None,
            Computed::Unchanged(v) => v,
        }
    }
}

/// One key of a cache, for a load or an atomic compute: from
/// [`SlidingTtlCache::entry`].
///
/// Every method is atomic per key against every other write, load, compute
/// and remove of that key made through the cache (on the in-process
/// backends; see each method for Redis and the tiered cache).
///
/// ```
/// use ttlkit::prelude::*;
/// use ttlkit::{Computed, Op};
///
/// let hits: MutexCache<&str, u64> = CacheBuilder::new().build()?;
/// let count = |n: Option<&u64>| Op::Put(n.copied().unwrap_or(0) + 1);
/// assert_eq!(hits.entry("/").and_compute_with(count), Computed::Inserted(1));
/// assert_eq!(hits.entry("/").and_compute_with(count), Computed::Replaced { old: 1, new: 2 });
/// // Remove it once it reaches 2, atomically.
/// let capped = hits.entry("/").and_compute_with(|n| if n == Some(&2) { Op::Remove } else { Op::Keep });
/// assert_eq!(capped, Computed::Removed(2));
/// # Ok::<(), BuildError>(())
/// ```
pub struct Entry<'a, K, V, C: ?Sized> {
    cache: &'a C,
    key: K,
    _value: PhantomData<fn() -> V>,
}

impl<K: std::fmt::Debug, V, C: ?Sized> std::fmt::Debug for Entry<'_, K, V, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("key", &self.key).finish_non_exhaustive()
    }
}

impl<'a, K, V, C> Entry<'a, K, V, C>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: SlidingTtlCache<K, V>,
{
    pub(crate) fn new(cache: &'a C, key: K) -> Self {
        Entry { cache, key, _value: PhantomData }
    }

    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The live value, or `init`'s, loaded single-flight and stored, as
    /// [`get_or_insert_with`](SlidingTtlCache::get_or_insert_with) does,
    /// with where it came from.
    ///
    /// # Panics
    ///
    /// On a recursive load of the key, or when it gives up waiting after
    /// the cache's `load_timeout` (the `or_try_` form returns these).
    pub fn or_insert_with(self, init: impl FnOnce() -> V) -> Fetched<V> {
        match self.cache.try_fetch_with(self.key, || Ok::<V, std::convert::Infallible>(init())) {
            Ok(fetched) => fetched,
            Err(e) => e.raise(),
        }
    }

    /// [`or_insert_with`](Self::or_insert_with) with a fallible `init`, as
    /// [`try_get_or_insert_with`](SlidingTtlCache::try_get_or_insert_with).
    pub fn or_try_insert_with<E>(self, init: impl FnOnce() -> Result<V, E>) -> Result<Fetched<V>, LoadError<E>>
    where
        E: Send + Sync + 'static,
    {
        self.cache.try_fetch_with(self.key, init)
    }

    /// The async [`or_insert_with`](Self::or_insert_with), as
    /// [`get_or_insert_async`](SlidingTtlCache::get_or_insert_async).
    pub fn or_insert_with_async<Fut>(self, init: Fut) -> impl Future<Output = Fetched<V>> + Send + 'a
    where
        Fut: Future<Output = V> + Send + 'static,
    {
        let loading =
            self.cache.try_fetch_async(self.key, async move { Ok::<V, std::convert::Infallible>(init.await) });
        async move {
            match loading.await {
                Ok(fetched) => fetched,
                Err(e) => e.raise(),
            }
        }
    }

    /// The async [`or_try_insert_with`](Self::or_try_insert_with).
    pub fn or_try_insert_with_async<Fut, E>(
        self,
        init: Fut,
    ) -> impl Future<Output = Result<Fetched<V>, LoadError<E>>> + Send + 'a
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        self.cache.try_fetch_async(self.key, init)
    }

    /// Atomically replaces the key's live value (or its absence) with what
    /// `f` makes of it: [`Op::Put`], [`Op::Remove`] or [`Op::Keep`].
    ///
    /// Atomic per key: loads, computes and the other callers' `entry`
    /// methods of the key wait while it runs; an `insert`, `remove` or
    /// `clear` of the key that lands while `f` runs makes `f` run again on
    /// what it left, so no write is lost (concurrent increments all count).
    /// `f` therefore must not have side effects it cannot repeat, and must
    /// not write the key itself (that panics, as it could never finish).
    /// `f` runs with no cache lock held. The read counts as an access (it
    /// refreshes the idle deadline); it counts no hit or miss.
    ///
    /// On Redis and the tiered cache (the trait's default) it is **not**
    /// atomic: it peeks, calls `f` once and writes.
    ///
    /// # Panics
    ///
    /// If `f` asks the cache to load the key (a recursive load), writes it,
    /// or the call gives up waiting for another caller's load after the
    /// cache's `load_timeout`.
    pub fn and_compute_with(self, f: impl FnMut(Option<&V>) -> Op<V>) -> Computed<V> {
        self.cache.compute_with(self.key, f)
    }

    /// The async [`and_compute_with`](Self::and_compute_with): `f` gets a
    /// clone of the live value and returns a future of the [`Op`]. While it
    /// runs the key's loads and computes wait; dropping the returned future
    /// changes nothing and lets them go on.
    pub fn and_compute_with_async<F, Fut>(self, f: F) -> impl Future<Output = Computed<V>> + Send + 'a
    where
        F: FnMut(Option<V>) -> Fut + Send + 'a,
        Fut: Future<Output = Op<V>> + Send + 'a,
    {
        self.cache.compute_async(self.key, f)
    }
}
