//! [`Config`]: what a validated [`CacheBuilder`](crate::CacheBuilder) hands
//! a backend, and [`FromConfig`], how a backend is built from it.

use std::time::Duration;

use ttlkit_strategies::PolicyKind;

use crate::build_error::BuildError;
use crate::builder::{Weigher, MAX_DURATION};
use crate::clock::ClockSource;
use crate::expiry::ExpiryRules;
use crate::listener::RemovalListener;
use crate::load_settings::LoadSettings;
use crate::per_entry::OwnDeadlines;

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

    /// How entries get deadlines of their own (see [`Expiry`](crate::Expiry)).
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
    /// capacity bound): see [`CacheBuilder::expected_entries`](crate::CacheBuilder::expected_entries). A sharded
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
