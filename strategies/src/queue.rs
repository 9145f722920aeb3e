//! FIFO and LRU: one queue, differing only in what a hit does.

use crate::resident::Resident;
use crate::{EntryId, EvictionPolicy};

const LIST: usize = 0;

/// A single queue of residents, evicted from its head. With `RECENCY` a hit
/// (or a re-insert) moves the entry to the tail (LRU); without, hits change
/// nothing (FIFO).
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, Fifo, Lru};
///
/// let mut fifo = Fifo::new(2);
/// let mut lru = Lru::new(2);
/// for p in [&mut fifo as &mut dyn EvictionPolicy, &mut lru] {
///     p.on_insert(1, 1);
///     p.on_insert(2, 2);
///     p.on_hit(1);
/// }
/// assert_eq!(fifo.evict(), Some(1), "FIFO ignores the hit");
/// assert_eq!(lru.evict(), Some(2), "LRU keeps the entry just read");
/// ```
#[derive(Debug, Clone)]
pub struct Queue<const RECENCY: bool> {
    capacity: usize,
    res: Resident<(), 1>,
}

/// First in, first out: evicts the entry inserted longest ago; hits change
/// nothing.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, Fifo};
///
/// let mut fifo = Fifo::new(2);
/// fifo.on_insert(1, 1);
/// fifo.on_insert(2, 2);
/// fifo.on_hit(1);
/// assert_eq!(fifo.evict(), Some(1), "first in, first out, hits or not");
/// ```
pub type Fifo = Queue<false>;

/// Least recently used: evicts the entry whose last insert or hit is oldest.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, Lru};
///
/// let mut lru = Lru::new(2);
/// lru.on_insert(1, 1);
/// lru.on_insert(2, 2);
/// lru.on_hit(1);
/// assert_eq!(lru.evict(), Some(2));
/// ```
pub type Lru = Queue<true>;

impl<const RECENCY: bool> Queue<RECENCY> {
    /// A policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Queue { capacity, res: Resident::new(capacity) }
    }

    /// The same policy for an owner whose ids are its own slot indexes
    /// (see [`PolicyKind::build_for_slots`](crate::PolicyKind::build_for_slots)):
    /// 12 bytes less per entry.
    pub fn with_slot_ids(mut self) -> Self {
        self.res.use_slot_ids(self.capacity);
        self
    }

    fn touch(&mut self, id: EntryId) {
        if RECENCY {
            if let Some(idx) = self.res.find(id) {
                self.res.move_to_tail(idx, LIST);
            }
        }
    }
}

impl<const RECENCY: bool> EvictionPolicy for Queue<RECENCY> {
    fn name(&self) -> &'static str {
        if RECENCY {
            "lru"
        } else {
            "fifo"
        }
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.res.len()
    }

    fn on_insert(&mut self, id: EntryId, _hash: u64) {
        if self.res.contains(id) {
            self.touch(id);
            return;
        }
        self.res.insert(LIST, id, ());
    }

    fn on_hit(&mut self, id: EntryId) {
        self.touch(id);
    }

    fn on_remove(&mut self, id: EntryId) {
        self.res.remove(id);
    }

    fn evict(&mut self) -> Option<EntryId> {
        let idx = self.res.head(LIST)?;
        Some(self.res.remove_node(idx))
    }

    /// From the head: the next to go.
    fn coldest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[LIST], n, false))
    }

    /// From the tail: the most recently used (LRU) or inserted (FIFO).
    fn hottest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[LIST], n, true))
    }

    fn clear(&mut self) {
        self.res.clear();
    }

    fn validate(&self) -> Result<(), String> {
        self.res.validate(self.name(), &[LIST]).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_evicts_in_insertion_order() {
        let mut p = Fifo::new(3);
        for id in 1..=3 {
            p.on_insert(id, id);
        }
        p.on_hit(1);
        assert_eq!(p.evict(), Some(1));
        p.on_remove(2);
        assert_eq!(p.evict(), Some(3));
        assert_eq!(p.evict(), None);
        assert!(p.validate().is_ok());
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut p = Lru::new(3);
        for id in 1..=3 {
            p.on_insert(id, id);
        }
        p.on_hit(1);
        assert_eq!(p.evict(), Some(2));
        assert_eq!(p.evict(), Some(3));
        p.on_remove(1);
        assert_eq!(p.evict(), None);
        assert_eq!(p.validate(), Ok(()));
    }
}
