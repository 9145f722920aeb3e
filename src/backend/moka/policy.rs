//! Which of ttlkit's policies moka can run, as moka's own
//! [`EvictionPolicy`].

use ::moka::policy::EvictionPolicy;
use ttlkit_strategies::PolicyKind;

use crate::builder::BuildError;
use crate::kind::BackendKind;

/// The policies moka runs, as the [`BuildError::UnsupportedPolicy`] it
/// refuses the others with lists them.
const MOKA_POLICIES: &str = "lru, w-tinylfu";

/// moka's own eviction policy for `kind`, or why it has none.
///
/// moka runs LRU and TinyLFU (LRU eviction behind a frequency-sketch
/// admission filter, without W-TinyLFU's admission window). `w-tinylfu` is
/// the nearest name for the latter; the tuned variants (`w-tinylfu-climb`,
/// `w-tinylfu-v2`) and every other policy are refused, rather than quietly
/// run as something else.
pub(super) fn eviction_policy(kind: PolicyKind) -> Result<EvictionPolicy, BuildError> {
    let refuse =
        || BuildError::UnsupportedPolicy { backend: BackendKind::Moka, policy: kind, supported: MOKA_POLICIES };
    match kind {
        PolicyKind::Lru => Ok(EvictionPolicy::lru()),
        PolicyKind::WTinyLfu => Ok(EvictionPolicy::tiny_lfu()),
        PolicyKind::Fifo
        | PolicyKind::Clock
        | PolicyKind::Sieve
        | PolicyKind::S3Fifo
        | PolicyKind::Arc
        | PolicyKind::WTinyLfuClimb
        | PolicyKind::WTinyLfuV2
        | PolicyKind::WTinyLfuAuto => Err(refuse()),
        // PolicyKind is non-exhaustive (another crate): a policy added there
        // is refused until it is mapped here.
        _ => Err(refuse()),
    }
}
