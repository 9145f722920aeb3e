//! [`ClientStore`]: one client per API key, created once, leased to its
//! callers, and released once it has left the store (idle, too old,
//! crowded out, removed) and its last lease is gone.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::any::AnyCache;
use crate::builder::BuildError;
use crate::cache::{RemovalCause, SlidingTtlCache};
use crate::client_store::api_key::ApiKey;
use crate::client_store::breaker::BreakerState;
use crate::client_store::builder::{ClientStoreBuilder, StoreBuildError, StoreSettings};
use crate::client_store::fingerprint::{Fingerprint, Fingerprinter};
use crate::client_store::keeper::Keeper;
use crate::client_store::lease::{Lease, StoredClient};
use crate::client_store::rate_limit::{Limited, RateLimiter};
use crate::client_store::store_stats::ClientStoreStats;
use crate::kind::BackendKind;
use crate::load_error::LoadError;
use crate::sweeper::{Sweep, Sweeper};

/// One API client per API key, on any [`SlidingTtlCache`] backend.
///
/// * The map key is the API key's keyed [`Fingerprint`], never the key.
/// * [`get_or_create`](Self::get_or_create) (and its async twin) is
///   single-flight per key: however many callers ask for a new key at once,
///   the factory runs once and they all get a [`Lease`] on the same
///   client. A factory error is returned to the callers that waited for it
///   and is not cached.
/// * A client leaves after [`idle_timeout`](ClientStoreBuilder::idle_timeout)
///   without use, after [`max_lifetime`](ClientStoreBuilder::max_lifetime)
///   however busy, when [`max_clients`](ClientStoreBuilder::max_clients)
///   crowds it out, or on [`remove`](Self::remove); the
///   [`on_leave`](ClientStoreBuilder::on_leave) hook receives it each time.
/// * A client that left is released (the
///   [`on_release`](ClientStoreBuilder::on_release) hook closes it) only
///   once its last lease is gone, and after the
///   [`release_grace`](ClientStoreBuilder::release_grace) window if one is
///   set: a response still streaming through it is never cut off.
///
/// `B` defaults to [`AnyCache`], the backend picked at run time.
/// Handles are cheap clones sharing one store.
///
/// ```
/// use std::convert::Infallible;
/// use ttlkit::client_store::{ApiKey, ClientStore, Lease};
/// use ttlkit::BackendKind;
///
/// struct Client { authorization: String }
///
/// let store = ClientStore::<Client>::with_backend(BackendKind::Mutex)?;
/// let key = ApiKey::new("sk-demo-1")?;
/// let make = |key: &ApiKey| Ok::<_, Infallible>(Client { authorization: key.bearer().to_string() });
///
/// let a = store.get_or_create(&key, make)?;
/// let b = store.get_or_create(&key, make)?;
/// assert!(Lease::ptr_eq(&a, &b), "the second call reuses the client");
/// assert_eq!(a.authorization, "Bearer sk-demo-1");
/// let stats = store.stats();
/// assert_eq!((stats.created, stats.reused, stats.held, stats.leases), (1, 1, 1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientStore<C, B = AnyCache<Fingerprint, StoredClient<C>>> {
    inner: Arc<Inner<C, B>>,
    /// The store's own maintenance (due releases, metrics), when it has
    /// any; owned by the handles, so the last one stops it.
    _task: Option<Arc<Sweeper>>,
}

struct Inner<C, B> {
    cache: B,
    keeper: Arc<Keeper<C>>,
    fingerprinter: Fingerprinter,
    settings: StoreSettings,
    created: AtomicU64,
    reused: AtomicU64,
    creation_failures: AtomicU64,
    limiter: Option<RateLimiter<Fingerprint>>,
    rate_limited: AtomicU64,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::client_store::store_metrics::StoreSeries>,
    /// Marks what the store still holds as gone when it is dropped (a
    /// function of the backend type, so `Drop` needs no bounds).
    drain: fn(&B),
}

/// What a store is built from (see [`ClientStore::from_parts`]).
pub(super) struct StoreParts<C, B> {
    pub(super) cache: B,
    pub(super) keeper: Arc<Keeper<C>>,
    pub(super) fingerprinter: Fingerprinter,
    pub(super) settings: StoreSettings,
    pub(super) limiter: Option<RateLimiter<Fingerprint>>,
    /// How often the store's own maintenance runs, if it needs any.
    pub(super) maintenance: Option<std::time::Duration>,
    #[cfg(feature = "metrics")]
    pub(super) metrics: Option<crate::client_store::store_metrics::StoreSeries>,
}

impl<C, B: Clone> Clone for ClientStore<C, B> {
    fn clone(&self) -> Self {
        ClientStore { inner: Arc::clone(&self.inner), _task: self._task.clone() }
    }
}

impl<C, B> fmt::Debug for ClientStore<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStore")
            .field("backend", &self.inner.cache.backend_name())
            .field("settings", &self.inner.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<C, B> Drop for Inner<C, B> {
    fn drop(&mut self) {
        (self.drain)(&self.cache);
    }
}

/// The last handle is gone: expired clients leave as usual (the leave hook
/// sees them), and every client still held is marked gone, so it is
/// released now or with its last lease.
fn drain<C, B>(cache: &B)
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>>,
{
    cache.purge_expired();
    for (_, stored) in cache.iter() {
        stored.leave_silently();
    }
}

impl<C, B> Inner<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>>,
{
    fn stats(&self) -> ClientStoreStats {
        let cache = self.cache.stats();
        let c = &self.keeper.counters;
        ClientStoreStats {
            held: self.cache.len(),
            created: self.created.load(Relaxed),
            reused: self.reused.load(Relaxed),
            creation_failures: self.creation_failures.load(Relaxed),
            expired: cache.removals(RemovalCause::Expired),
            evicted: cache.removals(RemovalCause::Capacity),
            removed: cache.removals(RemovalCause::Explicit) + cache.removals(RemovalCause::Cleared),
            replaced: cache.removals(RemovalCause::Replaced),
            hook_panics: cache.listener_panics + c.hook_panics.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            leases: c.leases.load(Relaxed),
            released: c.released.load(Relaxed),
            awaiting_release: self.keeper.awaiting_release(),
            breakers_tripped: c.breakers_tripped.load(Relaxed),
            breaker_opened: c.breaker_opened.load(Relaxed),
            breaker_half_opened: c.breaker_half_opened.load(Relaxed),
            breaker_closed: c.breaker_closed.load(Relaxed),
            breaker_rejected: c.breaker_rejected.load(Relaxed),
            retries: c.retries.load(Relaxed),
            retry_budget_exhausted: c.retry_budget_exhausted.load(Relaxed),
        }
    }

    #[cfg(feature = "metrics")]
    fn publish_metrics(&self) -> bool {
        let Some(series) = &self.metrics else { return false };
        series.publish(&self.stats(), &crate::metrics::Snapshot::of(&self.cache));
        true
    }
}

impl<C, B> Sweep for Inner<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>>,
{
    fn sweep_batch(&self) -> bool {
        self.keeper.run_due_releases();
        #[cfg(feature = "metrics")]
        self.publish_metrics();
        false
    }
}

impl<C, B> ClientStore<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>> + 'static,
{
    /// The store's full bound, and a resize of it that holds the store
    /// weakly (`None` once the store is gone): what a
    /// [`MemoryGuard`](crate::MemoryGuard) watches. Refused as the backend
    /// refuses a resize.
    pub(crate) fn resizer(&self) -> Result<(u64, crate::pressure::Resize), BuildError> {
        let full = self.inner.settings.max_clients;
        // A resize to the same bound changes nothing but says whether it can.
        self.inner.cache.set_max_capacity(full)?;
        let weak = Arc::downgrade(&self.inner);
        Ok((full, Box::new(move |n| weak.upgrade().map(|inner| inner.cache.set_max_capacity(n)))))
    }
}

impl<C> ClientStore<C>
where
    C: Send + Sync + 'static,
{
    /// A builder with the defaults (idle 1 h, sweep every 5 min, max
    /// lifetime 24 h, at most 10,000 clients).
    pub fn builder() -> ClientStoreBuilder<C> {
        ClientStoreBuilder::new()
    }

    /// A store with every default on a backend of `kind`.
    pub fn with_backend(kind: BackendKind) -> Result<ClientStore<C>, StoreBuildError> {
        ClientStoreBuilder::new().build_backend(kind)
    }
}

impl<C, B> ClientStore<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>>,
{
    pub(super) fn from_parts(parts: StoreParts<C, B>) -> Result<Self, StoreBuildError> {
        #[cfg(feature = "metrics")]
        if let Some(series) = &parts.metrics {
            parts.cache.load_recorder().name_load_series(series.name());
        }
        let inner = Arc::new(Inner {
            cache: parts.cache,
            keeper: parts.keeper,
            fingerprinter: parts.fingerprinter,
            settings: parts.settings,
            created: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            creation_failures: AtomicU64::new(0),
            limiter: parts.limiter,
            rate_limited: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            metrics: parts.metrics,
            drain: drain::<C, B>,
        });
        let task = match parts.maintenance {
            Some(every) => {
                Some(Arc::new(Sweeper::start(Arc::downgrade(&inner), every).map_err(crate::BuildError::SpawnSweeper)?))
            }
            None => None,
        };
        Ok(ClientStore { inner, _task: task })
    }

    /// Returns a lease on the client for `key`, creating the client with
    /// `create` if the store has none (or only an expired one).
    ///
    /// Single-flight: concurrent callers for the same key block until one
    /// `create` finishes and share its client (only the first caller's
    /// `create` runs). An error from `create` goes to this caller and to
    /// those that waited, as one shared [`LoadError`] (a
    /// `std::error::Error` when `E` is `Display + Debug`), and is not cached: the next call
    /// runs `create` again. `create` runs with no store lock held.
    ///
    /// A [`remove`](Self::remove) or [`clear`](Self::clear) made while
    /// `create` runs wins (the key was revoked meanwhile): the new client is
    /// leased to this caller and those that waited, but is not stored. It
    /// never enters the store, so the leave hook never receives it; it is
    /// released with its last lease, and the next call creates anew.
    pub fn get_or_create<F, E>(&self, key: &ApiKey, create: F) -> Result<Lease<C>, LoadError<E>>
    where
        F: FnOnce(&ApiKey) -> Result<C, E>,
        E: Send + Sync + 'static,
    {
        let fingerprint = self.fingerprint(key);
        let mut create = Some(create);
        loop {
            let (mut ran, mut made) = (false, None);
            let result = self.inner.cache.try_get_or_insert_with(fingerprint, || {
                ran = true;
                let Some(create) = create.take() else {
                    unreachable!("a call that ran the factory returns: it never loops back to run it again")
                };
                let lease = StoredClient::file(&self.inner.keeper, fingerprint, Arc::new(create(key)?), true);
                let stored = lease.stored().clone();
                made = Some(lease);
                Ok(stored)
            });
            if let Some(lease) = self.settle(ran, made, result)? {
                return Ok(lease);
            }
        }
    }

    /// Turns a lookup-or-create into a lease: the one taken on a client
    /// this caller made, or a new one on the client found. `Ok(None)`: the
    /// client found was released meanwhile (it left the store and its last
    /// lease went while this caller looked), so look again.
    pub(super) fn settle<E>(
        &self,
        ran: bool,
        made: Option<Lease<C>>,
        result: Result<StoredClient<C>, LoadError<E>>,
    ) -> Result<Option<Lease<C>>, LoadError<E>> {
        let stored = match result {
            Ok(stored) => stored,
            Err(e) => {
                if ran {
                    self.inner.creation_failures.fetch_add(1, Relaxed);
                }
                return Err(e);
            }
        };
        if let Some(lease) = made {
            let filed = self.inner.cache.peek(lease.fingerprint());
            if !filed.is_some_and(|s| StoredClient::ptr_eq(&s, lease.stored())) {
                // A remove or clear during the creation won: it was never stored.
                lease.stored().leave_silently();
            }
            self.inner.created.fetch_add(1, Relaxed);
            return Ok(Some(lease));
        }
        let lease = stored.try_lease();
        if lease.is_some() {
            self.inner.reused.fetch_add(1, Relaxed);
        }
        Ok(lease)
    }

    /// The backend.
    #[cfg(feature = "async")]
    pub(super) fn cache(&self) -> &B {
        &self.inner.cache
    }

    #[cfg(feature = "async")]
    pub(super) fn keeper(&self) -> &Arc<Keeper<C>> {
        &self.inner.keeper
    }

    /// Files `client`, made and owned by the application, under `key` (in
    /// place of any client there, which leaves as
    /// [`RemovalCause::Replaced`]) and returns a lease on it. It is leased,
    /// limited and broken like any other, and the leave hook sees it go; but
    /// the store did not create it, so the release hook never runs for it:
    /// closing it is its owner's business.
    pub fn adopt(&self, key: &ApiKey, client: Arc<C>) -> Lease<C> {
        let fingerprint = self.fingerprint(key);
        let lease = StoredClient::file(&self.inner.keeper, fingerprint, client, false);
        self.inner.cache.insert(fingerprint, lease.stored().clone());
        lease
    }

    /// The fingerprint the store files `key` under: safe to log.
    pub fn fingerprint(&self, key: &ApiKey) -> Fingerprint {
        self.inner.fingerprinter.fingerprint(key)
    }

    /// Whether a live client exists for `key` (refreshes nothing).
    pub fn contains(&self, key: &ApiKey) -> bool {
        self.inner.cache.contains_key(&self.fingerprint(key))
    }

    /// The circuit breaker of `key`'s client, if the store runs breakers
    /// and holds a live client for it (refreshes nothing).
    pub fn breaker_state(&self, key: &ApiKey) -> Option<BreakerState> {
        self.inner.cache.peek(&self.fingerprint(key))?.breaker_state()
    }

    /// Takes the client for `key` out (say the key was revoked) and returns
    /// it if it was live; the leave hook receives it with
    /// [`RemovalCause::Explicit`], and it is released once its leases are
    /// gone. A client being created for `key` at that moment is not stored
    /// (see [`get_or_create`](Self::get_or_create)).
    pub fn remove(&self, key: &ApiKey) -> Option<Arc<C>> {
        self.inner.cache.remove(&self.fingerprint(key)).map(|s| Arc::clone(s.client()))
    }

    /// Takes every client out (hook cause [`RemovalCause::Cleared`]). Clients
    /// being created at that moment are not stored (see
    /// [`get_or_create`](Self::get_or_create)).
    pub fn clear(&self) {
        self.inner.cache.clear();
    }

    /// Removes every expired client now (each reaches the hook as
    /// [`RemovalCause::Expired`]) and runs the releases whose grace window
    /// has passed; returns how many clients expired. The sweeper does the
    /// first on its own every `sweep_interval`.
    pub fn purge_expired(&self) -> usize {
        let expired = self.inner.cache.purge_expired();
        self.inner.keeper.run_due_releases();
        expired
    }

    /// Runs the releases whose grace window has passed; returns how many.
    /// The store does this on its own a few times per grace window.
    pub fn release_due(&self) -> usize {
        self.inner.keeper.run_due_releases()
    }

    /// Clients held, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        self.inner.cache.len()
    }

    /// Whether no client is held.
    pub fn is_empty(&self) -> bool {
        self.inner.cache.is_empty()
    }

    /// The backend's name (`"mutex"`, ...).
    pub fn backend_name(&self) -> &'static str {
        self.inner.cache.backend_name()
    }

    /// The settings the store was built with.
    pub fn settings(&self) -> StoreSettings {
        self.inner.settings
    }

    /// Counters since the store was built.
    pub fn stats(&self) -> ClientStoreStats {
        self.inner.stats()
    }

    /// Publishes the store's series through the `metrics` facade now (see
    /// [`ClientStoreBuilder::metrics`]); false for a store built without a
    /// name, which publishes nothing. A named store also publishes on its
    /// own every `metrics_interval`; a scrape handler may call this first
    /// for up-to-date numbers.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn publish_metrics(&self) -> bool {
        self.inner.publish_metrics()
    }

    /// Whether a request for `key` may go upstream now under the store's
    /// per-key rate limit ([`ClientStoreBuilder::rate_limit`]); always
    /// `Ok` without one. A refusal says how long until one would pass and
    /// is counted in [`ClientStoreStats::rate_limited`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ttlkit::client_store::{ApiKey, ClientStore, Quota};
    /// use ttlkit::clock::MockClock;
    /// use ttlkit::BackendKind;
    ///
    /// let clock = MockClock::new();
    /// let store = ClientStore::<()>::builder()
    ///     .clock(clock.clone())
    ///     .rate_limit(Quota::per_second(2, 2)?)
    ///     .build_backend(BackendKind::Mutex)?;
    /// let key = ApiKey::new("sk-demo-1")?;
    /// assert!(store.admit(&key).is_ok() && store.admit(&key).is_ok(), "a burst of 2");
    /// let refused = store.admit(&key).unwrap_err();
    /// assert_eq!(refused.retry_in, Duration::from_millis(500));
    /// clock.advance(refused.retry_in);
    /// assert!(store.admit(&key).is_ok());
    /// assert_eq!(store.stats().rate_limited, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admit(&self, key: &ApiKey) -> Result<(), Limited> {
        let Some(limiter) = &self.inner.limiter else { return Ok(()) };
        let refused = limiter.check(&self.fingerprint(key));
        if refused.is_err() {
            self.inner.rate_limited.fetch_add(1, Relaxed);
        }
        refused
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
