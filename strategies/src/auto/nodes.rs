//! The resident set of [`WTinyLfuAuto`](super::WTinyLfuAuto): each entry's
//! 30-bit key hash with the entry's list in the two low bits, and its links
//! on that list (12 bytes); the entry's id beside it (8 bytes) and an index
//! from ids to nodes, unless the owner's ids are its slot indexes, where a
//! node's index is its id and neither is kept.

use crate::id_index::IdIndex;
use crate::index_lists::{Ends, EMPTY};
use crate::EntryId;

const NIL: u32 = u32::MAX;
/// The lists.
pub(super) const LISTS: usize = 3;
/// The list tag of a slot-id node that holds no resident.
const VACANT: u32 = 3;

/// One resident: what every step of the policy reads, in one place.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The key hash (high 30 bits) and the list (low 2 bits).
    meta: u32,
    /// Previous and next node on the list.
    links: [u32; 2],
}

const VACANT_NODE: Node = Node { meta: VACANT, links: [NIL, NIL] };

/// Residents on three ordered lists, found by id.
#[derive(Debug, Clone)]
pub(super) struct Nodes {
    nodes: Vec<Node>,
    /// Each node's id as two halves (4-aligned); empty with slot ids.
    ids: Vec<[u32; 2]>,
    /// Growth stops doubling at the capacity and one more.
    limit: usize,
    ends: [Ends; LISTS],
    /// Freed nodes (never with slot ids: a vacant node waits for its id).
    free: Vec<u32>,
    /// Id to node (unused with slot ids).
    index: IdIndex,
    slot_ids: bool,
}

impl Nodes {
    /// An empty set with room for `capacity` residents and the one an
    /// owner inserts before it evicts (up to 2^16 preallocated: a huge
    /// capacity is a bound, not a promise of that many residents). With
    /// `slot_ids` the owner's ids are its slot indexes, each below about
    /// the most residents it ever holds plus one.
    pub(super) fn new(capacity: usize, slot_ids: bool) -> Nodes {
        let room = capacity.min(1 << 16).saturating_add(1);
        Nodes {
            nodes: Vec::with_capacity(room),
            ids: if slot_ids { Vec::new() } else { Vec::with_capacity(room) },
            limit: capacity.saturating_add(1),
            ends: [EMPTY; LISTS],
            free: Vec::new(),
            index: IdIndex::default(),
            slot_ids,
        }
    }

    /// Residents: every one is on a list.
    pub(super) fn len(&self) -> usize {
        self.ends.iter().map(|e| e.len).sum()
    }

    #[inline]
    pub(super) fn len_of(&self, l: usize) -> usize {
        self.ends[l].len
    }

    #[inline]
    pub(super) fn find(&self, id: EntryId) -> Option<u32> {
        if self.slot_ids {
            let n = u32::try_from(id).ok()?;
            return self.nodes.get(n as usize).filter(|node| node.meta & 3 != VACANT).map(|_| n);
        }
        self.index.get(&id).copied()
    }

    #[inline]
    pub(super) fn head(&self, l: usize) -> Option<u32> {
        Some(self.ends[l].head).filter(|&h| h != NIL)
    }

    /// The 30-bit key hash of node `n`.
    #[inline]
    pub(super) fn hash(&self, n: u32) -> u32 {
        self.nodes[n as usize].meta >> 2
    }

    #[inline]
    pub(super) fn list_of(&self, n: u32) -> usize {
        (self.nodes[n as usize].meta & 3) as usize
    }

    #[inline]
    pub(super) fn id(&self, n: u32) -> EntryId {
        if self.slot_ids {
            return u64::from(n);
        }
        let [lo, hi] = self.ids[n as usize];
        u64::from(lo) | u64::from(hi) << 32
    }

    #[inline]
    fn unlink(&mut self, n: u32) {
        let l = self.list_of(n);
        let [prev, next] = self.nodes[n as usize].links;
        match prev {
            NIL => self.ends[l].head = next,
            p => self.nodes[p as usize].links[1] = next,
        }
        match next {
            NIL => self.ends[l].tail = prev,
            x => self.nodes[x as usize].links[0] = prev,
        }
        self.ends[l].len -= 1;
    }

    #[inline]
    fn push_tail(&mut self, n: u32, l: usize) {
        let tail = self.ends[l].tail;
        self.nodes[n as usize].links = [tail, NIL];
        match tail {
            NIL => self.ends[l].head = n,
            t => self.nodes[t as usize].links[1] = n,
        }
        self.ends[l].tail = n;
        self.ends[l].len += 1;
        self.nodes[n as usize].meta = (self.nodes[n as usize].meta & !3) | l as u32;
    }

    /// Makes `id` resident at the tail of list `l` unless it is already;
    /// returns its node if it was (and then changes nothing). The index is
    /// probed once: a miss needs no lookup before its insertion.
    pub(super) fn insert(&mut self, l: usize, id: EntryId, hash: u32) -> Option<u32> {
        let node = Node { meta: hash << 2, links: [NIL, NIL] };
        let n = if self.slot_ids {
            let n = crate::slot_index(id);
            match self.nodes.get(n as usize) {
                Some(old) if old.meta & 3 != VACANT => return Some(n),
                Some(_) => {}
                None => {
                    self.reserve_for(n as usize + 1);
                    self.nodes.resize(n as usize + 1, VACANT_NODE);
                }
            }
            self.nodes[n as usize] = node;
            n
        } else {
            // The node it gets: the last freed, or a new one at the end.
            let n = match self.free.last() {
                Some(&n) => n,
                None => u32::try_from(self.nodes.len()).unwrap_or(NIL),
            };
            assert!(n != NIL, "at most u32::MAX - 1 residents");
            if let Some(found) = self.index.insert_new(id, n) {
                return Some(found);
            }
            let halves = [id as u32, (id >> 32) as u32];
            if self.free.pop().is_some() {
                self.nodes[n as usize] = node;
                self.ids[n as usize] = halves;
            } else {
                self.reserve_for(self.nodes.len() + 1);
                self.nodes.push(node);
                self.ids.push(halves);
            }
            n
        };
        self.push_tail(n, l);
        None
    }

    /// Room for `len` nodes, growing by doubling up to the limit.
    fn reserve_for(&mut self, len: usize) {
        while self.nodes.capacity() < len {
            let more = crate::capped_growth(self.nodes.capacity(), self.limit).max(len - self.nodes.len());
            self.nodes.reserve_exact(more);
        }
        if !self.slot_ids && self.ids.capacity() < len {
            self.ids.reserve_exact(self.nodes.capacity() - self.ids.len());
        }
    }

    /// Moves node `n` to the tail of list `l` (which may be its own).
    #[inline]
    pub(super) fn move_to_tail(&mut self, n: u32, l: usize) {
        if self.ends[l].tail == n {
            return;
        }
        self.unlink(n);
        self.push_tail(n, l);
    }

    /// Forgets the resident at node `n`; returns its id.
    #[inline]
    pub(super) fn remove_node(&mut self, n: u32) -> EntryId {
        let id = self.id(n);
        self.unlink(n);
        if self.slot_ids {
            self.nodes[n as usize] = VACANT_NODE;
        } else {
            self.free.push(n);
            self.index.remove(&id);
        }
        id
    }

    pub(super) fn remove(&mut self, id: EntryId) {
        if let Some(n) = self.find(id) {
            self.remove_node(n);
        }
    }

    pub(super) fn clear(&mut self) {
        self.nodes.clear();
        self.ids.clear();
        self.free.clear();
        self.ends = [EMPTY; LISTS];
        self.index.clear();
    }

    /// Up to `n` ids from lists `lists` in turn, each from its head (or,
    /// with `reverse`, from its tail).
    pub(super) fn ids_in(&self, lists: &[usize], n: usize, reverse: bool) -> Vec<EntryId> {
        let mut out = Vec::new();
        for &l in lists {
            let mut at = if reverse { self.ends[l].tail } else { self.ends[l].head };
            while at != NIL && out.len() < n {
                out.push(self.id(at));
                at = self.nodes[at as usize].links[usize::from(!reverse)];
            }
        }
        out
    }

    /// Checks every list's links, tags and length, and that the index holds
    /// exactly the linked nodes.
    pub(super) fn validate(&self, name: &str) -> Result<(), String> {
        let mut linked = 0;
        for l in 0..LISTS {
            let (mut prev, mut at, mut len) = (NIL, self.ends[l].head, 0);
            while at != NIL {
                if at as usize >= self.nodes.len() || len > self.nodes.len() {
                    return Err(format!("{name}: list {l} runs off its nodes"));
                }
                if self.nodes[at as usize].links[0] != prev || self.list_of(at) != l {
                    return Err(format!("{name}: node {at} is mislinked on list {l}"));
                }
                if self.find(self.id(at)) != Some(at) {
                    return Err(format!("{name}: node {at} (id {}) is not indexed", self.id(at)));
                }
                prev = at;
                at = self.nodes[at as usize].links[1];
                len += 1;
            }
            if self.ends[l].tail != prev || self.ends[l].len != len {
                return Err(format!("{name}: list {l} has a wrong tail or length"));
            }
            linked += len;
        }
        let indexed =
            if self.slot_ids { self.nodes.iter().filter(|n| n.meta & 3 != VACANT).count() } else { self.index.len() };
        if linked != indexed {
            return Err(format!("{name}: {linked} linked but {indexed} indexed"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owner that shares its capacity between policies (the sharded
    /// backend's shards) may hand one a few ids past its capacity: it
    /// grows by an eighth for them, not to twice its size.
    #[test]
    fn a_few_slot_ids_past_the_capacity_add_an_eighth() {
        let mut n = Nodes::new(1000, true);
        for id in 0..1010u64 {
            assert_eq!(n.insert(0, id, 0), None);
        }
        assert_eq!(n.insert(1, 7, 0), Some(7), "a resident slot id keeps its node");
        assert_eq!(n.validate("t"), Ok(()));
        assert!(n.nodes.capacity() <= 1001 + 1001 / 8, "{} nodes", n.nodes.capacity());
    }

    #[test]
    fn lists_ids_and_hashes() {
        let mut n = Nodes::new(4, false);
        for id in 0..5u64 {
            assert_eq!(n.insert((id % 3) as usize, id << 33, 0x3fff_ffff - id as u32), None);
        }
        assert_eq!(n.insert(0, 4 << 33, 7), Some(4), "a resident id keeps its node");
        assert_eq!(n.validate("t"), Ok(()));
        let Some(at) = n.find(4 << 33) else { panic!("4 is resident") };
        assert_eq!((n.id(at), n.hash(at), n.list_of(at)), (4 << 33, 0x3fff_fffb, 1));
        n.move_to_tail(at, 2);
        assert_eq!(n.ids_in(&[2], 9, false), [2 << 33, 4 << 33]);
        assert_eq!(n.ids_in(&[2, 0], 3, true), [4 << 33, 2 << 33, 3 << 33]);
        n.remove(0);
        assert_eq!((n.len(), n.len_of(0), n.validate("t")), (4, 1, Ok(())));
        assert_eq!(n.insert(0, 9, 1), None);
        assert_eq!(n.nodes.len(), 5, "a freed node is reused");
        n.clear();
        assert_eq!((n.len(), n.head(0), n.validate("t")), (0, None, Ok(())));
    }
}
