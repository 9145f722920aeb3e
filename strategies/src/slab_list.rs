//! An arena of nodes threaded on up to `N` lists by index.
//!
//! Several policies keep entries on one or more ordered lists (LRU order,
//! FIFO order, segments). `SlabList` stores every node's data once in a
//! `Vec`, its links in an [`IndexLists`] beside it, so moving a node between
//! or within lists is O(1) and allocation-free, and a policy maps its
//! [`EntryId`]s to node indexes with one index (see `resident.rs`).
//!
//! With slot ids (an owner whose ids are its own slot indexes: 0, 1, 2, ...)
//! a node's index *is* its id, so the arena keeps no ids and no free list:
//! a node then costs its data and its links, nothing more.

use crate::{EntryId, IndexLists};

/// Up to `N` ordered lists sharing one node arena.
#[derive(Debug, Clone)]
pub(crate) struct SlabList<T, const N: usize> {
    data: Vec<T>,
    /// Each node's id as two halves (4-aligned, 4 bytes smaller than a
    /// `u64`); empty with slot ids, where the index is the id.
    ids: Vec<[u32; 2]>,
    free: Vec<u32>,
    lists: IndexLists<N>,
    /// Growth stops doubling here (the owner's capacity and one more), so
    /// a full cache holds no slack.
    limit: usize,
    /// Nodes reserved for (not `data.capacity()`: a `Vec` of a zero-sized
    /// `T`, LRU's, has room for `usize::MAX`).
    room: usize,
    slot_ids: bool,
}

impl<T: Copy, const N: usize> SlabList<T, N> {
    /// Room for `capacity` nodes now; growth doubles up to `limit` nodes,
    /// then lands on it exactly. With `slot_ids`, node `i` holds id `i`.
    pub(crate) fn with_capacity(capacity: usize, limit: usize, slot_ids: bool) -> Self {
        SlabList {
            data: Vec::with_capacity(capacity),
            ids: if slot_ids { Vec::new() } else { Vec::with_capacity(capacity) },
            free: Vec::new(),
            lists: IndexLists::with_capacity(capacity),
            limit,
            room: capacity,
            slot_ids,
        }
    }

    /// Whether a node's index is its id.
    pub(crate) fn has_slot_ids(&self) -> bool {
        self.slot_ids
    }

    /// Number of nodes on list `l`.
    pub(crate) fn len_of(&self, l: usize) -> usize {
        self.lists.len(l)
    }

    /// The oldest node of list `l` (the head: where eviction looks first).
    pub(crate) fn head(&self, l: usize) -> Option<u32> {
        self.lists.head(l)
    }

    /// The node after `idx` on its list (towards the tail).
    pub(crate) fn next(&self, idx: u32) -> Option<u32> {
        self.lists.next(idx)
    }

    /// Node `idx`'s data.
    pub(crate) fn data(&self, idx: u32) -> &T {
        &self.data[idx as usize]
    }

    pub(crate) fn data_mut(&mut self, idx: u32) -> &mut T {
        &mut self.data[idx as usize]
    }

    /// Node `idx`'s id.
    pub(crate) fn id(&self, idx: u32) -> EntryId {
        if self.slot_ids {
            return u64::from(idx);
        }
        let [lo, hi] = self.ids[idx as usize];
        u64::from(lo) | u64::from(hi) << 32
    }

    /// Gives node `idx` another id (never with slot ids, where the index
    /// is the id).
    pub(crate) fn set_id(&mut self, idx: u32, id: EntryId) {
        assert!(!self.slot_ids, "a slot-id node's id is its index");
        self.ids[idx as usize] = split(id);
    }

    /// Which list node `idx` is on (every allocated node is on one).
    pub(crate) fn list_of(&self, idx: u32) -> usize {
        self.lists.list_of(idx).unwrap_or(usize::MAX)
    }

    /// Allocates a node and appends it at the tail of list `l`; with slot
    /// ids the node is `id` itself, which must be on no list.
    pub(crate) fn push_tail(&mut self, l: usize, id: EntryId, data: T) -> u32 {
        let idx = if self.slot_ids {
            let idx = crate::slot_index(id);
            let i = idx as usize;
            if i >= self.data.len() {
                self.grow_to(i + 1);
                self.data.resize(i + 1, data);
            }
            self.data[i] = data;
            idx
        } else if let Some(i) = self.free.pop() {
            self.data[i as usize] = data;
            self.ids[i as usize] = split(id);
            i
        } else {
            let i = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
            assert!(i != u32::MAX, "SlabList holds at most u32::MAX - 1 nodes");
            self.grow_to(self.data.len() + 1);
            self.data.push(data);
            self.ids.push(split(id));
            i
        };
        self.lists.push_tail(l, idx);
        idx
    }

    /// Makes room for `len` nodes, doubling up to `limit`.
    fn grow_to(&mut self, len: usize) {
        if self.room >= len {
            return;
        }
        while self.room < len {
            self.room += crate::capped_growth(self.room, self.limit);
        }
        self.data.reserve_exact(self.room - self.data.len());
        if !self.slot_ids {
            self.ids.reserve_exact(self.room - self.ids.len());
        }
        self.lists.reserve_exact(self.room);
    }

    /// Unlinks node `idx` and frees it; returns its id and data.
    pub(crate) fn remove(&mut self, idx: u32) -> (EntryId, T) {
        let on = self.lists.remove(idx);
        debug_assert!(on.is_some(), "freeing a free node");
        if !self.slot_ids {
            self.free.push(idx);
        }
        (self.id(idx), self.data[idx as usize])
    }

    /// Moves node `idx` to the tail of list `l` (which may be its own list).
    pub(crate) fn move_to_tail(&mut self, idx: u32, l: usize) {
        self.lists.move_to_tail(idx, l);
    }

    /// Frees every node.
    pub(crate) fn clear(&mut self) {
        // Capacity stays: `room` still holds.
        self.data.clear();
        self.ids.clear();
        self.free.clear();
        self.lists.clear();
    }

    /// Walks list `l` from head to tail checking links and the length.
    pub(crate) fn validate_list(&self, l: usize) -> Result<Vec<u32>, String> {
        let seen = self.lists.validate(l)?;
        match seen.iter().find(|&&idx| idx as usize >= self.data.len()) {
            Some(idx) => Err(format!("list {l}: node {idx} out of bounds")),
            None => Ok(seen),
        }
    }
}

fn split(id: EntryId) -> [u32; 2] {
    [id as u32, (id >> 32) as u32]
}
