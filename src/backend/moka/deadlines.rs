//! Our own expiry index for the moka backend: per write stripe, a min-heap
//! of `(deadline, Weak<Slot>)`.
//!
//! moka's timer wheels run on moka's clock, which we cannot inject, so they
//! cannot tell us which entries our clock says are expired. The other cores'
//! timer wheel (`crate::timer_wheel`) files ids that its owner unfiles when
//! an entry leaves; moka's entries leave inside moka, under its locks, where
//! our removal hook cannot take a stripe's lock, so this index must let go
//! of them lazily instead: each item holds a `Weak` to its slot. Each insert
//! pushes its deadline here; purging pops only the due items. A popped entry
//! that a hit refreshed since is pushed back at its new deadline (hits never
//! touch the heap), and one that already left (replaced, removed, evicted) is
//! dropped. So purging costs O(log n) per due item, never a scan of the map.
//!
//! Items of entries that left before their deadline linger until it comes;
//! a heap that doubles past its live items is compacted, so it holds at most
//! about twice the live entries of its stripe (plus [`MIN_COMPACT`]). A heap
//! whose items fill less than a quarter of its allocation (after a purge or
//! a compaction) gives the memory back down to twice its items, so a burst
//! of expired entries does not pin its peak for ever.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};

use super::slot::Slot;
use crate::clock::Ticks;
use crate::sync::Mutex;

/// Heaps smaller than this are never compacted.
const MIN_COMPACT: usize = 64;

struct Due<K, V> {
    at: Ticks,
    slot: Weak<Slot<K, V>>,
}

impl<K, V> PartialEq for Due<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl<K, V> Eq for Due<K, V> {}

impl<K, V> PartialOrd for Due<K, V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K, V> Ord for Due<K, V> {
    /// Reversed, so `BinaryHeap` (a max-heap) pops the earliest deadline.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

/// The deadlines of one stripe's entries.
pub(super) struct Deadlines<K, V> {
    heap: BinaryHeap<Due<K, V>>,
    compact_at: usize,
}

impl<K, V> Default for Deadlines<K, V> {
    fn default() -> Self {
        Deadlines { heap: BinaryHeap::new(), compact_at: MIN_COMPACT }
    }
}

impl<K, V> Deadlines<K, V> {
    /// Schedules a look at `slot` at `at`.
    pub(super) fn push(&mut self, at: Ticks, slot: &Arc<Slot<K, V>>) {
        self.heap.push(Due { at, slot: Arc::downgrade(slot) });
        if self.heap.len() >= self.compact_at {
            self.compact();
        }
    }

    /// Drops the items of entries that already left.
    pub(super) fn compact(&mut self) {
        self.heap.retain(|d| d.slot.upgrade().is_some_and(|s| !s.is_settled()));
        self.compact_at = (self.heap.len() * 2).max(MIN_COMPACT);
        self.shrink_if_sparse();
    }

    /// Frees most of the allocation if the items fill under a quarter of it.
    pub(super) fn shrink_if_sparse(&mut self) {
        let (len, room) = (self.heap.len(), self.heap.capacity());
        if room > MIN_COMPACT && len < room / 4 {
            self.heap.shrink_to((len * 2).max(MIN_COMPACT));
        }
    }

    /// Pops the next item due at `now` whose entry is still in the cache.
    pub(super) fn pop_due(&mut self, now: Ticks) -> Option<Arc<Slot<K, V>>> {
        while self.heap.peek().is_some_and(|d| d.at <= now) {
            let due = self.heap.pop()?;
            if let Some(slot) = due.slot.upgrade().filter(|s| !s.is_settled()) {
                return Some(slot);
            }
        }
        None
    }

    /// Whether an item is due at `now`.
    pub(super) fn has_due(&self, now: Ticks) -> bool {
        self.heap.peek().is_some_and(|d| d.at <= now)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Items the heap has room for (tests only).
    #[cfg(test)]
    pub(super) fn room(&self) -> usize {
        self.heap.capacity()
    }
}

/// One write stripe: its lock serialises every write of the keys that hash
/// to it (see the module docs of [`super`]) and guards their deadlines.
/// Aligned to a cache line so neighbouring stripes do not share one.
#[repr(align(64))]
pub(super) struct Stripe<K, V>(pub(super) Mutex<Deadlines<K, V>>);

impl<K, V> Default for Stripe<K, V> {
    fn default() -> Self {
        Stripe(Mutex::new(Deadlines::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::RemovalCause;

    fn slot(k: u32, at: u64) -> Arc<Slot<u32, u32>> {
        Arc::new(Slot::new(k, k, Ticks::from_nanos(at), 1, 0))
    }

    #[test]
    fn pops_in_deadline_order_skipping_departed() {
        let mut d = Deadlines::default();
        let (a, b, c) = (slot(1, 0), slot(2, 0), slot(3, 0));
        d.push(Ticks::from_nanos(30), &c);
        d.push(Ticks::from_nanos(10), &a);
        d.push(Ticks::from_nanos(20), &b);
        assert!(!d.has_due(Ticks::from_nanos(9)));
        assert!(b.try_settle(RemovalCause::Replaced));
        let now = Ticks::from_nanos(25);
        assert_eq!(d.pop_due(now).map(|s| s.key), Some(1));
        assert!(d.pop_due(now).is_none(), "2 left already; 3 is not due");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn compaction_bounds_the_heap() {
        let mut d = Deadlines::default();
        let live = slot(0, 0);
        for i in 0..1000 {
            let gone = slot(i, 0);
            d.push(Ticks::from_nanos(u64::from(i)), &gone);
            drop(gone);
            d.push(Ticks::from_nanos(u64::from(i)), &live);
        }
        assert!(d.len() < 2 * 1000, "dead items were compacted away: {}", d.len());
        d.compact();
        assert_eq!(d.len(), 1000, "only the live slot's items remain");
    }
}
