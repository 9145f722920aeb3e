//! An arena of nodes threaded on doubly linked lists by index.
//!
//! Several policies keep entries on one or more ordered lists (LRU order,
//! FIFO order, segments). `SlabList` stores every node once in a `Vec` and
//! links them with `u32` indexes, so moving a node between or within lists is
//! O(1) and allocation-free, and a policy maps its [`EntryId`]s to node
//! indexes with one hash map.

use crate::EntryId;

/// Marks the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Node<T> {
    /// The entry id as two halves: keeps the node 4-aligned, 4 bytes
    /// smaller than with a `u64` (a backend holds one node per entry).
    id: [u32; 2],
    pub(crate) data: T,
    prev: u32,
    next: u32,
    /// Which list the node is on, or `FREE`.
    list: u8,
}

const FREE: u8 = u8::MAX;

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

/// The head, tail and length of one list inside a [`SlabList`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    head: u32,
    tail: u32,
    len: usize,
}

impl Ends {
    const EMPTY: Ends = Ends { head: NIL, tail: NIL, len: 0 };
}

/// Up to `N` ordered lists sharing one node arena.
#[derive(Debug, Clone)]
pub(crate) struct SlabList<T, const N: usize> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    lists: [Ends; N],
}

impl<T, const N: usize> SlabList<T, N> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        SlabList { nodes: Vec::with_capacity(capacity), free: Vec::new(), lists: [Ends::EMPTY; N] }
    }

    /// Number of nodes on list `l`.
    pub(crate) fn len_of(&self, l: usize) -> usize {
        self.lists[l].len
    }

    /// The oldest node of list `l` (the head: where eviction looks first).
    pub(crate) fn head(&self, l: usize) -> Option<u32> {
        let h = self.lists[l].head;
        (h != NIL).then_some(h)
    }

    /// The node after `idx` on its list (towards the tail).
    pub(crate) fn next(&self, idx: u32) -> Option<u32> {
        let n = self.nodes[idx as usize].next;
        (n != NIL).then_some(n)
    }

    pub(crate) fn node(&self, idx: u32) -> &Node<T> {
        &self.nodes[idx as usize]
    }

    pub(crate) fn node_mut(&mut self, idx: u32) -> &mut Node<T> {
        &mut self.nodes[idx as usize]
    }

    /// Which list node `idx` is on.
    pub(crate) fn list_of(&self, idx: u32) -> usize {
        usize::from(self.nodes[idx as usize].list)
    }

    /// Allocates a node and appends it at the tail of list `l`.
    pub(crate) fn push_tail(&mut self, l: usize, id: EntryId, data: T) -> u32 {
        let node = Node { id: split(id), data, prev: NIL, next: NIL, list: FREE };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len()).unwrap_or(NIL);
                assert!(i != NIL, "SlabList holds at most u32::MAX - 1 nodes");
                self.nodes.push(node);
                i
            }
        };
        self.link_tail(l, idx);
        idx
    }

    /// Unlinks node `idx` and frees it; returns its id and data.
    pub(crate) fn remove(&mut self, idx: u32) -> (EntryId, T)
    where
        T: Copy,
    {
        self.unlink(idx);
        self.free.push(idx);
        let n = &self.nodes[idx as usize];
        (n.id(), n.data)
    }

    /// Moves node `idx` to the tail of list `l` (which may be its own list).
    pub(crate) fn move_to_tail(&mut self, idx: u32, l: usize) {
        self.unlink(idx);
        self.link_tail(l, idx);
    }

    /// Frees every node.
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.free.clear();
        self.lists = [Ends::EMPTY; N];
    }

    fn link_tail(&mut self, l: usize, idx: u32) {
        let old_tail = self.lists[l].tail;
        {
            let n = &mut self.nodes[idx as usize];
            n.prev = old_tail;
            n.next = NIL;
            n.list = u8::try_from(l).unwrap_or(FREE);
        }
        if old_tail == NIL {
            self.lists[l].head = idx;
        } else {
            self.nodes[old_tail as usize].next = idx;
        }
        self.lists[l].tail = idx;
        self.lists[l].len += 1;
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next, l) = {
            let n = &self.nodes[idx as usize];
            (n.prev, n.next, n.list)
        };
        debug_assert!(l != FREE, "unlinking a free node");
        let l = usize::from(l);
        if prev == NIL {
            self.lists[l].head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[l].tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        self.lists[l].len -= 1;
        let n = &mut self.nodes[idx as usize];
        n.prev = NIL;
        n.next = NIL;
        n.list = FREE;
    }

    /// Walks list `l` from head to tail checking links and the length.
    pub(crate) fn validate_list(&self, l: usize) -> Result<Vec<u32>, String> {
        let mut seen = Vec::with_capacity(self.lists[l].len);
        let mut prev = NIL;
        let mut cur = self.lists[l].head;
        while cur != NIL {
            let n = self.nodes.get(cur as usize).ok_or_else(|| format!("list {l}: index {cur} out of bounds"))?;
            if n.prev != prev {
                return Err(format!("list {l}: node {cur} has prev {} but follows {prev}", n.prev));
            }
            if usize::from(n.list) != l {
                return Err(format!("list {l}: node {cur} is tagged with list {}", n.list));
            }
            seen.push(cur);
            if seen.len() > self.nodes.len() {
                return Err(format!("list {l}: cycle"));
            }
            prev = cur;
            cur = n.next;
        }
        if self.lists[l].tail != prev {
            return Err(format!("list {l}: tail is {} but the walk ended at {prev}", self.lists[l].tail));
        }
        if seen.len() != self.lists[l].len {
            return Err(format!("list {l}: length is {} but {} nodes are linked", self.lists[l].len, seen.len()));
        }
        Ok(seen)
    }
}
