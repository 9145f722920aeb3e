//! Weight accounting of the sharded backend.
//!
//! A shard's change of weight is summed while its lock is held and applied,
//! in that same critical section, to the shard's total and to the
//! cache-wide one. No total is ever derived by reading a counter before and
//! after an operation: two writers on one shard would each count the
//! other's change, and the cache-wide total would drift for good.

use std::sync::atomic::Ordering;

use crate::sync::AtomicU64;

/// The weight one critical section added to a shard and removed from it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeightDelta {
    added: u64,
    removed: u64,
}

impl WeightDelta {
    fn apply(self, counter: &AtomicU64) {
        if self.added >= self.removed {
            counter.fetch_add(self.added - self.removed, Ordering::Relaxed);
        } else {
            counter.fetch_sub(self.removed - self.added, Ordering::Relaxed);
        }
    }
}

/// Sums one critical section's weight change and commits it to the shard's
/// and the cache's totals when dropped. Declared after the shard lock's
/// guard, it drops first: the commit happens under the lock, on unwind as
/// well, so a write cut short by a panic still accounts for what it did.
pub(crate) struct Ledger<'a> {
    shard: &'a AtomicU64,
    total: &'a AtomicU64,
    delta: WeightDelta,
}

impl<'a> Ledger<'a> {
    pub(crate) fn new(shard: &'a AtomicU64, total: &'a AtomicU64) -> Self {
        Ledger { shard, total, delta: WeightDelta::default() }
    }

    pub(crate) fn add(&mut self, weight: u64) {
        self.delta.added += weight;
    }

    pub(crate) fn remove(&mut self, weight: u64) {
        self.delta.removed += weight;
    }

    /// `counter` (the shard's or the cache's total) as it will read once
    /// this critical section's change is committed.
    pub(crate) fn after(&self, counter: &AtomicU64) -> u64 {
        (counter.load(Ordering::Relaxed) + self.delta.added).saturating_sub(self.delta.removed)
    }
}

impl Drop for Ledger<'_> {
    fn drop(&mut self) {
        let delta = std::mem::take(&mut self.delta);
        // An unchanged shard leaves the shared counter's cache line alone.
        if delta != WeightDelta::default() {
            delta.apply(self.shard);
            delta.apply(self.total);
        }
    }
}
