//! SIEVE (Zhang et al., NSDI 2024).

use crate::id_index::IdIndex;
use crate::slab_list::SlabList;
use crate::{EntryId, EvictionPolicy};

const QUEUE: usize = 0;

/// SIEVE: a FIFO queue with a visited bit and a hand that stays put.
///
/// New entries join the newest end with a clear bit; a hit sets the bit and
/// moves nothing. To evict, the hand walks from where it last stopped towards
/// the newest end (wrapping to the oldest): a set bit is cleared and the walk
/// goes on; the first entry with a clear bit is evicted and the hand rests on
/// the entry after it. Unlike CLOCK, survivors keep their place, so entries
/// inserted after a survivor may leave before it ("quick demotion").
#[derive(Debug, Clone)]
pub struct Sieve {
    capacity: usize,
    /// Head = oldest, tail = newest; node data: the visited bit.
    nodes: SlabList<bool, 1>,
    index: IdIndex,
    /// Where the next sweep starts; `None` means at the oldest entry.
    hand: Option<u32>,
}

impl Sieve {
    /// A SIEVE policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let reserve = capacity.min(1 << 16);
        Sieve { capacity, nodes: SlabList::with_capacity(reserve), index: IdIndex::default(), hand: None }
    }
}

impl EvictionPolicy for Sieve {
    fn name(&self) -> &'static str {
        "sieve"
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
        let idx = self.nodes.push_tail(QUEUE, id, false);
        self.index.insert(id, idx);
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(&idx) = self.index.get(&id) {
            self.nodes.node_mut(idx).data = true;
        }
    }

    fn on_remove(&mut self, id: EntryId) {
        if let Some(idx) = self.index.remove(&id) {
            if self.hand == Some(idx) {
                self.hand = self.nodes.next(idx);
            }
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
        let mut cur = match self.hand {
            Some(h) => h,
            None => self.nodes.head(QUEUE)?,
        };
        loop {
            let node = self.nodes.node_mut(cur);
            let owner = owner_bit(node.id());
            let visited = &mut node.data;
            if !*visited && !owner {
                break;
            }
            *visited = false;
            cur = match self.nodes.next(cur) {
                Some(n) => n,
                None => self.nodes.head(QUEUE)?,
            };
        }
        self.hand = self.nodes.next(cur);
        let (id, _) = self.nodes.remove(cur);
        self.index.remove(&id);
        Some(id)
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.index.clear();
        self.hand = None;
    }

    fn validate(&self) -> Result<(), String> {
        let linked = self.nodes.validate_list(QUEUE)?;
        if let Some(h) = self.hand {
            if !linked.contains(&h) {
                return Err(format!("sieve: hand {h} is not on the queue"));
            }
        }
        crate::check_index("sieve", &self.nodes, &linked, &self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survivors_keep_their_place() {
        let mut p = Sieve::new(4);
        for id in 1..=3 {
            p.on_insert(id, id);
        }
        p.on_hit(1);
        assert_eq!(p.evict(), Some(2)); // 1 survives in place, bit cleared
        p.on_insert(4, 4);
        p.on_hit(3);
        // Hand rests at 3 (after 2): 3 is visited, then 4 is not.
        assert_eq!(p.evict(), Some(4));
        assert_eq!(p.evict(), Some(1));
        assert!(p.validate().is_ok());
    }
}
