//! Least recently used.

use crate::id_index::IdIndex;
use crate::slab_list::SlabList;
use crate::{EntryId, EvictionPolicy};

const LIST: usize = 0;

/// Least recently used: evicts the entry whose last insert or hit is oldest.
#[derive(Debug, Clone)]
pub struct Lru {
    capacity: usize,
    nodes: SlabList<(), 1>,
    index: IdIndex,
}

impl Lru {
    /// An LRU policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let reserve = capacity.min(1 << 16);
        Lru { capacity, nodes: SlabList::with_capacity(reserve), index: IdIndex::default() }
    }
}

impl EvictionPolicy for Lru {
    fn name(&self) -> &'static str {
        "lru"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn on_insert(&mut self, id: EntryId, _hash: u64) {
        if let Some(&idx) = self.index.get(&id) {
            self.nodes.move_to_tail(idx, LIST);
            return;
        }
        let idx = self.nodes.push_tail(LIST, id, ());
        self.index.insert(id, idx);
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(&idx) = self.index.get(&id) {
            self.nodes.move_to_tail(idx, LIST);
        }
    }

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
        if linked.len() != self.index.len() {
            return Err(format!("lru: {} linked but {} indexed", linked.len(), self.index.len()));
        }
        for idx in linked {
            let id = self.nodes.node(idx).id();
            if self.index.get(&id) != Some(&idx) {
                return Err(format!("lru: node {idx} (id {id}) is not indexed"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
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
