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
/// use ttlkit::prelude::*;
///
/// let kind: BackendKind = "Mutex".parse()?;
/// assert_eq!(kind, BackendKind::Mutex);
/// assert_eq!(kind.to_string(), "mutex");
/// assert!("redis".parse::<BackendKind>().is_err(), "not an in-process backend");
/// // A backend this build leaves out names the cargo feature that adds it.
/// # #[cfg(not(feature = "moka"))]
/// assert_eq!("moka".parse::<BackendKind>().unwrap_err().feature, Some("moka"));
/// # Ok::<(), ttlkit::UnknownBackend>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// [`MutexCache`](crate::MutexCache): one lock, linearizable.
    Mutex,
    /// [`ShardedCache`](crate::ShardedCache): a lock per shard.
    #[cfg(feature = "sharded")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sharded")))]
    Sharded,
    /// [`MokaCache`](crate::MokaCache): moka's concurrent map and eviction.
    #[cfg(feature = "moka")]
    #[cfg_attr(docsrs, doc(cfg(feature = "moka")))]
    Moka,
}

/// Every backend name ttlkit knows, with the cargo feature that compiles it
/// in (`None`: always there).
const KNOWN: &[(&str, Option<&str>)] = &[("mutex", None), ("moka", Some("moka")), ("sharded", Some("sharded"))];

/// A backend name that [`BackendKind::from_name`] cannot turn into a
/// [`BackendKind`]: one ttlkit does not know, or one whose cargo feature is
/// off in this build ([`feature`](Self::feature) then names it).
///
/// ```
/// use ttlkit::BackendKind;
///
/// let err = BackendKind::from_name("memcached").unwrap_err();
/// assert_eq!(err.name, "memcached");
/// assert!(err.known.contains("mutex"));
/// assert_eq!(err.feature, None, "not a backend ttlkit has");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBackend {
    /// The name that was asked for.
    pub name: String,
    /// The backends compiled into this build, comma separated.
    pub known: String,
    /// The cargo feature of ttlkit that would compile this backend in, when
    /// the name is one ttlkit knows but this build leaves out.
    pub feature: Option<&'static str>,
}

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.feature {
            Some(feature) => write!(
                f,
                "backend {:?} is not compiled in: enable ttlkit's {feature:?} cargo feature; compiled backends: {}",
                self.name, self.known
            ),
            None => write!(f, "unknown backend {:?}; known backends: {}", self.name, self.known),
        }
    }
}

impl std::error::Error for UnknownBackend {}

impl BackendKind {
    /// Every in-process backend compiled into this build, in a stable order
    /// (`mutex` always; `moka` and `sharded` with their cargo features).
    pub const ALL: &'static [BackendKind] = &[
        BackendKind::Mutex,
        #[cfg(feature = "moka")]
        BackendKind::Moka,
        #[cfg(feature = "sharded")]
        BackendKind::Sharded,
    ];

    /// The backend's canonical name (lower case, e.g. `"mutex"`), the one
    /// its [`backend_name`](crate::SlidingTtlCache::backend_name) returns.
    pub const fn name(self) -> &'static str {
        match self {
            BackendKind::Mutex => "mutex",
            #[cfg(feature = "sharded")]
            BackendKind::Sharded => "sharded",
            #[cfg(feature = "moka")]
            BackendKind::Moka => "moka",
        }
    }

    /// Whether this backend runs `policy`. One that does not refuses it at
    /// build time with [`BuildError::UnsupportedPolicy`](crate::BuildError::UnsupportedPolicy)
    /// rather than run another policy in its place.
    ///
    /// ```
    /// use ttlkit::prelude::*;
    ///
    /// assert!(BackendKind::Mutex.supports(PolicyKind::S3Fifo));
    /// # #[cfg(feature = "moka")]
    /// assert!(!BackendKind::Moka.supports(PolicyKind::S3Fifo), "moka runs its own policies only");
    /// ```
    #[cfg_attr(not(feature = "moka"), allow(unused_variables))]
    pub fn supports(self, policy: PolicyKind) -> bool {
        match self {
            // They plug in every policy of ttlkit-strategies.
            BackendKind::Mutex => true,
            #[cfg(feature = "sharded")]
            BackendKind::Sharded => true,
            #[cfg(feature = "moka")]
            BackendKind::Moka => crate::backend::moka::supports(policy),
        }
    }

    /// Looks a backend up by name, ignoring ASCII case and surrounding
    /// whitespace (names come from config files and flags). A name ttlkit
    /// knows but this build leaves out is an [`UnknownBackend`] whose
    /// [`feature`](UnknownBackend::feature) says which cargo feature to enable.
    pub fn from_name(name: &str) -> Result<BackendKind, UnknownBackend> {
        let wanted = name.trim().to_ascii_lowercase();
        BackendKind::ALL.iter().copied().find(|k| k.name() == wanted).ok_or_else(|| UnknownBackend {
            name: name.to_owned(),
            known: BackendKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
            feature: KNOWN.iter().find(|(known, _)| *known == wanted).and_then(|&(_, feature)| feature),
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
        assert_eq!(BackendKind::from_name(" MUTEX "), Ok(BackendKind::Mutex));
        let Err(err) = BackendKind::from_name("redis") else { panic!("redis is not an in-process backend") };
        assert_eq!(err.name, "redis");
        assert_eq!(err.known, BackendKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "));
        assert_eq!(err.feature, None);
    }

    #[test]
    fn every_known_name_is_compiled_in_or_names_its_feature() {
        for &(name, feature) in KNOWN {
            match BackendKind::from_name(name) {
                Ok(kind) => assert_eq!(kind.name(), name),
                Err(err) => {
                    assert_eq!(err.feature, feature, "{name}");
                    assert!(feature.is_some(), "{name} is always compiled in");
                    let msg = err.to_string();
                    assert!(msg.contains("not compiled in") && msg.contains(&format!("{:?}", name)), "{msg}");
                }
            }
        }
        assert_eq!(
            KNOWN.len(),
            BackendKind::ALL.len() + KNOWN.iter().filter(|(n, _)| BackendKind::from_name(n).is_err()).count()
        );
    }

    #[cfg(feature = "moka")]
    #[test]
    fn moka_supports_only_its_own_policies() {
        let moka: Vec<_> = PolicyKind::ALL.iter().copied().filter(|&p| BackendKind::Moka.supports(p)).collect();
        assert_eq!(moka, [PolicyKind::Lru, PolicyKind::WTinyLfu]);
        assert!(PolicyKind::ALL.iter().all(|&p| BackendKind::Mutex.supports(p)));
    }
}
