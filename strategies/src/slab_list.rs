//! An arena of nodes threaded on up to `N` lists by index.
//!
//! Several policies keep entries on one or more ordered lists (LRU order,
//! FIFO order, segments). `SlabList` stores every node once in a `Vec`, its
//! links in an [`IndexLists`] beside it, so moving a node between or within
//! lists is O(1) and allocation-free, and a policy maps its [`EntryId`]s to
//! node indexes with one index (see `resident.rs`).

use crate::{EntryId, IndexLists};

#[derive(Debug, Clone)]
pub(crate) struct Node<T> {
    /// The entry id as two halves: keeps the node 4-aligned, 4 bytes
    /// smaller than with a `u64` (a backend holds one node per entry).
    id: [u32; 2],
    pub(crate) data: T,
}

impl<T> Node<T> {
    pub(crate) fn id(&self) -> EntryId {
        u64::from(self.id[0]) | u64::from(self.id[1]) << 32
    }

    pub(crate) fn set_id(&mut self, id: EntryId) {
        self.id = split(id);
    }
}

fn split(id: EntryId) -> [u32; 2] {
    [id as u32, (id >> 32) as u32]
}

/// Up to `N` ordered lists sharing one node arena.
#[derive(Debug, Clone)]
pub(crate) struct SlabList<T, const N: usize> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    lists: IndexLists<N>,
    /// Growth stops doubling here (the owner's capacity and one more), so
    /// a full cache holds no slack.
    limit: usize,
}

impl<T, const N: usize> SlabList<T, N> {
    /// Room for `capacity` nodes now; growth doubles up to `limit` nodes,
    /// then lands on it exactly.
    pub(crate) fn with_capacity(capacity: usize, limit: usize) -> Self {
        SlabList {
            nodes: Vec::with_capacity(capacity),
            free: Vec::new(),
            lists: IndexLists::with_capacity(capacity),
            limit,
        }
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

    pub(crate) fn node(&self, idx: u32) -> &Node<T> {
        &self.nodes[idx as usize]
    }

    pub(crate) fn node_mut(&mut self, idx: u32) -> &mut Node<T> {
        &mut self.nodes[idx as usize]
    }

    /// Which list node `idx` is on (every allocated node is on one).
    pub(crate) fn list_of(&self, idx: u32) -> usize {
        self.lists.list_of(idx).unwrap_or(usize::MAX)
    }

    /// Allocates a node and appends it at the tail of list `l`.
    pub(crate) fn push_tail(&mut self, l: usize, id: EntryId, data: T) -> u32 {
        let node = Node { id: split(id), data };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
                assert!(i != u32::MAX, "SlabList holds at most u32::MAX - 1 nodes");
                if self.nodes.len() == self.nodes.capacity() {
                    let more = crate::capped_growth(self.nodes.len(), self.limit);
                    self.nodes.reserve_exact(more);
                    self.lists.reserve_exact(self.nodes.capacity());
                }
                self.nodes.push(node);
                i
            }
        };
        self.lists.push_tail(l, idx);
        idx
    }

    /// Unlinks node `idx` and frees it; returns its id and data.
    pub(crate) fn remove(&mut self, idx: u32) -> (EntryId, T)
    where
        T: Copy,
    {
        let on = self.lists.remove(idx);
        debug_assert!(on.is_some(), "freeing a free node");
        self.free.push(idx);
        let n = &self.nodes[idx as usize];
        (n.id(), n.data)
    }

    /// Moves node `idx` to the tail of list `l` (which may be its own list).
    pub(crate) fn move_to_tail(&mut self, idx: u32, l: usize) {
        self.lists.move_to_tail(idx, l);
    }

    /// Frees every node.
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.free.clear();
        self.lists.clear();
    }

    /// Walks list `l` from head to tail checking links and the length.
    pub(crate) fn validate_list(&self, l: usize) -> Result<Vec<u32>, String> {
        let seen = self.lists.validate(l)?;
        match seen.iter().find(|&&idx| idx as usize >= self.nodes.len()) {
            Some(idx) => Err(format!("list {l}: node {idx} out of bounds")),
            None => Ok(seen),
        }
    }
}
