//! S3-FIFO (Yang et al., SOSP 2023).

use crate::ghost::GhostFifo;
use crate::id_index::IdIndex;
use crate::slab_list::SlabList;
use crate::{EntryId, EvictionPolicy};

const SMALL: usize = 0;
const MAIN: usize = 1;

/// Hits are counted up to this (two bits).
const MAX_FREQ: u8 = 3;

#[derive(Debug, Clone, Copy)]
struct Meta {
    hash: u64,
    freq: u8,
}

/// S3-FIFO: three FIFO queues — small, main and a ghost of hashes.
///
/// Newcomers enter the small queue (10% of the capacity) unless the ghost
/// remembers them, in which case they go straight to main. Hits only bump a
/// two-bit counter. Leaving the small queue, an entry hit at least twice moves
/// to main, any other is evicted and its hash remembered by the ghost (which
/// holds as many hashes as main holds entries). Main is a FIFO with
/// reinsertion: an entry with a non-zero counter goes round again with the
/// counter decremented. Most one-hit wonders thus leave quickly, from the
/// small queue.
#[derive(Debug, Clone)]
pub struct S3Fifo {
    capacity: usize,
    small_target: usize,
    nodes: SlabList<Meta, 2>,
    index: IdIndex,
    ghost: GhostFifo,
}

impl S3Fifo {
    /// An S3-FIFO policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let small_target = (capacity / 10).max(1);
        let reserve = capacity.min(1 << 16);
        S3Fifo {
            capacity,
            small_target,
            nodes: SlabList::with_capacity(reserve),
            index: IdIndex::default(),
            ghost: GhostFifo::new(capacity.saturating_sub(small_target).max(1)),
        }
    }

    fn remove_node(&mut self, idx: u32) -> EntryId {
        let (id, _) = self.nodes.remove(idx);
        self.index.remove(&id);
        id
    }
}

impl EvictionPolicy for S3Fifo {
    fn name(&self) -> &'static str {
        "s3-fifo"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn on_insert(&mut self, id: EntryId, hash: u64) {
        if self.index.contains_key(&id) {
            self.on_hit(id);
            return;
        }
        let list = if self.ghost.remove(hash) { MAIN } else { SMALL };
        let idx = self.nodes.push_tail(list, id, Meta { hash, freq: 0 });
        self.index.insert(id, idx);
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(&idx) = self.index.get(&id) {
            let m = &mut self.nodes.node_mut(idx).data;
            m.freq = (m.freq + 1).min(MAX_FREQ);
        }
    }

    fn on_remove(&mut self, id: EntryId) {
        if let Some(idx) = self.index.remove(&id) {
            self.nodes.remove(idx);
        }
    }

    fn evict(&mut self) -> Option<EntryId> {
        // Terminates: each step moves an entry from small to main (at most
        // `len` times) or decrements a counter in main (at most 3 per entry)
        // unless it evicts.
        loop {
            let from_small = self.nodes.len(SMALL) >= self.small_target || self.nodes.len(MAIN) == 0;
            if from_small {
                let idx = self.nodes.head(SMALL)?;
                let meta = self.nodes.node(idx).data;
                if meta.freq > 1 {
                    self.nodes.node_mut(idx).data.freq = 0;
                    self.nodes.move_to_tail(idx, MAIN);
                } else {
                    self.ghost.insert(meta.hash);
                    return Some(self.remove_node(idx));
                }
            } else {
                let idx = self.nodes.head(MAIN)?;
                let m = &mut self.nodes.node_mut(idx).data;
                if m.freq > 0 {
                    m.freq -= 1;
                    self.nodes.move_to_tail(idx, MAIN);
                } else {
                    return Some(self.remove_node(idx));
                }
            }
        }
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.index.clear();
    }

    fn validate(&self) -> Result<(), String> {
        let mut linked = self.nodes.validate_list(SMALL)?;
        linked.extend(self.nodes.validate_list(MAIN)?);
        for &idx in &linked {
            if self.nodes.node(idx).data.freq > MAX_FREQ {
                return Err(format!("s3-fifo: node {idx} has frequency over {MAX_FREQ}"));
            }
        }
        self.ghost.validate()?;
        crate::check_index("s3-fifo", &self.nodes, &linked, &self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hit_wonders_leave_from_small_and_come_back_to_main() {
        let mut p = S3Fifo::new(10); // small target 1
        p.on_insert(1, 101);
        p.on_hit(1);
        p.on_hit(1);
        p.on_insert(2, 102);
        // 1 was hit twice: promoted to main; 2 is a one-hit wonder.
        assert_eq!(p.evict(), Some(2));
        p.on_insert(2, 102); // the ghost remembers 2: straight to main
        p.on_insert(3, 103);
        assert_eq!(p.evict(), Some(3));
        assert_eq!(p.evict(), Some(1));
        assert_eq!(p.evict(), Some(2));
        assert!(p.validate().is_ok());
    }
}
