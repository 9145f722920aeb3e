//! CLOCK (second chance).

use crate::id_index::IdIndex;
use crate::slab_list::SlabList;
use crate::{EntryId, EvictionPolicy};

const RING: usize = 0;

/// CLOCK: a FIFO ring with one reference bit per entry.
///
/// A hit sets the entry's bit. To evict, the hand sweeps from the oldest
/// entry: a set bit is cleared and the entry goes round again (a second
/// chance); the first entry found with a clear bit is the victim. New entries
/// go just behind the hand with a clear bit.
///
/// The ring is kept as a list whose head is the hand: giving a second chance
/// moves the head to the tail, which is the same order a hand walking a
/// fixed array would visit.
#[derive(Debug, Clone)]
pub struct Clock {
    capacity: usize,
    /// Node data: the reference bit.
    nodes: SlabList<bool, 1>,
    index: IdIndex,
}

impl Clock {
    /// A CLOCK policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let reserve = capacity.min(1 << 16);
        Clock { capacity, nodes: SlabList::with_capacity(reserve), index: IdIndex::default() }
    }
}

impl EvictionPolicy for Clock {
    fn name(&self) -> &'static str {
        "clock"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn on_insert(&mut self, id: EntryId, _hash: u64) {
        if let Some(&idx) = self.index.get(&id) {
            self.nodes.node_mut(idx).data = true;
            return;
        }
        let idx = self.nodes.push_tail(RING, id, false);
        self.index.insert(id, idx);
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(&idx) = self.index.get(&id) {
            self.nodes.node_mut(idx).data = true;
        }
    }

    fn on_remove(&mut self, id: EntryId) {
        if let Some(idx) = self.index.remove(&id) {
            self.nodes.remove(idx);
        }
    }

    fn evict(&mut self) -> Option<EntryId> {
        self.evict_with_bits(&mut |_| false)
    }

    fn reads_reference_bits(&self) -> bool {
        true
    }

    fn evict_with_bits(&mut self, owner_bit: &mut dyn FnMut(EntryId) -> bool) -> Option<EntryId> {
        // Terminates: every pass clears bits (ours, and the owner's through
        // `owner_bit`), so the second lap finds one clear unless hits keep
        // landing during the sweep.
        loop {
            let hand = self.nodes.head(RING)?;
            let node = self.nodes.node_mut(hand);
            let owner = owner_bit(node.id());
            let referenced = &mut node.data;
            if *referenced || owner {
                *referenced = false;
                self.nodes.move_to_tail(hand, RING);
            } else {
                let (id, _) = self.nodes.remove(hand);
                self.index.remove(&id);
                return Some(id);
            }
        }
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.index.clear();
    }

    fn validate(&self) -> Result<(), String> {
        let linked = self.nodes.validate_list(RING)?;
        crate::check_index("clock", &self.nodes, &linked, &self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_chance() {
        let mut p = Clock::new(3);
        for id in 1..=3 {
            p.on_insert(id, id);
        }
        p.on_hit(1);
        p.on_hit(2);
        assert_eq!(p.evict(), Some(3));
        // 1 and 2 lost their bits on the sweep: oldest of them goes next.
        assert_eq!(p.evict(), Some(1));
        assert!(p.validate().is_ok());
    }
}
