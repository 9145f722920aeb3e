//! Naming an in-process backend at run time.

use std::fmt;
use std::str::FromStr;

use ttlkit_strategies::PolicyKind;

/// The in-process backends [`AnyCache`](crate::AnyCache) can hold.
///
/// Adding a backend is one variant here: every match over kinds is
/// exhaustive, so the compiler points at the rest. That is why the enum is
/// not `#[non_exhaustive]`: matches outside this crate (the tests, benches
/// and fuzz targets) must be able to name every kind.
///
/// ```
/// use ttlkit::BackendKind;
///
/// let kind: BackendKind = "Sharded".parse()?;
/// assert_eq!(kind, BackendKind::Sharded);
/// assert_eq!(kind.to_string(), "sharded");
/// assert!("redis".parse::<BackendKind>().is_err(), "not an in-process backend");
/// # Ok::<(), ttlkit::UnknownBackend>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// [`MutexCache`](crate::MutexCache): one lock, linearizable.
    Mutex,
    /// [`ShardedCache`](crate::ShardedCache): a lock per shard.
    Sharded,
    /// [`MokaCache`](crate::MokaCache): moka's concurrent map and eviction.
    Moka,
}

/// A backend name that [`BackendKind::from_name`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown backend {name:?}; known backends: {known}")]
pub struct UnknownBackend {
    /// The name that was asked for.
    pub name: String,
    /// The known names, comma separated.
    pub known: String,
}

impl BackendKind {
    /// Every in-process backend, in a stable order.
    pub const ALL: &'static [BackendKind] = &[BackendKind::Mutex, BackendKind::Moka, BackendKind::Sharded];

    /// The backend's canonical name (lower case, e.g. `"mutex"`), the one
    /// its [`backend_name`](crate::SlidingTtlCache::backend_name) returns.
    pub const fn name(self) -> &'static str {
        match self {
            BackendKind::Mutex => "mutex",
            BackendKind::Sharded => "sharded",
            BackendKind::Moka => "moka",
        }
    }

    /// Whether this backend runs `policy`. One that does not refuses it at
    /// build time with [`BuildError::UnsupportedPolicy`](crate::BuildError::UnsupportedPolicy)
    /// rather than run another policy in its place.
    ///
    /// ```
    /// use ttlkit::{BackendKind, PolicyKind};
    ///
    /// assert!(BackendKind::Sharded.supports(PolicyKind::S3Fifo));
    /// assert!(BackendKind::Moka.supports(PolicyKind::Lru));
    /// assert!(!BackendKind::Moka.supports(PolicyKind::S3Fifo), "moka runs its own policies only");
    /// ```
    pub fn supports(self, policy: PolicyKind) -> bool {
        match self {
            // They plug in every policy of ttlkit-strategies.
            BackendKind::Mutex | BackendKind::Sharded => true,
            BackendKind::Moka => crate::backend::moka::supports(policy),
        }
    }

    /// Looks a backend up by name, ignoring ASCII case and surrounding
    /// whitespace (names come from config files and flags).
    pub fn from_name(name: &str) -> Result<BackendKind, UnknownBackend> {
        let wanted = name.trim().to_ascii_lowercase();
        BackendKind::ALL.iter().copied().find(|k| k.name() == wanted).ok_or_else(|| UnknownBackend {
            name: name.to_owned(),
            known: BackendKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        })
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BackendKind::from_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &k in BackendKind::ALL {
            assert_eq!(BackendKind::from_name(k.name()), Ok(k));
            assert_eq!(k.to_string().parse::<BackendKind>(), Ok(k));
        }
        assert_eq!(BackendKind::from_name(" MOKA "), Ok(BackendKind::Moka));
        let Err(err) = BackendKind::from_name("redis") else { panic!("redis is not an in-process backend") };
        assert_eq!(err.name, "redis");
        assert_eq!(err.known, "mutex, moka, sharded");
    }

    #[test]
    fn moka_supports_only_its_own_policies() {
        let moka: Vec<_> = PolicyKind::ALL.iter().copied().filter(|&p| BackendKind::Moka.supports(p)).collect();
        assert_eq!(moka, [PolicyKind::Lru, PolicyKind::WTinyLfu]);
        assert!(PolicyKind::ALL.iter().all(|&p| BackendKind::Mutex.supports(p) && BackendKind::Sharded.supports(p)));
    }
}
