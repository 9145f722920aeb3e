//! First in, first out.

use crate::id_index::IdIndex;
use crate::slab_list::SlabList;
use crate::{EntryId, EvictionPolicy};

const LIST: usize = 0;

/// First in, first out: evicts the entry inserted longest ago; hits change
/// nothing.
#[derive(Debug, Clone)]
pub struct Fifo {
    capacity: usize,
    nodes: SlabList<(), 1>,
    index: IdIndex,
}

impl Fifo {
    /// A FIFO policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let reserve = capacity.min(1 << 16);
        Fifo { capacity, nodes: SlabList::with_capacity(reserve), index: IdIndex::default() }
    }
}

impl EvictionPolicy for Fifo {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn on_insert(&mut self, id: EntryId, _hash: u64) {
        if self.index.contains_key(&id) {
            return;
        }
        let idx = self.nodes.push_tail(LIST, id, ());
        self.index.insert(id, idx);
    }

    fn on_hit(&mut self, _id: EntryId) {}

    fn on_remove(&mut self, id: EntryId) {
        if let Some(idx) = self.index.remove(&id) {
            self.nodes.remove(idx);
        }
    }

    fn evict(&mut self) -> Option<EntryId> {
        let idx = self.nodes.head(LIST)?;
        let (id, ()) = self.nodes.remove(idx);
        self.index.remove(&id);
        Some(id)
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.index.clear();
    }

    fn validate(&self) -> Result<(), String> {
        let linked = self.nodes.validate_list(LIST)?;
        crate::check_index("fifo", &self.nodes, &linked, &self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_in_insertion_order() {
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
}
