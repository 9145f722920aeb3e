//! ARC, the adaptive replacement cache (Megiddo & Modha, FAST 2003).

use crate::resident::Resident;
use crate::{EntryId, EvictionPolicy, IdMap};

/// Resident, seen once recently.
const T1: usize = 0;
/// Resident, seen at least twice recently.
const T2: usize = 1;
/// Ghosts (hashes only) evicted from T1.
const B1: usize = 2;
/// Ghosts evicted from T2.
const B2: usize = 3;

/// What the last [`EvictionPolicy::on_insert`] left for the next `evict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Nothing special.
    None,
    /// The newcomer (node index) came from ghost list B2 (ARC case III): a
    /// tie `|T1| = p` evicts from T1.
    FromB2,
    /// `|T1| = c` when a brand-new key arrived (ARC case IV.A): evict T1's
    /// LRU entry without remembering it in B1.
    DropT1,
}

/// ARC: two LRU lists (recency T1, frequency T2) whose split adapts to the
/// workload, guided by ghost lists B1 and B2 of recently evicted hashes.
///
/// A hit on a B1 ghost grows T1's target `p`, a hit on a B2 ghost shrinks
/// it; eviction takes T1's LRU entry while T1 is over its target, else T2's.
/// This follows the paper's pseudo-code exactly, with its REPLACE step run by
/// [`evict`](EvictionPolicy::evict) after the newcomer was inserted: the
/// newcomer is discounted from T1's size so decisions match the original.
///
/// ```
/// use ttlkit_strategies::{Arc, EvictionPolicy};
///
/// let mut policy = Arc::new(100);
/// for id in 0..150 {
///     policy.on_insert(id, id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
///     while policy.len() > 100 {
///         policy.evict();
///     }
/// }
/// assert_eq!((policy.name(), policy.len()), ("arc", 100));
/// policy.validate()?;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct Arc {
    capacity: usize,
    /// T1's target size.
    p: usize,
    /// All four lists. Resident node ids are entry ids; ghost nodes are not
    /// indexed and their ids are hashes. Node data: the hash.
    res: Resident<u64, 4>,
    ghosts: IdMap<u32>,
    /// The newest resident, not yet counted by `evict`'s REPLACE.
    newcomer: Option<u32>,
    pending: Pending,
}

impl Arc {
    /// An ARC policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Arc {
            capacity,
            p: 0,
            res: Resident::new(capacity),
            ghosts: IdMap::default(),
            newcomer: None,
            pending: Pending::None,
        }
    }

    /// T1's target size (ARC's `p`).
    pub fn target_t1(&self) -> usize {
        self.p
    }

    fn drop_ghost_lru(&mut self, list: usize) {
        if let Some(idx) = self.res.head(list) {
            let h = self.res.remove_unindexed(idx);
            self.ghosts.remove(&h);
        }
    }

    /// Moves resident node `idx` to the MRU end of ghost list `list`.
    fn demote_to_ghost(&mut self, idx: u32, list: usize) -> EntryId {
        let (id, hash) = (self.res.id(idx), *self.res.data(idx));
        self.res.unindex(id);
        if let Some(old) = self.ghosts.insert(hash, idx) {
            // Hash collision with an older ghost: forget the older one.
            if old != idx {
                self.res.remove_unindexed(old);
            }
        }
        self.res.move_to_tail(idx, list);
        self.res.set_id(idx, hash);
        id
    }
}

impl EvictionPolicy for Arc {
    fn name(&self) -> &'static str {
        "arc"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.res.len()
    }

    fn on_insert(&mut self, id: EntryId, hash: u64) {
        if self.res.contains(id) {
            self.on_hit(id);
            return;
        }
        let c = self.capacity;
        let (b1, b2) = (self.res.len_of(B1), self.res.len_of(B2));
        self.pending = Pending::None;
        let idx = if let Some(idx) = self.ghosts.remove(&hash) {
            if self.res.list_of(idx) == B1 {
                // Case II: T1 was too small.
                let delta = if b1 >= b2 { 1 } else { b2 / b1 };
                self.p = (self.p + delta).min(c);
            } else {
                // Case III: T2 was too small.
                let delta = if b2 >= b1 { 1 } else { b1 / b2 };
                self.p = self.p.saturating_sub(delta);
                self.pending = Pending::FromB2;
            }
            self.res.move_to_tail(idx, T2);
            self.res.reindex(idx, id);
            idx
        } else {
            // Case IV: a brand-new key.
            let t1 = self.res.len_of(T1);
            let l1 = t1 + b1;
            let total = l1 + self.res.len_of(T2) + b2;
            if l1 >= c {
                if t1 < c {
                    self.drop_ghost_lru(B1);
                } else {
                    self.pending = Pending::DropT1;
                }
            } else if total >= c && total >= c.saturating_mul(2) {
                self.drop_ghost_lru(B2);
            }
            self.res.insert(T1, id, hash)
        };
        self.newcomer = Some(idx);
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(idx) = self.res.find(id) {
            self.res.move_to_tail(idx, T2);
        }
    }

    fn on_remove(&mut self, id: EntryId) {
        if let Some(idx) = self.res.remove(id) {
            if self.newcomer == Some(idx) {
                self.newcomer = None;
            }
        }
    }

    fn evict(&mut self) -> Option<EntryId> {
        let newcomer = self.newcomer.take();
        let pending = std::mem::replace(&mut self.pending, Pending::None);
        if pending == Pending::DropT1 {
            if let Some(idx) = self.res.head(T1) {
                return Some(self.res.remove_node(idx));
            }
        }
        // REPLACE, with T1's size as it was before the newcomer arrived.
        let newcomer_on = |l: usize| usize::from(newcomer.is_some_and(|n| self.res.list_of(n) == l));
        let t1 = self.res.len_of(T1) - newcomer_on(T1);
        let t2 = self.res.len_of(T2) - newcomer_on(T2);
        let from_t1 = t1 >= 1 && (t1 > self.p || (pending == Pending::FromB2 && t1 == self.p) || t2 == 0);
        let idx =
            if from_t1 || (t2 == 0 && self.res.len_of(T2) == 0) { self.res.head(T1)? } else { self.res.head(T2)? };
        let ghost = if self.res.list_of(idx) == T1 { B1 } else { B2 };
        Some(self.demote_to_ghost(idx, ghost))
    }

    /// T1 (seen once) from its LRU end, then T2; the ghost lists hold no residents.
    fn coldest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[T1, T2], n, false))
    }

    fn hottest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[T2, T1], n, true))
    }

    fn clear(&mut self) {
        // Ghosts stay: they are memory of departed keys.
        while let Some(idx) = self.res.head(T1).or_else(|| self.res.head(T2)) {
            self.res.remove_node(idx);
        }
        self.newcomer = None;
        self.pending = Pending::None;
    }

    fn validate(&self) -> Result<(), String> {
        let c = self.capacity;
        let (t1, t2) = (self.res.len_of(T1), self.res.len_of(T2));
        self.res.validate("arc", &[T1, T2])?;
        let b1 = self.res.validate_list(B1)?;
        let b2 = self.res.validate_list(B2)?;
        if self.p > c {
            return Err(format!("arc: p = {} over capacity {c}", self.p));
        }
        if t1 + b1.len() > c.saturating_add(1) {
            return Err(format!("arc: |T1| + |B1| = {} over c + 1", t1 + b1.len()));
        }
        let all = t1 + t2 + b1.len() + b2.len();
        if all > c.saturating_mul(2).saturating_add(1) {
            return Err(format!("arc: {all} entries and ghosts over 2c + 1"));
        }
        for &idx in b1.iter().chain(&b2) {
            let (id, hash) = (self.res.id(idx), *self.res.data(idx));
            if id != hash || self.ghosts.get(&hash) != Some(&idx) {
                return Err(format!("arc: ghost node {idx} is not indexed by its hash"));
            }
        }
        if self.ghosts.len() != b1.len() + b2.len() {
            return Err(format!("arc: {} ghosts indexed, {} linked", self.ghosts.len(), b1.len() + b2.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghost_hit_adapts_target() {
        let mut p = Arc::new(2);
        p.on_insert(1, 11);
        p.on_hit(1); // T2 = [1]
        p.on_insert(2, 12);
        p.on_insert(3, 13);
        assert_eq!(p.evict(), Some(2)); // T1 over target 0: its LRU goes to B1
        p.on_insert(2, 12); // B1 ghost hit: p grows, 2 goes to T2
        assert_eq!(p.target_t1(), 1);
        assert_eq!(p.evict(), Some(1)); // |T1| = p: T2's LRU goes
        assert!(p.validate().is_ok());
        // With T1 full of once-seen keys (|T1| = c), the LRU is dropped unremembered.
        let mut p = Arc::new(2);
        for id in 1..=3 {
            p.on_insert(id, 10 + id);
            if id == 3 {
                assert_eq!(p.evict(), Some(1));
            }
        }
        p.on_insert(1, 11);
        assert_eq!(p.target_t1(), 0, "1 left no ghost");
        assert!(p.validate().is_ok());
    }
}
