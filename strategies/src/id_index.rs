//! The map from entry ids to node indexes that every list-based policy keeps.
//!
//! Backends hand out ids that are slot indexes (0, 1, 2, ...): for those a
//! plain array costs 4 bytes per entry instead of a hash map's ~20. Trace
//! keys in the simulator are sparse (block numbers): those go to a hash map.
//! An id lives in exactly one of the two while it is present.

use crate::{EntryId, IdMap};

const ABSENT: u32 = u32::MAX;
/// Ids below this many slots past the count of present ids go to the array.
const DENSE_SLACK: u64 = 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct IdIndex {
    dense: Vec<u32>,
    sparse: IdMap<u32>,
    len: usize,
}

impl IdIndex {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, id: &EntryId) -> Option<&u32> {
        match usize::try_from(*id).ok().and_then(|i| self.dense.get(i)) {
            Some(v) if *v != ABSENT => Some(v),
            _ => self.sparse.get(id),
        }
    }

    pub(crate) fn contains_key(&self, id: &EntryId) -> bool {
        self.get(id).is_some()
    }

    /// Maps an id that is not present yet.
    pub(crate) fn insert(&mut self, id: EntryId, idx: u32) {
        debug_assert!(!self.contains_key(&id), "id {id} indexed twice");
        self.len += 1;
        let room = (self.len as u64).saturating_mul(2).saturating_add(DENSE_SLACK);
        match usize::try_from(id) {
            Ok(i) if i < self.dense.len() => self.dense[i] = idx,
            Ok(i) if id < room => {
                self.dense.resize(i + 1, ABSENT);
                self.dense[i] = idx;
            }
            _ => {
                self.sparse.insert(id, idx);
            }
        }
    }

    /// Maps `id` to `idx` unless it is present; returns what it maps to
    /// if it is. One probe of the map for a sparse id where `get` then
    /// `insert` would take two (an owner's insert is usually a miss).
    pub(crate) fn insert_new(&mut self, id: EntryId, idx: u32) -> Option<u32> {
        let room = (self.len as u64 + 1).saturating_mul(2).saturating_add(DENSE_SLACK);
        match usize::try_from(id) {
            Ok(i) if i < self.dense.len() && self.dense[i] != ABSENT => return Some(self.dense[i]),
            // A dense-range id may have been mapped before the array
            // reached it: `get` looks in the map too.
            Ok(i) if i < self.dense.len() || id < room => {
                if let Some(&v) = self.sparse.get(&id) {
                    return Some(v);
                }
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, ABSENT);
                }
                self.dense[i] = idx;
            }
            _ => match self.sparse.entry(id) {
                hashbrown::hash_map::Entry::Occupied(e) => return Some(*e.get()),
                hashbrown::hash_map::Entry::Vacant(e) => {
                    e.insert(idx);
                }
            },
        }
        self.len += 1;
        None
    }

    pub(crate) fn remove(&mut self, id: &EntryId) -> Option<u32> {
        let removed = match usize::try_from(*id).ok().and_then(|i| self.dense.get_mut(i)) {
            Some(v) if *v != ABSENT => Some(std::mem::replace(v, ABSENT)),
            _ => self.sparse.remove(id),
        };
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    pub(crate) fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_coexist() {
        let mut ix = IdIndex::default();
        ix.insert(3, 30);
        ix.insert(1 << 40, 40);
        ix.insert(0, 0);
        assert_eq!((ix.get(&3), ix.get(&(1 << 40)), ix.get(&0), ix.get(&7)), (Some(&30), Some(&40), Some(&0), None));
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.remove(&3), Some(30));
        assert_eq!(ix.remove(&3), None);
        assert_eq!(ix.remove(&(1 << 40)), Some(40));
        assert_eq!(ix.len(), 1);
        ix.insert(3, 33);
        assert_eq!(ix.get(&3), Some(&33));
        ix.clear();
        assert_eq!((ix.len(), ix.get(&0)), (0, None));
    }

    /// `insert_new` places ids where `insert` would and finds them
    /// wherever they are.
    #[test]
    fn insert_new_matches_get_then_insert() {
        let (mut a, mut b) = (IdIndex::default(), IdIndex::default());
        for (n, id) in [5u64, 1 << 40, 3000, 5, 2, 1 << 40, 1500, 3000].into_iter().enumerate() {
            let n = n as u32;
            let expected = a.get(&id).copied();
            if expected.is_none() {
                a.insert(id, n);
            }
            assert_eq!(b.insert_new(id, n), expected, "id {id}");
            assert_eq!((a.len(), a.dense.len(), a.sparse.len()), (b.len(), b.dense.len(), b.sparse.len()));
        }
        // 3000 went to the map before the array reached it.
        b.dense.resize(3001, ABSENT);
        assert_eq!(b.insert_new(3000, 99), Some(2));
    }
}
