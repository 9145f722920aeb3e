//! The resident set every list-based policy keeps: nodes on up to `N`
//! ordered lists, and the index from entry ids to those nodes. A policy
//! built on it only decides which list a node goes to and which node
//! leaves; keeping the two structures in step is done here.

use std::ops::{Deref, DerefMut};

use crate::id_index::IdIndex;
use crate::slab_list::SlabList;
use crate::EntryId;

/// Residents on up to `N` lists, with `T` per node.
///
/// The lists are reachable through `Deref` for moving nodes and reading
/// their data. Nodes may also be linked without being indexed (ARC's
/// ghosts): [`Resident::len`] counts only indexed ones.
///
/// With slot ids ([`Resident::use_slot_ids`]) a node's index is its id, so
/// no index is kept: membership is being on a list.
#[derive(Debug, Clone)]
pub(crate) struct Resident<T, const N: usize> {
    nodes: SlabList<T, N>,
    index: IdIndex,
    /// Residents, counted here with slot ids (the index counts otherwise).
    slot_len: usize,
}

impl<T: Copy, const N: usize> Resident<T, N> {
    /// An empty set, preallocated for `capacity` entries and the one an
    /// owner inserts before it evicts (up to 2^16: a huge capacity is a
    /// bound, not a promise of that many residents).
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_ids(capacity, false)
    }

    fn with_ids(capacity: usize, slot_ids: bool) -> Self {
        let room = capacity.min(1 << 16).saturating_add(1);
        let nodes = SlabList::with_capacity(room, capacity.saturating_add(1), slot_ids);
        Resident { nodes, index: IdIndex::default(), slot_len: 0 }
    }

    /// Switches an empty set to slot ids: the owner's ids are its own slot
    /// indexes, each below about the most residents it ever holds plus
    /// one. Each resident then costs its node data and links only, not an
    /// id and an index entry besides (12 bytes less). Nodes can no longer
    /// be unindexed (ARC's ghosts need their own ids).
    pub(crate) fn use_slot_ids(&mut self, capacity: usize) {
        assert!(self.len() == 0, "switch to slot ids before the first insert");
        *self = Self::with_ids(capacity, true);
    }

    /// Residents (indexed nodes).
    pub(crate) fn len(&self) -> usize {
        if self.nodes.has_slot_ids() {
            self.slot_len
        } else {
            self.index.len()
        }
    }

    /// Resident `id`'s node.
    pub(crate) fn find(&self, id: EntryId) -> Option<u32> {
        if self.nodes.has_slot_ids() {
            let idx = u32::try_from(id).ok()?;
            return (self.nodes.list_of(idx) != usize::MAX).then_some(idx);
        }
        self.index.get(&id).copied()
    }

    pub(crate) fn contains(&self, id: EntryId) -> bool {
        self.find(id).is_some()
    }

    /// Makes `id` (not yet resident) resident at the tail of list `l`.
    pub(crate) fn insert(&mut self, l: usize, id: EntryId, data: T) -> u32 {
        let idx = self.nodes.push_tail(l, id, data);
        if self.nodes.has_slot_ids() {
            self.slot_len += 1;
        } else {
            self.index.insert(id, idx);
        }
        idx
    }

    /// Forgets resident `id`; returns the node it had.
    pub(crate) fn remove(&mut self, id: EntryId) -> Option<u32> {
        let idx = self.find(id)?;
        self.remove_node(idx);
        Some(idx)
    }

    /// Forgets the resident at node `idx`; returns its id.
    pub(crate) fn remove_node(&mut self, idx: u32) -> EntryId {
        let (id, _) = self.nodes.remove(idx);
        if self.nodes.has_slot_ids() {
            self.slot_len -= 1;
        } else {
            self.index.remove(&id);
        }
        id
    }

    /// Unindexes resident `id` but keeps its node linked (it becomes a ghost).
    pub(crate) fn unindex(&mut self, id: EntryId) {
        assert!(!self.nodes.has_slot_ids(), "slot-id residents cannot become ghosts");
        self.index.remove(&id);
    }

    /// Frees the unindexed node `idx`; returns its id.
    pub(crate) fn remove_unindexed(&mut self, idx: u32) -> EntryId {
        self.nodes.remove(idx).0
    }

    /// Makes the unindexed node `idx` resident again, as `id`.
    pub(crate) fn reindex(&mut self, idx: u32, id: EntryId) {
        self.nodes.set_id(idx, id);
        self.index.insert(id, idx);
    }

    /// Forgets every node.
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.index.clear();
        self.slot_len = 0;
    }

    /// Checks that `lists` are well linked and that the index holds exactly
    /// their nodes; returns those nodes, list by list, head to tail.
    /// The ids on `lists`, each list from head to tail, one after another;
    /// with `reverse`, the lists' ids from tail to head. At most `n`.
    pub(crate) fn ids_in(&self, lists: &[usize], n: usize, reverse: bool) -> Vec<EntryId> {
        let mut out = Vec::new();
        for &l in lists {
            let mut ids = Vec::new();
            let mut at = self.head(l);
            while let Some(idx) = at {
                ids.push(self.id(idx));
                if !reverse && out.len() + ids.len() >= n {
                    break;
                }
                at = self.next(idx);
            }
            if reverse {
                ids.reverse();
            }
            out.extend(ids.into_iter().take(n - out.len()));
            if out.len() >= n {
                break;
            }
        }
        out
    }

    pub(crate) fn validate(&self, name: &str, lists: &[usize]) -> Result<Vec<u32>, String> {
        let mut linked = Vec::with_capacity(self.len());
        for &l in lists {
            linked.extend(self.nodes.validate_list(l)?);
        }
        if linked.len() != self.len() {
            return Err(format!("{name}: {} linked but {} resident", linked.len(), self.len()));
        }
        if self.nodes.has_slot_ids() {
            return Ok(linked);
        }
        for &idx in &linked {
            let id = self.nodes.id(idx);
            if self.index.get(&id) != Some(&idx) {
                return Err(format!("{name}: node {idx} (id {id}) is not indexed"));
            }
        }
        Ok(linked)
    }
}

impl<T, const N: usize> Deref for Resident<T, N> {
    type Target = SlabList<T, N>;

    fn deref(&self) -> &SlabList<T, N> {
        &self.nodes
    }
}

/// Moving nodes between lists and writing their data keep the index valid
/// (nodes are freed through [`Resident`]'s own methods, which shadow the
/// list's).
impl<T, const N: usize> DerefMut for Resident<T, N> {
    fn deref_mut(&mut self) -> &mut SlabList<T, N> {
        &mut self.nodes
    }
}
