//! [`ClientStoreBuilder`]: the store's settings, their defaults and checks.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::any::AnyCache;
use crate::builder::{BuildError, CacheBuilder, FromConfig, MAX_DURATION};
use crate::cache::{RemovalCause, SlidingTtlCache};
use crate::client_store::breaker::{BreakerError, BreakerSettings};
use crate::client_store::fingerprint::{Fingerprint, Fingerprinter, NoRandomness};
use crate::client_store::keeper::{Keeper, KeeperSettings, ReleaseHook};
use crate::client_store::lease::StoredClient;
use crate::client_store::rate_limit::{Quota, RateLimiter, RateLimiterBuilder};
use crate::client_store::retry::RetryPolicy;
use crate::client_store::retry_budget::BudgetSettings;
use crate::client_store::store::{ClientStore, StoreParts};
use crate::clock::{Clock, ClockSource, SystemClock, Ticks};
use crate::kind::BackendKind;

/// Idle timeout by default: one hour, long enough that a client used a few
/// times an hour keeps its connections.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Sweep interval by default: five minutes (idle clients leave within five
/// minutes of their deadline without traffic, at little sweeping cost).
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Max lifetime by default: a day, so a rotated key's client dies even if it
/// is used every second.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// Max clients by default.
pub const DEFAULT_MAX_CLIENTS: u64 = 10_000;
/// How often a named store publishes its metrics by default.
#[cfg(feature = "metrics")]
const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// Called with each client that leaves the store, so the app can drain or
/// close it: its key's fingerprint, the client, and why it left
/// ([`RemovalCause::Expired`], [`RemovalCause::Capacity`] for an eviction,
/// [`RemovalCause::Explicit`] for [`ClientStore::remove`], ...).
///
/// ```
/// use std::sync::Arc;
/// use ttlkit::client_store::{Fingerprint, LeaveHook};
/// use ttlkit::RemovalCause;
///
/// struct Client;
/// // What `ClientStoreBuilder::on_leave` keeps: close or drain the client here.
/// let hook: LeaveHook<Client> = Arc::new(|fingerprint: &Fingerprint, _client: Arc<Client>, cause: RemovalCause| {
///     eprintln!("client {fingerprint} left ({cause})");
/// });
/// # let _ = hook;
/// ```
pub type LeaveHook<C> = Arc<dyn Fn(&Fingerprint, Arc<C>, RemovalCause) + Send + Sync + 'static>;

/// Why a [`ClientStore`] could not be built. Never contains key material.
///
/// ```
/// use ttlkit::client_store::{ClientStore, StoreBuildError};
/// use ttlkit::BackendKind;
///
/// struct Client;
/// let err = ClientStore::<Client>::builder().max_clients(0).build_backend(BackendKind::Mutex).err();
/// assert!(matches!(err, Some(StoreBuildError::ZeroMaxClients)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreBuildError {
    /// A setting was out of range (named as on [`ClientStoreBuilder`]).
    #[error(transparent)]
    Config(#[from] BuildError),
    /// `max_clients(0)`: a store that can hold no client.
    #[error("max_clients must be at least 1")]
    ZeroMaxClients,
    /// No random key for the fingerprints.
    #[error(transparent)]
    Randomness(#[from] NoRandomness),
    /// The circuit breaker's settings were refused.
    #[error(transparent)]
    Breaker(#[from] BreakerError),
}

/// The settings a store was built with.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{ClientStore, StoreSettings};
/// use ttlkit::BackendKind;
///
/// struct Client;
/// let store = ClientStore::<Client>::builder()
///     .idle_timeout(Duration::from_secs(600))
///     .no_max_lifetime()
///     .build_backend(BackendKind::Mutex)?;
/// let settings: StoreSettings = store.settings();
/// assert_eq!(settings.idle_timeout, Duration::from_secs(600));
/// assert_eq!(settings.max_lifetime, None);
/// # Ok::<(), ttlkit::client_store::StoreBuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreSettings {
    /// A client unused this long leaves.
    pub idle_timeout: Duration,
    /// A client leaves this long after it was created, however busy.
    pub max_lifetime: Option<Duration>,
    /// At most this many clients are held; the least recently used leaves.
    pub max_clients: u64,
    /// The background sweeper's interval, or `None` for no sweeper.
    pub sweep_interval: Option<Duration>,
    /// How long a client that left and lost its last lease waits before
    /// its release, if at all.
    pub release_grace: Option<Duration>,
}

/// Configures a [`ClientStore`]. Every setting has a default suited to one
/// API client per key (see the constants in this module).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{ClientStore, StoreBuildError};
/// use ttlkit::{BackendKind, BuildError};
///
/// struct Client;
/// let store = ClientStore::<Client>::builder()
///     .idle_timeout(Duration::from_secs(15 * 60))
///     .max_lifetime(Duration::from_secs(6 * 3600))
///     .max_clients(500)
///     .on_leave(|fingerprint, _client, cause| eprintln!("client {fingerprint} left ({cause})"))
///     .build_backend(BackendKind::Mutex)?;
/// assert_eq!(store.settings().max_clients, 500);
///
/// let zero = ClientStore::<Client>::builder().idle_timeout(Duration::ZERO).build_backend(BackendKind::Mutex);
/// assert!(matches!(zero, Err(StoreBuildError::Config(BuildError::ZeroDuration { what: "idle_timeout" }))));
/// # Ok::<(), StoreBuildError>(())
/// ```
pub struct ClientStoreBuilder<C> {
    settings: StoreSettings,
    clock: Option<ClockSource>,
    hook: Option<LeaveHook<C>>,
    release_hook: Option<ReleaseHook<C>>,
    fingerprinter: Option<Fingerprinter>,
    limit: Option<Quota>,
    limit_overrides: Option<QuotaOverrides>,
    breaker: Option<BreakerSettings>,
    retry: Option<RetryPolicy>,
    budget: Option<BudgetSettings>,
    #[cfg(feature = "metrics")]
    metrics: Option<String>,
    #[cfg(feature = "metrics")]
    metrics_interval: Duration,
}

/// Picks a key's own quota, if it has one.
type QuotaOverrides = Arc<dyn Fn(&Fingerprint) -> Option<Quota> + Send + Sync>;

impl<C> fmt::Debug for ClientStoreBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStoreBuilder")
            .field("settings", &self.settings)
            .field("clock", &self.clock)
            .field("on_leave", &self.hook.is_some())
            .field("on_release", &self.release_hook.is_some())
            .field("fingerprinter", &self.fingerprinter)
            .field("rate_limit", &self.limit.is_some())
            .field("circuit_breaker", &self.breaker)
            .field("retry", &self.retry)
            .field("retry_budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<C> Default for ClientStoreBuilder<C> {
    fn default() -> Self {
        ClientStoreBuilder {
            settings: StoreSettings {
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_lifetime: Some(DEFAULT_MAX_LIFETIME),
                max_clients: DEFAULT_MAX_CLIENTS,
                sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
                release_grace: None,
            },
            clock: None,
            hook: None,
            release_hook: None,
            fingerprinter: None,
            limit: None,
            limit_overrides: None,
            breaker: None,
            retry: None,
            budget: None,
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "metrics")]
            metrics_interval: DEFAULT_METRICS_INTERVAL,
        }
    }
}

/// Lets a custom clock given to the store builder reach the cache builder.
#[derive(Debug)]
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> Ticks {
        self.0.now()
    }
}

impl<C> ClientStoreBuilder<C>
where
    C: Send + Sync + 'static,
{
    /// A builder with every default.
    pub fn new() -> Self {
        ClientStoreBuilder::default()
    }

    /// A client unused for `d` leaves (default 1 h).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.settings.idle_timeout = d;
        self
    }

    /// A client leaves `d` after it was created, however busy (default
    /// 24 h): how long a revoked or rotated key's client can live on.
    pub fn max_lifetime(mut self, d: Duration) -> Self {
        self.settings.max_lifetime = Some(d);
        self
    }

    /// No max lifetime: a client in constant use lives forever.
    pub fn no_max_lifetime(mut self) -> Self {
        self.settings.max_lifetime = None;
        self
    }

    /// At most `n` clients (default 10,000); beyond it the least recently
    /// used leaves ([`RemovalCause::Capacity`]).
    pub fn max_clients(mut self, n: u64) -> Self {
        self.settings.max_clients = n;
        self
    }

    /// A background sweeper removes expired clients every `d` (default
    /// 5 min), so they leave (and reach the hook) without traffic.
    pub fn sweep_interval(mut self, d: Duration) -> Self {
        self.settings.sweep_interval = Some(d);
        self
    }

    /// No background sweeper: expired clients leave when the store is used
    /// or on [`ClientStore::purge_expired`] (and are never handed out).
    pub fn no_sweeper(mut self) -> Self {
        self.settings.sweep_interval = None;
        self
    }

    /// Reads time from `clock` (a [`crate::clock::MockClock`] in tests).
    pub fn clock<K: Clock>(mut self, clock: K) -> Self {
        self.clock = Some(ClockSource::from_clock(clock));
        self
    }

    /// Calls `hook` with each client that leaves, exactly once, never while
    /// a store lock is held. Leases on it may still be in use: to close a
    /// client, use [`on_release`](Self::on_release). A panic in it is
    /// contained and counted in
    /// [`ClientStoreStats::hook_panics`](crate::client_store::ClientStoreStats).
    pub fn on_leave(mut self, hook: impl Fn(&Fingerprint, Arc<C>, RemovalCause) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` once with each client the store created, when it has
    /// left the store (after the leave hook) **and** its last
    /// [`Lease`](crate::client_store::Lease) is gone, and after the
    /// [`release_grace`](Self::release_grace) window if one is set: the
    /// place to close it. Never while a store lock is held; never for a
    /// client the application handed in with
    /// [`ClientStore::adopt`]. Clients still held when the store's last
    /// handle drops are released then (or with their last lease). A panic
    /// in it is contained and counted in `hook_panics`.
    pub fn on_release(mut self, hook: impl Fn(&Fingerprint, Arc<C>) + Send + Sync + 'static) -> Self {
        self.release_hook = Some(Arc::new(hook));
        self
    }

    /// Waits `d` after a client left and lost its last lease before
    /// releasing it (default: at once), for uses the leases do not see (a
    /// response body handed on without its lease, say). Waiting releases
    /// run a few times per window on the process's maintenance thread, and
    /// on [`ClientStore::release_due`] and
    /// [`ClientStore::purge_expired`].
    pub fn release_grace(mut self, d: Duration) -> Self {
        self.settings.release_grace = Some(d);
        self
    }

    /// Gives each key a circuit breaker (see [`BreakerSettings`]), asked
    /// through [`Lease::permit`](crate::client_store::Lease::permit) and
    /// fed by [`Lease::record`](crate::client_store::Lease::record). Its
    /// state lives with the key's client and leaves with it.
    pub fn circuit_breaker(mut self, settings: BreakerSettings) -> Self {
        self.breaker = Some(settings);
        self
    }

    /// Lets [`Lease::retry`](crate::client_store::Lease::retry) retry
    /// failed requests by `policy` (by default it never does).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Caps retries with a [`RetryBudget`](crate::client_store::RetryBudget)
    /// of `settings` per key (living with the key's client) and one for the
    /// whole store: a retry needs room in both.
    pub fn retry_budget(mut self, settings: BudgetSettings) -> Self {
        self.budget = Some(settings);
        self
    }

    /// Fingerprints keys with `fingerprinter` instead of a fresh random one.
    pub fn fingerprinter(mut self, fingerprinter: Fingerprinter) -> Self {
        self.fingerprinter = Some(fingerprinter);
        self
    }

    /// Limits each key to `quota` (GCRA: a rate and a burst), checked by
    /// [`ClientStore::admit`]. The limiter keeps time by the store's clock
    /// and tracks at most `max_clients` keys.
    pub fn rate_limit(mut self, quota: Quota) -> Self {
        self.limit = Some(quota);
        self
    }

    /// Gives a key its own quota where `pick` returns one (a paid tier, a
    /// key under investigation); needs [`rate_limit`](Self::rate_limit).
    pub fn rate_limit_overrides(
        mut self,
        pick: impl Fn(&Fingerprint) -> Option<Quota> + Send + Sync + 'static,
    ) -> Self {
        self.limit_overrides = Some(Arc::new(pick));
        self
    }

    /// Publishes the store's counters through the `metrics` facade under
    /// `store = name` (and its cache's under `cache = name`), every
    /// [`metrics_interval`](Self::metrics_interval) on the process's
    /// maintenance thread and on
    /// [`ClientStore::publish_metrics`]. The name is the only label: no
    /// key, no fingerprint.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics(mut self, name: impl Into<String>) -> Self {
        self.metrics = Some(name.into());
        self
    }

    /// How often a named store publishes (default 1 s).
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn metrics_interval(mut self, d: Duration) -> Self {
        self.metrics_interval = d;
        self
    }

    /// Builds the store on backend `B`.
    pub fn build<B>(self) -> Result<ClientStore<C, B>, StoreBuildError>
    where
        B: FromConfig<Fingerprint, StoredClient<C>> + SlidingTtlCache<Fingerprint, StoredClient<C>>,
    {
        ClientStore::from_parts(self.into_parts()?.with(|b| b.build())?)
    }

    /// Builds the store on a backend of `kind`, chosen at run time (parse a
    /// name from a config file with [`BackendKind::from_name`]).
    pub fn build_backend(self, kind: BackendKind) -> Result<ClientStore<C>, StoreBuildError> {
        ClientStore::from_parts(self.into_parts()?.with(|b| AnyCache::new(kind, b))?)
    }

    /// Checks the settings and turns them into a cache builder.
    fn into_parts(self) -> Result<Parts<C>, StoreBuildError> {
        let s = self.settings;
        check("idle_timeout", s.idle_timeout)?;
        if let Some(d) = s.max_lifetime {
            check("max_lifetime", d)?;
        }
        if let Some(d) = s.sweep_interval {
            check("sweep_interval", d)?;
        }
        if let Some(d) = s.release_grace {
            check("release_grace", d)?;
        }
        if s.max_clients == 0 {
            return Err(StoreBuildError::ZeroMaxClients);
        }
        if let Some(b) = &self.breaker {
            b.check()?;
        }
        let limiter = match (self.limit, self.limit_overrides) {
            (Some(quota), overrides) => {
                let mut l: RateLimiterBuilder<Fingerprint> =
                    RateLimiter::builder(quota).max_keys(s.max_clients.max(1)).clock_source(self.clock.clone());
                if let Some(pick) = overrides {
                    l = l.overrides(move |fp| pick(fp));
                }
                Some(l.build()?)
            }
            (None, Some(_)) => {
                return Err(BuildError::MissingSetting { what: "rate_limit_overrides", needs: "rate_limit" }.into())
            }
            (None, None) => None,
        };
        let keeper = Arc::new(Keeper::new(KeeperSettings {
            clock: self.clock.clone().unwrap_or_else(|| ClockSource::from_clock(SystemClock::new())),
            on_leave: self.hook,
            on_release: self.release_hook,
            grace: s.release_grace,
            breaker: self.breaker,
            retry: self.retry,
            budget: self.budget,
        }));
        let mut b = CacheBuilder::new().time_to_idle(s.idle_timeout).max_capacity(s.max_clients);
        if let Some(d) = s.max_lifetime {
            b = b.time_to_live(d);
        }
        b = match s.sweep_interval {
            Some(d) => b.sweep_interval(d),
            None => b.no_sweeper(),
        };
        b = match self.clock {
            None => b,
            Some(ClockSource::System(c)) => b.clock(c),
            Some(ClockSource::Mock(c)) => b.clock(c),
            Some(ClockSource::Custom(c)) => b.clock(SharedClock(c)),
        };
        let listener = Arc::clone(&keeper);
        b = b.removal_listener(move |_: &Fingerprint, stored: StoredClient<C>, cause| listener.left(&stored, cause));
        let fingerprinter = match self.fingerprinter {
            Some(f) => f,
            None => Fingerprinter::random()?,
        };
        // A few runs per grace window, so a release is late by a quarter of it at most.
        #[cfg_attr(not(feature = "metrics"), allow(unused_mut))]
        let mut maintenance = s.release_grace.map(|g| (g / 4).clamp(Duration::from_millis(1), Duration::from_secs(1)));
        #[cfg(feature = "metrics")]
        let metrics = match self.metrics {
            Some(name) => {
                check("metrics_interval", self.metrics_interval)?;
                let every = self.metrics_interval;
                maintenance = Some(maintenance.map_or(every, |m| m.min(every)));
                Some(crate::client_store::store_metrics::StoreSeries::new(name))
            }
            None => None,
        };
        Ok(Parts {
            cache: b,
            keeper,
            fingerprinter,
            settings: s,
            limiter,
            maintenance,
            #[cfg(feature = "metrics")]
            metrics,
        })
    }
}

/// A checked configuration, ready to build on a backend.
struct Parts<C> {
    cache: CacheBuilder<Fingerprint, StoredClient<C>>,
    keeper: Arc<Keeper<C>>,
    fingerprinter: Fingerprinter,
    settings: StoreSettings,
    limiter: Option<RateLimiter<Fingerprint>>,
    maintenance: Option<Duration>,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::client_store::store_metrics::StoreSeries>,
}

impl<C> Parts<C> {
    /// The parts of a store on the backend `build` makes.
    fn with<B>(
        self,
        build: impl FnOnce(CacheBuilder<Fingerprint, StoredClient<C>>) -> Result<B, BuildError>,
    ) -> Result<StoreParts<C, B>, BuildError> {
        Ok(StoreParts {
            cache: build(self.cache)?,
            keeper: self.keeper,
            fingerprinter: self.fingerprinter,
            settings: self.settings,
            limiter: self.limiter,
            maintenance: self.maintenance,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
        })
    }
}

fn check(what: &'static str, d: Duration) -> Result<(), BuildError> {
    if d.is_zero() {
        Err(BuildError::ZeroDuration { what })
    } else if d > MAX_DURATION {
        Err(BuildError::DurationTooLong { what, value: d, max: MAX_DURATION })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Client;

    fn b() -> ClientStoreBuilder<Client> {
        ClientStoreBuilder::new()
    }

    #[test]
    fn defaults_follow_the_original_service() {
        let store = b().build_backend(BackendKind::Mutex).unwrap();
        let s = store.settings();
        assert_eq!(s.idle_timeout, Duration::from_secs(3600));
        assert_eq!(s.sweep_interval, Some(Duration::from_secs(300)));
        assert_eq!(s.max_lifetime, Some(Duration::from_secs(86_400)));
        assert_eq!(s.max_clients, 10_000);
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let err = |b: ClientStoreBuilder<Client>| b.build_backend(BackendKind::Mutex).err();
        assert!(matches!(
            err(b().idle_timeout(Duration::ZERO)),
            Some(StoreBuildError::Config(BuildError::ZeroDuration { what: "idle_timeout" }))
        ));
        assert!(matches!(
            err(b().max_lifetime(Duration::ZERO)),
            Some(StoreBuildError::Config(BuildError::ZeroDuration { what: "max_lifetime" }))
        ));
        assert!(matches!(
            err(b().sweep_interval(Duration::ZERO)),
            Some(StoreBuildError::Config(BuildError::ZeroDuration { what: "sweep_interval" }))
        ));
        assert!(matches!(
            err(b().idle_timeout(MAX_DURATION + Duration::from_secs(1))),
            Some(StoreBuildError::Config(BuildError::DurationTooLong { what: "idle_timeout", .. }))
        ));
        assert!(matches!(err(b().max_clients(0)), Some(StoreBuildError::ZeroMaxClients)));
        assert!(b().no_max_lifetime().no_sweeper().build_backend(BackendKind::Mutex).is_ok());
    }
}
