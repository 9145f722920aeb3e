//! Why a cache could not be built: [`BuildError`], the one error of every
//! builder, backend and live reconfiguration.

use std::fmt;
use std::io;
use std::time::Duration;

use ttlkit_strategies::{PolicyKind, UnknownPolicy};

use crate::kind::{BackendKind, UnknownBackend};

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
    /// The name given to [`CacheBuilder::policy`](crate::CacheBuilder::policy) is not a [`PolicyKind`].
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
