//! [`ClientStore`]: one client per API key, created once, shared, and
//! released when idle, too old, or crowded out.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::any::AnyCache;
use crate::cache::{RemovalCause, SlidingTtlCache};
use crate::client_store::api_key::ApiKey;
use crate::client_store::builder::{ClientStoreBuilder, StoreBuildError, StoreSettings};
use crate::client_store::fingerprint::{Fingerprint, Fingerprinter};
use crate::client_store::rate_limit::{Limited, RateLimiter};
use crate::kind::BackendKind;
use crate::load_error::LoadError;

/// One API client per API key, on any [`SlidingTtlCache`] backend.
///
/// * The map key is the API key's keyed [`Fingerprint`], never the key.
/// * [`get_or_create`](Self::get_or_create) (and its async twin) is
///   single-flight per key: however many callers ask for a new key at once,
///   the factory runs once and they all get the same `Arc<C>`. A factory
///   error is returned to the callers that waited for it and is not cached.
/// * A client leaves after [`idle_timeout`](ClientStoreBuilder::idle_timeout)
///   without use, after [`max_lifetime`](ClientStoreBuilder::max_lifetime)
///   however busy, when [`max_clients`](ClientStoreBuilder::max_clients)
///   crowds it out, or on [`remove`](Self::remove); the
///   [`on_leave`](ClientStoreBuilder::on_leave) hook receives it each time.
///
/// `B` defaults to [`AnyCache`], the backend picked at run time.
/// Handles are cheap clones sharing one store.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use ttlkit::client_store::{ApiKey, ClientStore};
/// use ttlkit::BackendKind;
///
/// struct Client { authorization: String }
///
/// let store = ClientStore::<Client>::with_backend(BackendKind::Mutex)?;
/// let key = ApiKey::new("sk-demo-1")?;
/// let make = |key: &ApiKey| Ok::<_, Infallible>(Client { authorization: key.bearer().to_string() });
///
/// let a = store.get_or_create(&key, make).map_err(|e| e.to_string())?;
/// let b = store.get_or_create(&key, make).map_err(|e| e.to_string())?;
/// assert!(Arc::ptr_eq(&a, &b), "the second call reuses the client");
/// assert_eq!(a.authorization, "Bearer sk-demo-1");
/// let stats = store.stats();
/// assert_eq!((stats.created, stats.reused, stats.held), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ClientStore<C, B = AnyCache<Fingerprint, Arc<C>>> {
    cache: B,
    shared: Arc<Shared<C>>,
}

struct Shared<C> {
    fingerprinter: Fingerprinter,
    settings: StoreSettings,
    created: AtomicU64,
    reused: AtomicU64,
    creation_failures: AtomicU64,
    limiter: Option<RateLimiter<Fingerprint>>,
    rate_limited: AtomicU64,
    _client: std::marker::PhantomData<fn() -> C>,
}

/// A snapshot of a store's counters. Contains no key material.
///
/// ```
/// use std::convert::Infallible;
/// use ttlkit::client_store::{ApiKey, ClientStore, ClientStoreStats};
/// use ttlkit::BackendKind;
///
/// struct Client;
/// let store = ClientStore::<Client>::with_backend(BackendKind::Mutex)?;
/// let key = ApiKey::new("sk-demo-1")?;
/// store.get_or_create(&key, |_| Ok::<_, Infallible>(Client)).map_err(|e| e.to_string())?;
/// let failed = store.get_or_create(&ApiKey::new("sk-demo-2")?, |_| Err::<Client, _>("refused"));
/// assert!(failed.is_err());
/// let stats: ClientStoreStats = store.stats();
/// assert_eq!((stats.held, stats.created, stats.creation_failures), (1, 1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClientStoreStats {
    /// Clients held now, including expired ones not yet purged.
    pub held: usize,
    /// Clients the factory created.
    pub created: u64,
    /// Calls answered with an existing client (or one another caller was
    /// creating at the same time).
    pub reused: u64,
    /// Factory calls that returned an error (not cached).
    pub creation_failures: u64,
    /// Clients that left because they idled out or reached their max lifetime.
    pub expired: u64,
    /// Clients that left to make room under `max_clients`.
    pub evicted: u64,
    /// Clients taken out by `remove` or `clear`.
    pub removed: u64,
    /// Clients replaced by a concurrent creation for the same key.
    pub replaced: u64,
    /// Calls of the leave hook that panicked (the panic was contained).
    pub hook_panics: u64,
    /// Calls [`ClientStore::admit`] refused under the rate limit.
    pub rate_limited: u64,
}

impl fmt::Display for ClientStoreStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "held {} created {} reused {} creation_failures {} expired {} evicted {} removed {} replaced {} hook_panics {} \
             rate_limited {}",
            self.held,
            self.created,
            self.reused,
            self.creation_failures,
            self.expired,
            self.evicted,
            self.removed,
            self.replaced,
            self.hook_panics,
            self.rate_limited
        )
    }
}

impl<C, B: Clone> Clone for ClientStore<C, B> {
    fn clone(&self) -> Self {
        ClientStore { cache: self.cache.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<C, B> fmt::Debug for ClientStore<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, Arc<C>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStore")
            .field("backend", &self.cache.backend_name())
            .field("settings", &self.shared.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
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
    B: SlidingTtlCache<Fingerprint, Arc<C>>,
{
    pub(super) fn from_parts(
        cache: B,
        fingerprinter: Fingerprinter,
        settings: StoreSettings,
        limiter: Option<RateLimiter<Fingerprint>>,
    ) -> Self {
        ClientStore {
            cache,
            shared: Arc::new(Shared {
                fingerprinter,
                settings,
                created: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                creation_failures: AtomicU64::new(0),
                limiter,
                rate_limited: AtomicU64::new(0),
                _client: std::marker::PhantomData,
            }),
        }
    }

    /// Returns the client for `key`, creating it with `create` if the store
    /// has none (or only an expired one).
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
    /// handed to this caller and those that waited, but is not stored. It
    /// never enters the store, so the leave hook never receives it; it is
    /// dropped with the callers' last `Arc`, and the next call creates anew.
    pub fn get_or_create<F, E>(&self, key: &ApiKey, create: F) -> Result<Arc<C>, LoadError<E>>
    where
        F: FnOnce(&ApiKey) -> Result<C, E>,
        E: Send + Sync + 'static,
    {
        let mut ran = false;
        let result = self.cache.try_get_or_insert_with(self.fingerprint(key), || {
            ran = true;
            create(key).map(Arc::new)
        });
        self.count(ran, result.is_ok());
        result
    }

    /// Tallies one `get_or_create*` call.
    pub(super) fn count(&self, ran_factory: bool, ok: bool) {
        let counter = match (ran_factory, ok) {
            (true, true) => &self.shared.created,
            (true, false) => &self.shared.creation_failures,
            (false, true) => &self.shared.reused,
            (false, false) => return, // shared another caller's failure
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The backend.
    #[cfg(feature = "async")]
    pub(super) fn cache(&self) -> &B {
        &self.cache
    }

    /// The fingerprint the store files `key` under: safe to log.
    pub fn fingerprint(&self, key: &ApiKey) -> Fingerprint {
        self.shared.fingerprinter.fingerprint(key)
    }

    /// Whether a live client exists for `key` (refreshes nothing).
    pub fn contains(&self, key: &ApiKey) -> bool {
        self.cache.contains_key(&self.fingerprint(key))
    }

    /// Takes the client for `key` out (say the key was revoked) and returns
    /// it if it was live; the leave hook receives it with
    /// [`RemovalCause::Explicit`]. A client being created for `key` at that
    /// moment is not stored (see [`get_or_create`](Self::get_or_create)).
    pub fn remove(&self, key: &ApiKey) -> Option<Arc<C>> {
        self.cache.remove(&self.fingerprint(key))
    }

    /// Takes every client out (hook cause [`RemovalCause::Cleared`]). Clients
    /// being created at that moment are not stored (see
    /// [`get_or_create`](Self::get_or_create)).
    pub fn clear(&self) {
        self.cache.clear();
    }

    /// Removes every expired client now (each reaches the hook as
    /// [`RemovalCause::Expired`]); returns how many. The sweeper does this
    /// on its own every `sweep_interval`.
    pub fn purge_expired(&self) -> usize {
        self.cache.purge_expired()
    }

    /// Clients held, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no client is held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The backend's name (`"mutex"`, ...).
    pub fn backend_name(&self) -> &'static str {
        self.cache.backend_name()
    }

    /// The settings the store was built with.
    pub fn settings(&self) -> StoreSettings {
        self.shared.settings
    }

    /// Counters since the store was built.
    pub fn stats(&self) -> ClientStoreStats {
        let cache = self.cache.stats();
        ClientStoreStats {
            held: self.cache.len(),
            created: self.shared.created.load(Relaxed),
            reused: self.shared.reused.load(Relaxed),
            creation_failures: self.shared.creation_failures.load(Relaxed),
            expired: cache.removals(RemovalCause::Expired),
            evicted: cache.removals(RemovalCause::Capacity),
            removed: cache.removals(RemovalCause::Explicit) + cache.removals(RemovalCause::Cleared),
            replaced: cache.removals(RemovalCause::Replaced),
            hook_panics: cache.listener_panics,
            rate_limited: self.shared.rate_limited.load(Relaxed),
        }
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
        let Some(limiter) = &self.shared.limiter else { return Ok(()) };
        let refused = limiter.check(&self.fingerprint(key));
        if refused.is_err() {
            self.shared.rate_limited.fetch_add(1, Relaxed);
        }
        refused
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;

    use super::*;
    use crate::clock::MockClock;

    struct Client(u32);

    fn store(hook: impl Fn(&Fingerprint, Arc<Client>, RemovalCause) + Send + Sync + 'static) -> ClientStore<Client> {
        ClientStore::builder()
            .clock(MockClock::new())
            .no_sweeper()
            .on_leave(hook)
            .build_backend(BackendKind::Mutex)
            .unwrap()
    }

    fn make(n: u32) -> impl FnOnce(&ApiKey) -> Result<Client, Infallible> {
        move |_| Ok(Client(n))
    }

    #[test]
    fn remove_clear_and_contains() {
        let left = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&left);
        let s = store(move |_, c: Arc<Client>, cause| log.lock().unwrap().push((c.0, cause)));
        let (a, b) = (ApiKey::new("sk-a").unwrap(), ApiKey::new("sk-b").unwrap());
        assert!(!s.contains(&a) && s.is_empty());
        s.get_or_create(&a, make(1)).unwrap();
        s.get_or_create(&b, make(2)).unwrap();
        assert!(s.contains(&a));
        assert_eq!(s.remove(&a).map(|c| c.0), Some(1));
        assert_eq!(s.remove(&a).map(|c| c.0), None);
        s.clear();
        assert_eq!(*left.lock().unwrap(), vec![(1, RemovalCause::Explicit), (2, RemovalCause::Cleared)]);
        let stats = s.stats();
        assert_eq!((stats.created, stats.removed, stats.held), (2, 2, 0));
        assert_eq!(s.backend_name(), "mutex");
    }

    #[test]
    fn panicking_hook_is_contained_and_counted() {
        let s = store(|_, _, _| panic!("hook failed"));
        let key = ApiKey::new("sk-a").unwrap();
        s.get_or_create(&key, make(1)).unwrap();
        assert!(s.remove(&key).is_some());
        assert_eq!(s.stats().hook_panics, 1);
        assert_eq!(s.get_or_create(&key, make(2)).unwrap().0, 2, "the store carries on");
    }

    /// A store on `backend` with a mock clock and no sweeper.
    fn on(backend: BackendKind) -> ClientStore<Client> {
        ClientStore::builder().clock(MockClock::new()).no_sweeper().build_backend(backend).unwrap()
    }

    #[test]
    fn remove_or_clear_during_creation_wins() {
        for &backend in BackendKind::ALL {
            for clear in [false, true] {
                let s = on(backend);
                let key = ApiKey::new("sk-a").unwrap();
                let (entered_tx, entered_rx) = std::sync::mpsc::channel();
                let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
                let (s2, k2) = (s.clone(), key.clone());
                let creator = std::thread::spawn(move || {
                    let create = move |_: &ApiKey| {
                        entered_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                        Ok::<_, Infallible>(Client(1))
                    };
                    s2.get_or_create(&k2, create).unwrap().0
                });
                entered_rx.recv().unwrap();
                if clear {
                    s.clear();
                } else {
                    assert!(s.remove(&key).is_none());
                }
                release_tx.send(()).unwrap();
                assert_eq!(creator.join().unwrap(), 1, "the caller gets the client it made");
                assert!(!s.contains(&key), "{backend}: the revocation made during creation wins (clear: {clear})");
                assert_eq!(s.get_or_create(&key, make(2)).unwrap().0, 2, "the next call creates afresh");
            }
        }
    }

    #[cfg(feature = "async")]
    #[tokio::test(flavor = "current_thread")]
    async fn remove_during_async_creation_wins() {
        for &backend in BackendKind::ALL {
            let s = on(backend);
            let key = ApiKey::new("sk-a").unwrap();
            let (entered_tx, entered) = tokio::sync::oneshot::channel();
            let gate = Arc::new(tokio::sync::Notify::new());
            let creator = {
                let (s, key, gate) = (s.clone(), key.clone(), Arc::clone(&gate));
                tokio::spawn(async move {
                    let create = |_: ApiKey| async move {
                        let _ = entered_tx.send(());
                        gate.notified().await;
                        Ok::<_, Infallible>(Client(1))
                    };
                    s.get_or_create_async(&key, create).await.unwrap().0
                })
            };
            entered.await.unwrap();
            assert!(s.remove(&key).is_none());
            gate.notify_one();
            assert_eq!(creator.await.unwrap(), 1);
            assert!(!s.contains(&key), "{backend}: the remove made during creation wins");
        }
    }

    #[test]
    fn failures_are_counted_not_cached() {
        let s = store(|_, _, _| {});
        let key = ApiKey::new("sk-a").unwrap();
        let err = s.get_or_create(&key, |_| Err::<Client, _>("no route"));
        assert_eq!(err.err().and_then(|e| e.get().copied()), Some("no route"));
        assert_eq!(s.get_or_create(&key, make(7)).map(|c| c.0).ok(), Some(7));
        let stats = s.stats();
        assert_eq!((stats.creation_failures, stats.created, stats.reused), (1, 1, 0));
        assert!(stats.to_string().contains("creation_failures 1"));
    }

    #[test]
    fn admit_limits_each_key_with_its_own_quota() {
        use crate::client_store::Quota;
        use std::time::Duration;
        let clock = MockClock::new();
        let vip = ApiKey::new("sk-vip").unwrap();
        let fingerprinter = Fingerprinter::random().unwrap();
        let vip_fp = fingerprinter.fingerprint(&vip);
        let s = ClientStore::<Client>::builder()
            .clock(clock.clone())
            .fingerprinter(fingerprinter)
            .rate_limit(Quota::per_second(1, 1).unwrap())
            .rate_limit_overrides(move |fp| (*fp == vip_fp).then(|| Quota::per_second(10, 3).unwrap()))
            .build_backend(BackendKind::Mutex)
            .unwrap();
        let plain = ApiKey::new("sk-plain").unwrap();
        assert!(s.admit(&plain).is_ok());
        assert_eq!(s.admit(&plain).map_err(|l| l.retry_in), Err(Duration::from_secs(1)));
        assert!((0..3).all(|_| s.admit(&vip).is_ok()), "the override's burst of 3");
        assert!(s.admit(&vip).is_err());
        clock.advance(Duration::from_millis(100));
        assert!(s.admit(&vip).is_ok(), "one per 100 ms");
        assert_eq!(s.stats().rate_limited, 2);
        assert!(s.stats().to_string().ends_with("rate_limited 2"));
        let unlimited = store(|_, _, _| {});
        assert!((0..1_000).all(|_| unlimited.admit(&plain).is_ok()), "no limit set: all admitted");
        let orphan = ClientStore::<Client>::builder().rate_limit_overrides(|_| None).build_backend(BackendKind::Mutex);
        assert!(matches!(orphan, Err(StoreBuildError::Config(crate::BuildError::MissingSetting { .. }))), "{orphan:?}");
    }
}
