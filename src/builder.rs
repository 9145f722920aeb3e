//! One builder for every backend, and the typed errors of `build()`.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use ttlkit_strategies::{PolicyKind, UnknownPolicy};

use crate::cache::RemovalCause;
use crate::clock::{Clock, ClockSource, SystemClock};
use crate::expiry::{ExpiryRules, Timeouts};
use crate::kind::{BackendKind, UnknownBackend};
use crate::listener::RemovalListener;
use crate::load_settings::LoadSettings;
use crate::per_entry::{Expiry, OwnDeadlines};

/// The longest duration the builder accepts: about 100 years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The shortest sweep interval: one tick of the [`SystemClock`], the
/// default clock. An explicit [`CacheBuilder::sweep_interval`] below it is
/// raised to it; sweeping more often finds nothing new and, at a nanosecond,
/// keeps a core busy on an idle cache.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(1);

/// The entries a weighted cache's eviction policy is sized for when
/// [`CacheBuilder::expected_entries`] is not set.
pub const DEFAULT_WEIGHTED_ENTRIES: u64 = 65_536;

/// Gives an entry its weight for a weight-bounded cache.
///
/// ```
/// use ttlkit::core::Weigher;
/// use ttlkit::CacheBuilder;
///
/// // What `CacheBuilder::weigher` stores; the front-end calls it once per
/// // write and hands the weight to the core.
/// let weigher: Weigher<String, Vec<u8>> = std::sync::Arc::new(|_key, value| value.len() as u32);
/// assert_eq!(weigher(&"k".to_string(), &vec![0; 64]), 64);
/// let config = CacheBuilder::<String, Vec<u8>>::new()
///     .max_capacity(1 << 20)
///     .weigher(move |key, value| weigher(key, value))
///     .validate()?;
/// assert!(config.weighted());
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync + 'static>;

/// Why a cache could not be built.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::prelude::*;
///
/// let zero = CacheBuilder::<u32, u32>::new().time_to_idle(Duration::ZERO).build::<MutexCache<_, _>>();
/// assert!(matches!(zero, Err(BuildError::ZeroDuration { .. })));
/// let unknown = CacheBuilder::<u32, u32>::new().max_capacity(10).policy("random").build::<MutexCache<_, _>>();
/// let err = unknown.unwrap_err();
/// assert!(matches!(err, BuildError::UnknownPolicy(_)));
/// assert!(err.to_string().contains("random"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// A duration that must be positive was zero.
    ZeroDuration {
        /// The builder setting.
        what: &'static str,
    },
    /// A duration was longer than the setting allows.
    DurationTooLong {
        /// The builder setting.
        what: &'static str,
        /// The value given.
        value: Duration,
        /// The largest value allowed.
        max: Duration,
    },
    /// `max_capacity(0)`: a cache that can hold nothing.
    ZeroCapacity,
    /// `expected_entries(0)`.
    ZeroExpectedEntries,
    /// The shard count was zero or not a power of two.
    InvalidShards(usize),
    /// The name given to [`CacheBuilder::policy`] is not a [`PolicyKind`].
    UnknownPolicy(UnknownPolicy),
    /// The name given to [`AnyCache::from_name`](crate::AnyCache::from_name)
    /// (or another string form) is not a [`BackendKind`].
    UnknownBackend(UnknownBackend),
    /// The backend cannot run the policy asked for, and will not quietly run
    /// another in its place (the moka backend runs only moka's own LRU and
    /// TinyLFU: see `MokaCache`, feature `moka`).
    UnsupportedPolicy {
        /// The backend being built.
        backend: BackendKind,
        /// The policy asked for.
        policy: PolicyKind,
        /// The policies the backend does run, comma separated.
        supported: &'static str,
    },
    /// A core (one written outside ttlkit, say) cannot honour a setting.
    UnsupportedSetting {
        /// The core's [`Core::NAME`](crate::core::Core::NAME).
        core: &'static str,
        /// The setting, as the builder names it.
        setting: &'static str,
    },
    /// A setting that another one needs is missing.
    MissingSetting {
        /// What needs it.
        what: &'static str,
        /// The setting (or settings, one of which) it needs.
        needs: &'static str,
    },
    /// The operating system refused to start the maintenance thread that
    /// runs sweeps (it starts with the first cache that needs it).
    SpawnSweeper(io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroDuration { what } => write!(f, "{what} must be greater than zero"),
            BuildError::DurationTooLong { what, value, max } => {
                write!(f, "{what} of {value:?} is longer than the allowed {max:?}")
            }
            BuildError::ZeroCapacity => f.write_str("max_capacity must be at least 1"),
            BuildError::ZeroExpectedEntries => f.write_str("expected_entries must be at least 1"),
            BuildError::InvalidShards(n) => {
                write!(f, "shard count must be a power of two between 1 and 65536, got {n}")
            }
            BuildError::UnknownPolicy(e) => fmt::Display::fmt(e, f),
            BuildError::UnknownBackend(e) => fmt::Display::fmt(e, f),
            BuildError::UnsupportedPolicy { backend, policy, supported } => {
                write!(f, "the {backend} backend cannot run the {policy} eviction policy; it runs: {supported}")
            }
            BuildError::UnsupportedSetting { core, setting } => write!(f, "the {core} core cannot honour {setting}"),
            BuildError::MissingSetting { what, needs } => write!(f, "{what} needs {needs}"),
            BuildError::SpawnSweeper(_) => f.write_str("could not start the maintenance thread that runs sweeps"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the inner error's own message is this one's, so it
            // is not reported a second time as the cause.
            BuildError::UnknownPolicy(e) => std::error::Error::source(e),
            BuildError::UnknownBackend(e) => std::error::Error::source(e),
            BuildError::SpawnSweeper(e) => Some(e),
            _ => None,
        }
    }
}

impl From<UnknownPolicy> for BuildError {
    fn from(e: UnknownPolicy) -> Self {
        BuildError::UnknownPolicy(e)
    }
}

impl From<UnknownBackend> for BuildError {
    fn from(e: UnknownBackend) -> Self {
        BuildError::UnknownBackend(e)
    }
}

/// How often, if ever, the background sweeper runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SweepSetting {
    /// Every half of the shorter of `time_to_idle` and `time_to_live`,
    /// clamped to 10 ms ..= 1 s; none for a cache where nothing expires.
    Default,
    /// At this interval (at least 1 ms).
    Every(Duration),
    /// No sweeper: expired entries are purged by writes, by
    /// `purge_expired`, and never returned by reads.
    Off,
}

/// Configures and builds any backend.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, MutexCache, RemovalCause, SlidingTtlCache};
///
/// let evicted = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&evicted);
/// let cache: MutexCache<String, u64> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(3600))
///     .time_to_live(Duration::from_secs(24 * 3600))
///     .max_capacity(10_000)
///     .policy("lru")
///     .sweep_interval(Duration::from_secs(300))
///     .removal_listener(move |k: &String, _v, cause| log.lock().unwrap().push((k.clone(), cause)))
///     .build()?;
/// cache.insert("a".to_string(), 1);
/// cache.remove("a");
/// assert_eq!(*evicted.lock().unwrap(), vec![("a".to_string(), RemovalCause::Explicit)]);
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
///
/// # Expiry: time-to-live, time-to-idle, both or neither
///
/// [`time_to_live`](Self::time_to_live) counts from the last write and is
/// never extended by reads (a response cache that must refetch);
/// [`time_to_idle`](Self::time_to_idle) counts from the last `get` or write
/// (a client cache that keeps what is in use). Set one, both (an entry
/// expires at the earlier deadline) or neither (nothing expires; only the
/// capacity bound removes entries).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::MockClock;
/// use ttlkit::{CacheBuilder, MutexCache, SlidingTtlCache};
///
/// let clock = MockClock::new();
/// let responses: MutexCache<&str, u32> =
///     CacheBuilder::new().time_to_live(Duration::from_secs(1)).clock(clock.clone()).build()?;
/// let clients: MutexCache<&str, u32> =
///     CacheBuilder::new().time_to_idle(Duration::from_secs(1)).clock(clock.clone()).build()?;
/// let both: MutexCache<&str, u32> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(1))
///     .time_to_live(Duration::from_secs(3))
///     .clock(clock.clone())
///     .build()?;
/// let forever: MutexCache<&str, u32> = CacheBuilder::new().max_capacity(100).clock(clock.clone()).build()?;
/// for cache in [&responses, &clients, &both, &forever] {
///     cache.insert("k", 1);
/// }
/// // Read every 600 ms: the TTL entry is gone after 1 s however often it
/// // is read; the idle one lives while it is read; `both` lives until its
/// // 3 s lifetime; `forever` stays.
/// for step in 1..=6 {
///     clock.advance(Duration::from_millis(600));
///     let seen = [&responses, &clients, &both, &forever].map(|c| c.get("k").is_some());
///     assert_eq!(seen, [step * 600 < 1_000, true, step * 600 < 3_000, true], "at {} ms", step * 600);
/// }
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub struct CacheBuilder<K, V> {
    time_to_idle: Option<Duration>,
    time_to_live: Option<Duration>,
    max_capacity: Option<u64>,
    weigher: Option<Weigher<K, V>>,
    /// `None` until set; a name that did not parse is kept as its error
    /// and reported by `build()`, so `policy(name)` can stay chainable.
    policy: Option<Result<PolicyKind, UnknownPolicy>>,
    sweep: SweepSetting,
    clock: Option<ClockSource>,
    listener: Option<RemovalListener<K, V>>,
    granularity: Option<Duration>,
    shards: Option<usize>,
    expected_entries: Option<u64>,
    expiry: Option<Arc<dyn Expiry<K, V>>>,
    pub(crate) loads: LoadSettings<K, V>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("time_to_idle", &self.time_to_idle)
            .field("time_to_live", &self.time_to_live)
            .field("max_capacity", &self.max_capacity)
            .field("weigher", &self.weigher.is_some())
            .field("policy", &self.policy)
            .field("sweep", &self.sweep)
            .field("clock", &self.clock)
            .field("listener", &self.listener.is_some())
            .field("granularity", &self.granularity)
            .field("shards", &self.shards)
            .field("expected_entries", &self.expected_entries)
            .field("expiry", &self.expiry.is_some())
            .field("loads", &self.loads)
            .finish()
    }
}

impl<K, V> Clone for CacheBuilder<K, V> {
    fn clone(&self) -> Self {
        CacheBuilder {
            time_to_idle: self.time_to_idle,
            time_to_live: self.time_to_live,
            max_capacity: self.max_capacity,
            weigher: self.weigher.clone(),
            policy: self.policy.clone(),
            sweep: self.sweep,
            clock: self.clock.clone(),
            listener: self.listener.clone(),
            granularity: self.granularity,
            shards: self.shards,
            expected_entries: self.expected_entries,
            expiry: self.expiry.clone(),
            loads: self.loads.clone(),
        }
    }
}

impl<K, V> Default for CacheBuilder<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> CacheBuilder<K, V> {
    /// A builder for a cache where nothing expires until
    /// [`time_to_live`](Self::time_to_live) or
    /// [`time_to_idle`](Self::time_to_idle) says so.
    pub fn new() -> Self {
        CacheBuilder {
            time_to_idle: None,
            time_to_live: None,
            max_capacity: None,
            weigher: None,
            policy: None,
            sweep: SweepSetting::Default,
            clock: None,
            listener: None,
            granularity: None,
            shards: None,
            expected_entries: None,
            expiry: None,
            loads: LoadSettings::default(),
        }
    }

    /// Entries expire this long after their last `get` or write (sliding
    /// expiry). `peek` and `contains_key` do not count as reads.
    pub fn time_to_idle(mut self, d: Duration) -> Self {
        self.time_to_idle = Some(d);
        self
    }

    /// Entries expire this long after they were inserted or last
    /// overwritten, however often they are read.
    pub fn time_to_live(mut self, d: Duration) -> Self {
        self.time_to_live = Some(d);
        self
    }

    /// Gives each entry a deadline of its own, computed by `expiry` when the
    /// entry is created, updated and read (see [`Expiry`]). The time-to-idle
    /// and time-to-live, if set, still apply: an entry expires at the
    /// earliest of the three deadlines. The Redis backend has no per-entry
    /// deadlines and refuses it with [`BuildError::UnsupportedSetting`].
    pub fn expire_after(mut self, expiry: impl Expiry<K, V> + 'static) -> Self {
        self.expiry = Some(Arc::new(expiry));
        self
    }

    /// The same as [`time_to_live`](Self::time_to_live), under the name
    /// earlier versions used.
    pub fn max_lifetime(self, d: Duration) -> Self {
        self.time_to_live(d)
    }

    /// Bounds the cache to `n` entries (or `n` units of weight with
    /// [`weigher`](Self::weigher)).
    pub fn max_capacity(mut self, n: u64) -> Self {
        self.max_capacity = Some(n);
        self
    }

    /// How many entries the cache is expected to hold, for sizing its
    /// eviction policy (segment sizes, frequency sketch, ghost lists).
    ///
    /// Without a weigher the capacity is the entry count and this only
    /// lowers it (a smaller sketch for a cache rarely full). With a weigher
    /// the capacity is in weight units (bytes, say), which say nothing of the
    /// entry count, so set this to the capacity divided by the typical
    /// weight; otherwise the policy is sized for
    /// `min(max_capacity, `[`DEFAULT_WEIGHTED_ENTRIES`]`)` entries. Either
    /// way a policy allocates for at most
    /// [`MAX_SIZED_ENTRIES`](ttlkit_strategies::MAX_SIZED_ENTRIES) entries
    /// (a W-TinyLFU sketch of at most 12 MiB, grown with the residents); a larger value still bounds
    /// its segments. Zero is a [`BuildError::ZeroExpectedEntries`].
    pub fn expected_entries(mut self, n: u64) -> Self {
        self.expected_entries = Some(n);
        self
    }

    /// Measures entries by weight instead of count for `max_capacity`.
    pub fn weigher(mut self, f: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(f));
        self
    }

    /// The eviction policy by name (see [`PolicyKind::from_name`]); `build()`
    /// rejects an unknown name with [`BuildError::UnknownPolicy`]. The
    /// default is `lru`. A backend that cannot run the policy refuses it
    /// with [`BuildError::UnsupportedPolicy`].
    pub fn policy(mut self, name: impl AsRef<str>) -> Self {
        self.policy = Some(PolicyKind::from_name(name.as_ref()));
        self
    }

    /// The eviction policy, typed.
    pub fn policy_kind(mut self, kind: PolicyKind) -> Self {
        self.policy = Some(Ok(kind));
        self
    }

    /// Runs the background sweeper at this interval, at least 1 ms (a
    /// shorter one is raised to 1 ms; zero is a [`BuildError::ZeroDuration`]).
    /// A sweep that finds more expired entries than one batch keeps going,
    /// batch by batch, without waiting for the next tick.
    pub fn sweep_interval(mut self, d: Duration) -> Self {
        self.sweep = SweepSetting::Every(d);
        self
    }

    /// Runs no background sweeper.
    pub fn no_sweeper(mut self) -> Self {
        self.sweep = SweepSetting::Off;
        self
    }

    /// Reads time from `clock` (a [`crate::clock::MockClock`] in tests).
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(ClockSource::from_clock(clock));
        self
    }

    /// Calls `f` exactly once for every entry that leaves, with its cause,
    /// never while a cache lock is held. A panic in `f` is contained.
    pub fn removal_listener(mut self, f: impl Fn(&K, V, RemovalCause) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(f));
        self
    }

    /// How far an access stamp must lag before a hit rewrites it (see
    /// [`expiry`](crate#expiry-precision)); zero makes idle expiry exact. It
    /// may not exceed the time-to-idle; without one it means nothing (hits
    /// then never rewrite a stamp).
    pub fn refresh_granularity(mut self, d: Duration) -> Self {
        self.granularity = Some(d);
        self
    }

    /// The number of shards of a sharded backend (a power of two).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// Validates the settings and builds backend `B`.
    pub fn build<B: FromConfig<K, V>>(self) -> Result<B, BuildError> {
        B::from_config(self.validate()?)
    }

    /// Checks every setting and resolves defaults.
    pub fn validate(self) -> Result<Config<K, V>, BuildError> {
        let idle = self.time_to_idle.map(|d| check_duration("time_to_idle", d, MAX_DURATION)).transpose()?;
        let lifetime = self.time_to_live.map(|d| check_duration("time_to_live", d, MAX_DURATION)).transpose()?;
        // No idle timeout behaves as the longest one: reads then never need
        // to rewrite a stamp.
        let tti = idle.unwrap_or(MAX_DURATION);
        if self.max_capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        if self.expected_entries == Some(0) {
            return Err(BuildError::ZeroExpectedEntries);
        }
        let policy_entries =
            self.max_capacity.map(|cap| policy_entries(cap, self.weigher.is_some(), self.expected_entries));
        let rules = Timeouts { idle, live: lifetime, granularity: self.granularity }.rules()?;
        let horizon = tti.min(lifetime.unwrap_or(MAX_DURATION));
        let sweep_interval = match self.sweep {
            SweepSetting::Off => None,
            // Entries can still get deadlines of their own.
            SweepSetting::Default if idle.is_none() && lifetime.is_none() => Some(Duration::from_secs(1)),
            SweepSetting::Default => Some((horizon / 2).clamp(Duration::from_millis(10), Duration::from_secs(1))),
            SweepSetting::Every(d) => Some(check_duration("sweep_interval", d, MAX_DURATION)?.max(MIN_SWEEP_INTERVAL)),
        };
        let policy_set = self.policy.is_some();
        let policy = self.policy.transpose()?.unwrap_or(PolicyKind::Lru);
        if let Some(n) = self.shards {
            if n == 0 || !n.is_power_of_two() || n > 65_536 {
                return Err(BuildError::InvalidShards(n));
            }
        }
        let loads = self.loads.validate(sweep_interval.is_some())?;
        Ok(Config {
            rules,
            time_to_idle: idle,
            time_to_live: lifetime,
            max_capacity: self.max_capacity,
            weigher: self.weigher,
            policy,
            policy_set,
            granularity_set: self.granularity.is_some(),
            sweep_interval,
            // The system clock is made only when needed (it calibrates).
            clock: self.clock.unwrap_or_else(|| ClockSource::System(SystemClock::new())),
            listener: self.listener,
            shards: self.shards,
            policy_entries,
            hasher: crate::sync::RandomState::default(),
            own: OwnDeadlines::new(self.expiry),
            loads,
        })
    }
}

/// The entry count a policy is sized for (see
/// [`CacheBuilder::expected_entries`]).
fn policy_entries(max_capacity: u64, weighted: bool, expected: Option<u64>) -> u64 {
    match (weighted, expected) {
        (false, Some(n)) => n.min(max_capacity),
        (false, None) => max_capacity,
        (true, Some(n)) => n,
        (true, None) => max_capacity.min(DEFAULT_WEIGHTED_ENTRIES),
    }
}

pub(crate) fn check_duration(what: &'static str, d: Duration, max: Duration) -> Result<Duration, BuildError> {
    if d.is_zero() {
        Err(BuildError::ZeroDuration { what })
    } else if d > max {
        Err(BuildError::DurationTooLong { what, value: d, max })
    } else {
        Ok(d)
    }
}

/// A validated configuration, handed to a backend's [`FromConfig`].
///
/// ```
/// use std::time::Duration;
/// use ttlkit::core::Config;
/// use ttlkit::{CacheBuilder, PolicyKind};
///
/// let config: Config<u64, u64> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(60))
///     .time_to_live(Duration::from_secs(600))
///     .max_capacity(1_000)
///     .policy_kind(PolicyKind::Lru)
///     .validate()?;
/// assert_eq!(config.time_to_idle(), Some(Duration::from_secs(60)));
/// assert_eq!(config.horizon(), Duration::from_secs(60));
/// assert_eq!(config.max_capacity(), Some(1_000));
/// assert_eq!(config.policy(), PolicyKind::Lru);
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub struct Config<K, V> {
    pub(crate) rules: ExpiryRules,
    pub(crate) time_to_idle: Option<Duration>,
    pub(crate) time_to_live: Option<Duration>,
    pub(crate) max_capacity: Option<u64>,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) policy: PolicyKind,
    /// Whether the policy was asked for, rather than the default: a backend
    /// that runs no policy of ours (Redis) refuses only an explicit one.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) policy_set: bool,
    /// Whether `refresh_granularity` was set, for the same reason.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) granularity_set: bool,
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) clock: ClockSource,
    pub(crate) listener: Option<RemovalListener<K, V>>,
    pub(crate) shards: Option<usize>,
    pub(crate) policy_entries: Option<u64>,
    /// The one hasher of the cache: the front-end hashes keys with it, and
    /// a core that rehashes its keys uses the same.
    pub(crate) hasher: crate::sync::RandomState,
    pub(crate) own: OwnDeadlines<K, V>,
    /// Refresh-ahead, stale values, the load timeout, the spawner and the
    /// reloader.
    pub(crate) loads: LoadSettings<K, V>,
}

impl<K, V> Config<K, V> {
    /// The expiry rules a core decides deadlines and causes with.
    pub fn rules(&self) -> ExpiryRules {
        self.rules
    }

    /// How entries get deadlines of their own (see [`Expiry`]).
    pub fn own_deadlines(&self) -> &OwnDeadlines<K, V> {
        &self.own
    }

    /// Whether a weigher was set. The front-end weighs every entry (the
    /// weigher's answer, else 1) and hands the weight to
    /// [`Core::upsert`](crate::core::Core::upsert); a core uses this only to
    /// decide whether to store weights at all.
    pub fn weighted(&self) -> bool {
        self.weigher.is_some()
    }

    /// The idle timeout, if any.
    pub fn time_to_idle(&self) -> Option<Duration> {
        self.time_to_idle
    }

    /// The time-to-live, if any.
    pub fn time_to_live(&self) -> Option<Duration> {
        self.time_to_live
    }

    /// How far ahead of now an entry's deadline can lie: the shorter of the
    /// time-to-idle and the time-to-live ([`MAX_DURATION`] when nothing
    /// expires).
    pub fn horizon(&self) -> Duration {
        self.time_to_idle.unwrap_or(MAX_DURATION).min(self.time_to_live.unwrap_or(MAX_DURATION))
    }

    /// The capacity bound, if any.
    pub fn max_capacity(&self) -> Option<u64> {
        self.max_capacity
    }

    /// The entries the eviction policy is to be sized for (`None` without a
    /// capacity bound): see [`CacheBuilder::expected_entries`]. A sharded
    /// backend gives each shard its share.
    pub fn policy_entries(&self) -> Option<u64> {
        self.policy_entries
    }

    /// The eviction policy.
    pub fn policy(&self) -> PolicyKind {
        self.policy
    }

    /// The sweeper's interval, or `None` for no sweeper.
    pub fn sweep_interval(&self) -> Option<Duration> {
        self.sweep_interval
    }

    /// The shard count asked for (sharded backends pick one otherwise).
    pub fn shards(&self) -> Option<usize> {
        self.shards
    }
}

/// A backend that can be built from a validated [`Config`].
///
/// ```
/// use ttlkit::core::FromConfig;
/// use ttlkit::prelude::*;
///
/// // `CacheBuilder::build` works for any backend that is `FromConfig`.
/// fn build_any<B: FromConfig<u8, u8>>() -> Result<B, BuildError> {
///     CacheBuilder::new().max_capacity(16).build()
/// }
/// let cache: MutexCache<u8, u8> = build_any()?;
/// assert_eq!(cache.backend_name(), "mutex");
/// # Ok::<(), BuildError>(())
/// ```
pub trait FromConfig<K, V>: Sized {
    /// Builds the backend.
    fn from_config(config: Config<K, V>) -> Result<Self, BuildError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Ticks;

    fn b() -> CacheBuilder<u32, u32> {
        CacheBuilder::new().time_to_idle(Duration::from_secs(1))
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let zero = CacheBuilder::<u32, u32>::new().time_to_idle(Duration::ZERO).validate();
        assert!(matches!(zero, Err(BuildError::ZeroDuration { what: "time_to_idle" })));
        let long = b().time_to_live(MAX_DURATION + Duration::from_secs(1)).validate();
        assert!(matches!(long, Err(BuildError::DurationTooLong { what: "time_to_live", .. })));
        assert!(matches!(b().max_capacity(0).validate(), Err(BuildError::ZeroCapacity)));
        assert!(matches!(b().expected_entries(0).validate(), Err(BuildError::ZeroExpectedEntries)));
        assert!(matches!(b().policy("mru-ish").validate(), Err(BuildError::UnknownPolicy(_))));
        assert!(matches!(b().sweep_interval(Duration::ZERO).validate(), Err(BuildError::ZeroDuration { .. })));
        assert!(matches!(b().shards(3).validate(), Err(BuildError::InvalidShards(3))));
        let g = b().refresh_granularity(Duration::from_secs(2)).validate();
        assert!(matches!(g, Err(BuildError::DurationTooLong { what: "refresh_granularity", .. })));
        let msg = b().policy("nope").validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("nope") && msg.contains("lru"), "{msg}");
    }

    /// `policy(name)` parses once, when set: the same kind as `policy_kind`,
    /// the last setting wins, and `Config` knows whether one was set.
    #[test]
    fn policy_names_and_kinds_agree() {
        let chosen = |b: CacheBuilder<u32, u32>| b.validate().ok().map(|c| (c.policy(), c.policy_set));
        assert_eq!(chosen(b()), Some((PolicyKind::Lru, false)), "the default is lru, not set");
        assert_eq!(chosen(b().policy("W_TinyLFU")), Some((PolicyKind::WTinyLfu, true)));
        assert_eq!(chosen(b().policy_kind(PolicyKind::Sieve)), Some((PolicyKind::Sieve, true)));
        assert_eq!(chosen(b().policy("nope").policy_kind(PolicyKind::Arc)), Some((PolicyKind::Arc, true)));
        assert!(matches!(
            b().policy_kind(PolicyKind::Arc).policy("nope").validate(),
            Err(BuildError::UnknownPolicy(_))
        ));
        let g = |b: CacheBuilder<u32, u32>| b.validate().ok().map(|c| c.granularity_set);
        assert_eq!((g(b()), g(b().refresh_granularity(Duration::ZERO))), (Some(false), Some(true)));
    }

    #[test]
    fn explicit_sweep_intervals_have_a_floor() {
        let interval = |d| b().sweep_interval(d).validate().ok().and_then(|c| c.sweep_interval());
        assert_eq!(interval(Duration::from_nanos(1)), Some(Duration::from_millis(1)), "1 ns would spin a core");
        assert_eq!(interval(Duration::from_micros(999)), Some(Duration::from_millis(1)));
        assert_eq!(interval(Duration::from_millis(1)), Some(Duration::from_millis(1)));
        assert_eq!(interval(Duration::from_millis(3)), Some(Duration::from_millis(3)), "above the floor: as asked");
    }

    #[test]
    fn defaults_resolve() {
        let c = CacheBuilder::<u32, u32>::new().time_to_idle(Duration::from_secs(3600)).validate().ok();
        let c = c.as_ref();
        assert_eq!(c.map(|c| c.sweep_interval()), Some(Some(Duration::from_secs(1))));
        assert_eq!(c.map(|c| c.policy()), Some(PolicyKind::Lru));
        assert_eq!(c.map(|c| c.shards()), Some(None));
    }

    #[test]
    fn expiry_settings_alone_together_or_neither() {
        let c = |b: CacheBuilder<u32, u32>| {
            b.validate().ok().map(|c| (c.time_to_idle(), c.time_to_live(), c.sweep_interval()))
        };
        let (s1, s2, s3) = (Duration::from_millis(400), Duration::from_secs(2), Duration::from_secs(3600));
        assert_eq!(
            c(CacheBuilder::new()),
            Some((None, None, Some(Duration::from_secs(1)))),
            "own deadlines still come due"
        );
        assert_eq!(c(CacheBuilder::new().time_to_live(s1)), Some((None, Some(s1), Some(s1 / 2))));
        assert_eq!(c(CacheBuilder::new().time_to_idle(s2)), Some((Some(s2), None, Some(Duration::from_secs(1)))));
        let both = CacheBuilder::new().time_to_idle(s3).max_lifetime(s1);
        assert_eq!(
            c(both),
            Some((Some(s3), Some(s1), Some(s1 / 2))),
            "max_lifetime is time_to_live; the shorter sweeps"
        );
        let horizon =
            CacheBuilder::<u32, u32>::new().time_to_idle(s3).time_to_live(s2).validate().ok().map(|c| c.horizon());
        assert_eq!(horizon, Some(s2));
        // Without an idle timeout a granularity means nothing and is no error.
        assert!(CacheBuilder::<u32, u32>::new().refresh_granularity(s3).validate().is_ok());
        let rules = CacheBuilder::<u32, u32>::new().validate().ok().map(|c| c.rules());
        let far = Ticks::from_nanos(50 * 365 * 24 * 3600 * 1_000_000_000);
        assert_eq!(
            rules.map(|r| (r.is_expired(far, Ticks::ZERO, Ticks::ZERO, Ticks::MAX), r.needs_refresh(far, Ticks::ZERO))),
            Some((false, false))
        );
    }

    #[test]
    fn policies_are_sized_by_entries_not_weight() {
        let entries = |b: CacheBuilder<u32, u32>| b.validate().ok().and_then(|c| c.policy_entries());
        assert_eq!(entries(b().max_capacity(u64::MAX)), Some(u64::MAX), "unweighted: the entry bound");
        assert_eq!(entries(b().max_capacity(1_000).expected_entries(10)), Some(10));
        assert_eq!(entries(b().max_capacity(10).expected_entries(1_000)), Some(10), "never above the bound");
        let weighted = || b().max_capacity(1 << 30).weigher(|_, _| 1_024);
        assert_eq!(entries(weighted()), Some(DEFAULT_WEIGHTED_ENTRIES));
        assert_eq!(entries(weighted().expected_entries(1 << 20)), Some(1 << 20));
        assert_eq!(entries(b().max_capacity(100).weigher(|_, _| 10)), Some(100), "small bounds stay as they were");
        assert_eq!(entries(b()), None);
    }
}
