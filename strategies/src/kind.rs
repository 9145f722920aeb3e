//! Choosing a policy by name.

use std::fmt;
use std::str::FromStr;

use crate::{Arc, Clock, EvictionPolicy, Fifo, Lru, S3Fifo, Sieve, WTinyLfu, WTinyLfuAuto, WTinyLfuConfig};

/// The policies this crate provides, nameable at run time.
///
/// [`PolicyKind::from_name`], [`str::parse`] and ttlkit's
/// `CacheBuilder::policy` accept these names, ignoring ASCII case,
/// surrounding whitespace and `_` versus `-`:
///
/// | name | kind | policy |
/// |---|---|---|
/// | `fifo` | [`Fifo`](PolicyKind::Fifo) | first in, first out |
/// | `lru` | [`Lru`](PolicyKind::Lru) | least recently used |
/// | `clock` | [`Clock`](PolicyKind::Clock) | CLOCK, second chance |
/// | `sieve` | [`Sieve`](PolicyKind::Sieve) | SIEVE |
/// | `s3-fifo` | [`S3Fifo`](PolicyKind::S3Fifo) | S3-FIFO |
/// | `arc` | [`Arc`](PolicyKind::Arc) | adaptive replacement cache |
/// | `w-tinylfu` | [`WTinyLfu`](PolicyKind::WTinyLfu) | Window TinyLFU, window sized by miniature simulation |
/// | `w-tinylfu-climb` | [`WTinyLfuClimb`](PolicyKind::WTinyLfuClimb) | Window TinyLFU, window sized by hill climbing |
/// | `w-tinylfu-v2` | [`WTinyLfuV2`](PolicyKind::WTinyLfuV2) | Window TinyLFU with the longer-memory sketch |
/// | `w-tinylfu-auto` | [`WTinyLfuAuto`](PolicyKind::WTinyLfuAuto) | Window TinyLFU, window and admission rule chosen by sampled miniatures, in 16 bytes per entry over LRU |
///
/// [`ALL`](PolicyKind::ALL) holds them in this order and
/// [`name`](PolicyKind::name) gives each one's canonical name.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, PolicyKind};
///
/// assert_eq!(PolicyKind::from_name("s3-fifo"), Ok(PolicyKind::S3Fifo));
/// assert_eq!("W_TinyLFU".parse::<PolicyKind>(), Ok(PolicyKind::WTinyLfu));
/// assert_eq!(PolicyKind::from_name(" LRU "), Ok(PolicyKind::Lru));
/// assert!(PolicyKind::from_name("random").is_err());
/// let names: Vec<&str> = PolicyKind::ALL.iter().map(|k| k.name()).collect();
/// assert_eq!(
///     names,
///     ["fifo", "lru", "clock", "sieve", "s3-fifo", "arc", "w-tinylfu", "w-tinylfu-climb", "w-tinylfu-v2", "w-tinylfu-auto"]
/// );
/// let policy = PolicyKind::Sieve.build(1_000);
/// assert_eq!((policy.name(), policy.capacity()), ("sieve", 1_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyKind {
    /// First in, first out ([`Fifo`]).
    Fifo,
    /// Least recently used ([`Lru`]).
    Lru,
    /// CLOCK, second chance ([`Clock`]).
    Clock,
    /// SIEVE ([`Sieve`]).
    Sieve,
    /// S3-FIFO ([`S3Fifo`]).
    S3Fifo,
    /// Adaptive replacement cache ([`Arc`]).
    Arc,
    /// Window TinyLFU, window sized by miniature simulation ([`WTinyLfu`]).
    WTinyLfu,
    /// Window TinyLFU, window sized by Caffeine's hill climber
    /// ([`WTinyLfuConfig::caffeine`]).
    WTinyLfuClimb,
    /// Window TinyLFU with stale-victim ties, a longer-memory sketch and
    /// miniatures that may also turn the frequency filter off
    /// ([`WTinyLfuConfig::v2`]).
    WTinyLfuV2,
    /// Window TinyLFU whose window share and admission rule are chosen by
    /// sampled miniatures ([`WTinyLfuAuto`]).
    WTinyLfuAuto,
}

/// A policy name that [`PolicyKind::from_name`] does not know.
///
/// ```
/// use ttlkit_strategies::PolicyKind;
///
/// let err = PolicyKind::from_name("random").unwrap_err();
/// assert_eq!(err.name, "random");
/// assert!(err.known.contains("s3-fifo"));
/// assert!(err.to_string().starts_with("unknown eviction policy"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy {
    /// The name that was asked for.
    pub name: String,
    /// The known names, comma separated.
    pub known: String,
}

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown eviction policy {:?}; known policies: {}", self.name, self.known)
    }
}

impl std::error::Error for UnknownPolicy {}

impl PolicyKind {
    /// Every policy, in a stable order.
    pub const ALL: &'static [PolicyKind] = &[
        PolicyKind::Fifo,
        PolicyKind::Lru,
        PolicyKind::Clock,
        PolicyKind::Sieve,
        PolicyKind::S3Fifo,
        PolicyKind::Arc,
        PolicyKind::WTinyLfu,
        PolicyKind::WTinyLfuClimb,
        PolicyKind::WTinyLfuV2,
        PolicyKind::WTinyLfuAuto,
    ];

    /// The policy's canonical name (lower case, e.g. `"lru"`).
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Fifo => "fifo",
            PolicyKind::Lru => "lru",
            PolicyKind::Clock => "clock",
            PolicyKind::Sieve => "sieve",
            PolicyKind::S3Fifo => "s3-fifo",
            PolicyKind::Arc => "arc",
            PolicyKind::WTinyLfu => "w-tinylfu",
            PolicyKind::WTinyLfuClimb => "w-tinylfu-climb",
            PolicyKind::WTinyLfuV2 => "w-tinylfu-v2",
            PolicyKind::WTinyLfuAuto => "w-tinylfu-auto",
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
            PolicyKind::Fifo => Box::new(Fifo::new(capacity)),
            PolicyKind::Lru => Box::new(Lru::new(capacity)),
            PolicyKind::Clock => Box::new(Clock::new(capacity)),
            PolicyKind::Sieve => Box::new(Sieve::new(capacity)),
            PolicyKind::S3Fifo => Box::new(S3Fifo::new(capacity)),
            PolicyKind::Arc => Box::new(Arc::new(capacity)),
            PolicyKind::WTinyLfu => Box::new(WTinyLfu::new(capacity)),
            PolicyKind::WTinyLfuClimb => Box::new(WTinyLfu::with_config(capacity, WTinyLfuConfig::caffeine())),
            PolicyKind::WTinyLfuV2 => Box::new(WTinyLfu::with_config(capacity, WTinyLfuConfig::v2())),
            PolicyKind::WTinyLfuAuto => Box::new(WTinyLfuAuto::new(capacity)),
        }
    }
}

impl PolicyKind {
    /// Like [`build`](Self::build), for an owner whose ids are its own slot
    /// indexes (0, 1, 2, ..., a freed slot's id reused by a later entry), as
    /// ttlkit's backends are. Each id must stay below about the most entries
    /// the owner ever holds plus one: the list-based policies then keep no
    /// id-to-node index and no ids, the node index being the id (12 bytes
    /// less per entry), and allocate as far as the highest id. ARC, whose
    /// ghosts keep their own ids, and `w-tinylfu-auto` are built as usual.
    ///
    /// ```
    /// use ttlkit_strategies::PolicyKind;
    ///
    /// let mut lru = PolicyKind::Lru.build_for_slots(2);
    /// lru.on_insert(0, 10);
    /// lru.on_insert(1, 11);
    /// lru.on_hit(0);
    /// assert_eq!(lru.evict(), Some(1));
    /// lru.on_insert(1, 12); // slot 1 holds a new entry
    /// assert_eq!(lru.evict(), Some(0));
    /// ```
    pub fn build_for_slots(self, capacity: usize) -> Box<dyn EvictionPolicy> {
        match self {
            PolicyKind::Fifo => Box::new(Fifo::new(capacity).with_slot_ids()),
            PolicyKind::Lru => Box::new(Lru::new(capacity).with_slot_ids()),
            PolicyKind::Clock => Box::new(Clock::new(capacity).with_slot_ids()),
            PolicyKind::Sieve => Box::new(Sieve::new(capacity).with_slot_ids()),
            PolicyKind::S3Fifo => Box::new(S3Fifo::new(capacity).with_slot_ids()),
            PolicyKind::WTinyLfu => Box::new(WTinyLfu::new(capacity).with_slot_ids()),
            PolicyKind::WTinyLfuClimb => {
                Box::new(WTinyLfu::with_config(capacity, WTinyLfuConfig::caffeine()).with_slot_ids())
            }
            PolicyKind::WTinyLfuV2 => Box::new(WTinyLfu::with_config(capacity, WTinyLfuConfig::v2()).with_slot_ids()),
            PolicyKind::WTinyLfuAuto => Box::new(WTinyLfuAuto::new(capacity).with_slot_ids()),
            PolicyKind::Arc => self.build(capacity),
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
        assert_eq!(PolicyKind::from_name("W_TinyLFU"), Ok(PolicyKind::WTinyLfu));
        assert_eq!(PolicyKind::from_name("s3_fifo"), Ok(PolicyKind::S3Fifo));
        let Err(err) = PolicyKind::from_name("nope") else { panic!("\"nope\" is not a policy") };
        assert!(err.to_string().contains("lru"));
    }

    /// Drives a policy as an owner holding at most `room` entries would.
    fn churn(p: &mut dyn EvictionPolicy, room: usize) {
        for id in 0..2_000u64 {
            p.on_insert(id, crate::mix64(id));
            p.on_hit(id / 2);
            while p.len() > room {
                assert!(p.evict().is_some(), "{}: over room but nothing to evict", p.name());
            }
            if id % 7 == 0 {
                p.on_remove(id / 3);
            }
        }
        assert!(p.validate().is_ok(), "{}: {:?}", p.name(), p.validate());
        p.clear();
        assert_eq!(p.len(), 0);
    }

    /// Any capacity builds a working policy: huge ones (a weight bound, or
    /// `u64::MAX`) must neither overflow nor allocate in proportion.
    #[test]
    fn extreme_capacities_build_and_work() {
        for &k in PolicyKind::ALL {
            for (capacity, room) in [(usize::MAX, 3_000), (usize::MAX / 3, 3_000), (1 << 40, 500), (1, 1), (0, 0)] {
                let mut p = k.build(capacity);
                assert_eq!(p.capacity(), capacity);
                churn(p.as_mut(), room);
            }
        }
    }
}
