//! Up to `N` doubly linked lists threaded through small integer ids.
//!
//! The links live in a side `Vec` indexed by id, not in the items, so the
//! owner keeps its items wherever it likes (a slab, a table of slots) and
//! any number of independent orders over the same ids is one `IndexLists`
//! each. Every operation is O(1) and allocation-free once the side `Vec`
//! has grown to the highest id.

/// Marks the end of a list, and an unlinked id.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link { prev: NIL, next: NIL };

/// The tag of an id on no list (only kept when `N > 1`).
const FREE: u16 = u16::MAX;

/// A list's first and last ids and its length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ends {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) len: usize,
}

pub(crate) const EMPTY: Ends = Ends { head: NIL, tail: NIL, len: 0 };

/// `N` ordered lists over ids `0..u32::MAX`; each id is on at most one.
///
/// Each id costs 8 bytes of links, plus 2 bytes naming its list when
/// `N > 1` (with one list, an id's links say whether it is on it).
///
/// ```
/// use ttlkit_strategies::IndexLists;
///
/// let mut lists: IndexLists<2> = IndexLists::with_capacity(8);
/// lists.push_tail(0, 3);
/// lists.push_tail(0, 5);
/// lists.move_to_tail(3, 1);
/// assert_eq!(lists.iter(0).collect::<Vec<_>>(), [5]);
/// assert_eq!(lists.list_of(3), Some(1));
/// assert_eq!(lists.remove(5), Some(0));
/// assert!(lists.is_empty(0));
/// ```
#[derive(Debug, Clone)]
pub struct IndexLists<const N: usize> {
    links: Vec<Link>,
    /// Which list each id is on, or `FREE`; empty when `N == 1`.
    tags: Vec<u16>,
    ends: [Ends; N],
}

impl<const N: usize> Default for IndexLists<N> {
    fn default() -> Self {
        IndexLists::with_capacity(0)
    }
}

impl<const N: usize> IndexLists<N> {
    const FITS: () = assert!(N >= 1 && N < FREE as usize, "IndexLists takes 1 to 65534 lists");

    /// Empty lists with room for ids below `ids` before reallocating.
    pub fn with_capacity(ids: usize) -> Self {
        let () = Self::FITS;
        let tags = if N > 1 { Vec::with_capacity(ids) } else { Vec::new() };
        IndexLists { links: Vec::with_capacity(ids), tags, ends: [EMPTY; N] }
    }

    /// Ids on list `l`.
    pub fn len(&self, l: usize) -> usize {
        self.ends[l].len
    }

    /// Whether list `l` is empty.
    pub fn is_empty(&self, l: usize) -> bool {
        self.ends[l].len == 0
    }

    /// The first id of list `l` (the oldest pushed, unless moved).
    pub fn head(&self, l: usize) -> Option<u32> {
        some(self.ends[l].head)
    }

    /// The id after `id` on its list (towards the tail).
    pub fn next(&self, id: u32) -> Option<u32> {
        self.links.get(id as usize).and_then(|k| some(k.next))
    }

    /// The list `id` is on, if any.
    pub fn list_of(&self, id: u32) -> Option<usize> {
        if N == 1 {
            let on = self.links.get(id as usize).is_some_and(|k| k.prev != NIL) || self.ends[0].head == id;
            return on.then_some(0);
        }
        let tag = *self.tags.get(id as usize)?;
        (tag != FREE).then_some(usize::from(tag))
    }

    /// Appends `id`, which must be on no list, to the tail of list `l`.
    pub fn push_tail(&mut self, l: usize, id: u32) {
        debug_assert!(self.list_of(id).is_none(), "id {id} is already linked");
        assert!(id != NIL, "IndexLists ids are below u32::MAX");
        let i = id as usize;
        if self.links.len() <= i {
            self.links.resize(i + 1, UNLINKED);
            if N > 1 {
                self.tags.resize(i + 1, FREE);
            }
        }
        let tail = self.ends[l].tail;
        self.links[i] = Link { prev: tail, next: NIL };
        if N > 1 {
            // `FITS` bounds `N`, so `l` fits.
            self.tags[i] = l as u16;
        }
        match tail {
            NIL => self.ends[l].head = id,
            t => self.links[t as usize].next = id,
        }
        self.ends[l].tail = id;
        self.ends[l].len += 1;
    }

    /// Takes `id` off its list; returns which list that was (`None`, and
    /// nothing changes, if it was on none).
    pub fn remove(&mut self, id: u32) -> Option<usize> {
        let l = self.list_of(id)?;
        let Link { prev, next } = self.links[id as usize];
        match prev {
            NIL => self.ends[l].head = next,
            p => self.links[p as usize].next = next,
        }
        match next {
            NIL => self.ends[l].tail = prev,
            n => self.links[n as usize].prev = prev,
        }
        self.ends[l].len -= 1;
        self.links[id as usize] = UNLINKED;
        if N > 1 {
            self.tags[id as usize] = FREE;
        }
        Some(l)
    }

    /// Moves `id` to the tail of list `l` (from any list, or from none).
    pub fn move_to_tail(&mut self, id: u32, l: usize) {
        if self.ends[l].tail == id {
            return;
        }
        self.remove(id);
        self.push_tail(l, id);
    }

    /// Gives unlinked id `to` the place of `from` on its list (if any), and
    /// unlinks `from`: for an owner that moves an item to another slot.
    pub fn relocate(&mut self, from: u32, to: u32) {
        debug_assert!(self.list_of(to).is_none(), "id {to} is already linked");
        let Some(l) = self.list_of(from) else { return };
        let link = std::mem::replace(&mut self.links[from as usize], UNLINKED);
        let t = to as usize;
        if self.links.len() <= t {
            self.links.resize(t + 1, UNLINKED);
            if N > 1 {
                self.tags.resize(t + 1, FREE);
            }
        }
        self.links[t] = link;
        if N > 1 {
            self.tags[t] = std::mem::replace(&mut self.tags[from as usize], FREE);
        }
        match link.prev {
            NIL => self.ends[l].head = to,
            p => self.links[p as usize].next = to,
        }
        match link.next {
            NIL => self.ends[l].tail = to,
            n => self.links[n as usize].prev = to,
        }
    }

    /// Makes room for ids below `ids` without reallocating later.
    pub(crate) fn reserve_exact(&mut self, ids: usize) {
        self.links.reserve_exact(ids.saturating_sub(self.links.len()));
        if N > 1 {
            self.tags.reserve_exact(ids.saturating_sub(self.tags.len()));
        }
    }

    /// Unlinks every id.
    pub fn clear(&mut self) {
        self.links.clear();
        self.tags.clear();
        self.ends = [EMPTY; N];
    }

    /// Forgets the links of ids `len..`, which must be unlinked.
    pub fn truncate(&mut self, len: usize) {
        debug_assert!((len..self.links.len()).all(|i| self.list_of(i as u32).is_none()), "truncating linked ids");
        self.links.truncate(len);
        self.tags.truncate(len);
    }

    /// Gives back memory beyond `ids` ids (and beyond the highest id seen).
    pub fn shrink_to(&mut self, ids: usize) {
        self.links.shrink_to(ids);
        self.tags.shrink_to(ids);
    }

    /// The ids of list `l`, head to tail.
    pub fn iter(&self, l: usize) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.head(l), |&id| self.next(id))
    }

    /// Walks list `l` head to tail checking every link, tag and the length;
    /// returns its ids in order. Meant for tests: it is O(length).
    pub fn validate(&self, l: usize) -> Result<Vec<u32>, String> {
        let mut seen = Vec::with_capacity(self.ends[l].len);
        let mut prev = NIL;
        let mut cur = self.ends[l].head;
        while cur != NIL {
            let k = self.links.get(cur as usize).ok_or_else(|| format!("list {l}: id {cur} out of bounds"))?;
            if k.prev != prev {
                return Err(format!("list {l}: id {cur} has prev {} but follows {prev}", k.prev));
            }
            if self.list_of(cur) != Some(l) {
                return Err(format!("list {l}: id {cur} is tagged with list {:?}", self.list_of(cur)));
            }
            seen.push(cur);
            if seen.len() > self.links.len() {
                return Err(format!("list {l}: cycle"));
            }
            prev = cur;
            cur = k.next;
        }
        if self.ends[l].tail != prev {
            return Err(format!("list {l}: tail is {} but the walk ended at {prev}", self.ends[l].tail));
        }
        if seen.len() != self.ends[l].len {
            return Err(format!("list {l}: length is {} but {} ids are linked", self.ends[l].len, seen.len()));
        }
        Ok(seen)
    }
}

fn some(id: u32) -> Option<u32> {
    (id != NIL).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_list_knows_its_members_without_tags() {
        let mut q = IndexLists::<1>::default();
        for id in [3, 0, 7] {
            q.push_tail(0, id);
        }
        assert_eq!(q.iter(0).collect::<Vec<_>>(), [3, 0, 7]);
        assert_eq!((q.list_of(3), q.list_of(1), q.list_of(99)), (Some(0), None, None));
        q.move_to_tail(3, 0);
        assert_eq!(q.remove(0), Some(0));
        assert_eq!(q.remove(0), None);
        q.relocate(7, 1);
        assert_eq!(q.validate(0), Ok(vec![1, 3]));
        assert_eq!(q.list_of(7), None);
    }

    #[test]
    fn ids_move_between_lists() {
        let mut w = IndexLists::<3>::with_capacity(4);
        for id in 0..6 {
            w.push_tail((id % 3) as usize, id);
        }
        w.move_to_tail(0, 2);
        assert_eq!((w.list_of(0), w.len(0), w.len(2)), (Some(2), 1, 3));
        assert_eq!(w.validate(2), Ok(vec![2, 5, 0]));
        w.relocate(5, 9);
        assert_eq!(w.validate(2), Ok(vec![2, 9, 0]));
        assert_eq!(w.remove(9), Some(2));
        w.truncate(9);
        for l in 0..3 {
            assert!(w.validate(l).is_ok());
        }
        w.clear();
        assert!((0..3).all(|l| w.is_empty(l)) && w.head(1).is_none());
    }
}
