//! What the concurrent model knows of the cache under test beyond the
//! contract: its documented allowances. A built-in backend has its own
//! (`harness::profile`); a cache from outside ttlkit is held to the
//! strictest, the `mutex` backend's: no slack over the bound, no overshoot
//! while inserts are in flight.

use std::fmt;

use ttlkit::{BackendKind, PolicyKind};

use crate::harness::{self, Profile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    pub name: &'static str,
    pub kind: Option<BackendKind>,
}

impl Flavor {
    pub fn of(kind: BackendKind) -> Flavor {
        Flavor { name: kind.name(), kind: Some(kind) }
    }

    /// A cache from outside ttlkit that runs only LRU, held to exact bounds.
    pub fn exact(name: &'static str) -> Flavor {
        Flavor { name, kind: None }
    }

    pub fn is_moka(self) -> bool {
        self.kind.is_some_and(|k| k.name() == "moka")
    }

    pub fn profile(self) -> Profile {
        self.kind.map_or(Profile::STRICT, harness::profile)
    }

    /// The policy a case drawn with `drawn` runs.
    pub fn policy(self, drawn: PolicyKind) -> PolicyKind {
        self.kind.map_or(PolicyKind::Lru, |k| harness::runnable_policy(k, drawn))
    }

    /// How far inserts in flight may take `len()` past the bound.
    #[cfg_attr(not(any(feature = "sharded", feature = "moka")), allow(unused_variables))]
    pub fn in_flight(self, threads: usize) -> u64 {
        match self.kind {
            None | Some(BackendKind::Mutex) => 0,
            #[cfg(feature = "sharded")]
            Some(BackendKind::Sharded) => threads as u64,
            #[cfg(feature = "moka")]
            Some(BackendKind::Moka) => threads as u64,
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}
