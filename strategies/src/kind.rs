//! Choosing a policy by name.

use std::fmt;
use std::str::FromStr;

use crate::{EvictionPolicy, Lru};

/// The policies this crate provides, nameable at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyKind {
    /// Least recently used ([`Lru`]).
    Lru,
}

/// A policy name that [`PolicyKind::from_name`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown eviction policy {name:?}; known policies: {known}")]
pub struct UnknownPolicy {
    /// The name that was asked for.
    pub name: String,
    /// The known names, comma separated.
    pub known: String,
}

impl PolicyKind {
    /// Every policy, in a stable order.
    pub const ALL: &'static [PolicyKind] = &[PolicyKind::Lru];

    /// The policy's canonical name (lower case, e.g. `"lru"`).
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Lru => "lru",
        }
    }

    /// Looks a policy up by name, ignoring ASCII case and `_`/`-` differences.
    pub fn from_name(name: &str) -> Result<PolicyKind, UnknownPolicy> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        PolicyKind::ALL.iter().copied().find(|k| k.name() == wanted).ok_or_else(|| UnknownPolicy {
            name: name.to_owned(),
            known: PolicyKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
        })
    }

    /// A new policy of this kind sized for `capacity` entries.
    pub fn build(self, capacity: usize) -> Box<dyn EvictionPolicy> {
        match self {
            PolicyKind::Lru => Box::new(Lru::new(capacity)),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyKind::from_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &k in PolicyKind::ALL {
            assert_eq!(PolicyKind::from_name(k.name()), Ok(k));
            assert_eq!(k.build(4).name(), k.name());
        }
        assert_eq!(PolicyKind::from_name("LRU"), Ok(PolicyKind::Lru));
        let err = PolicyKind::from_name("nope").unwrap_err();
        assert!(err.to_string().contains("lru"));
    }
}
