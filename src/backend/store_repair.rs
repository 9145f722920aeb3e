//! What the store does when its eviction policy panics.
//!
//! The store calls its policy only at points where its own structures (map,
//! wheel, weights) are consistent, so a panicking call can tear nothing but
//! the policy. The store then drops that policy, restores its bound by
//! deadline order (the entries nearest to expiring go first), builds a
//! fresh policy of the same kind told of every resident entry, and lets
//! the panic go on to the caller. Recency, frequency and ghost memory are
//! lost; correctness is not.

use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use ttlkit_strategies::{EvictionPolicy, PolicyKind};

use super::Store;
use crate::cache::RemovalCause;
use crate::core::DepartureList;

impl<K: Hash + Eq, V> Store<K, V> {
    /// Runs `f` on the policy, if there is one; a panic in it is repaired
    /// (see the module docs) and then resumed. Removals the repair makes go
    /// to `out`.
    pub(super) fn with_policy<R>(
        &mut self,
        out: &mut DepartureList<K, V>,
        f: impl FnOnce(&mut dyn EvictionPolicy) -> R,
    ) -> Option<R> {
        let p = self.policy.as_mut()?;
        // Unwind safety: on a panic `p` is dropped unread (below).
        match catch_unwind(AssertUnwindSafe(|| f(p.as_mut()))) {
            Ok(r) => Some(r),
            Err(panic) => {
                self.repair(out);
                resume_unwind(panic)
            }
        }
    }

    /// The entry to evict when there is no policy to ask: one the wheel
    /// files earliest (every resident entry is filed; expired ones were
    /// looked for already).
    pub(super) fn fallback_victim(&self) -> Option<u32> {
        self.wheel.earliest()
    }

    fn repair(&mut self, out: &mut DepartureList<K, V>) {
        let Some(torn) = self.policy.take() else { return };
        while self.over_capacity() {
            let Some(idx) = self.fallback_victim() else { break };
            let cause = self.departure(idx, self.latest.last(), RemovalCause::Capacity);
            self.remove_at(idx, cause, out, false);
        }
        let Ok(kind) = PolicyKind::from_name(torn.name()) else { return };
        let mut fresh = kind.build_for_slots(torn.capacity());
        drop(torn);
        let told = catch_unwind(AssertUnwindSafe(|| {
            for (idx, e) in (0u64..).zip(&self.slots) {
                if let Some(e) = e {
                    fresh.on_insert(idx, self.hasher.hash_one(&e.key));
                }
            }
        }));
        // A fresh policy that panics too is left out: the store then evicts
        // by deadline order.
        if told.is_ok() {
            self.policy = Some(fresh);
        }
    }
}
