//! The lock-free-read hash table of one shard: open addressing with linear
//! probing over atomic entry pointers.
//!
//! Readers (holding a reclamation guard) load the table pointer and probe
//! without any lock or write. Writers hold the shard lock and are the only
//! ones that store slots: a new entry goes into the first empty or tombstone
//! slot of its probe chain; a removal stores a tombstone so chains stay
//! intact (or, where every chain through the slot ends right after it,
//! empties the slot and the tombstones before it); an overwrite stores the
//! new entry in the old one's slot. When
//! live entries plus tombstones pass 3/4 of the slots, the writer builds a
//! fresh table (load at most 1/2), publishes it and retires the old one
//! (removals that leave live entries under 1/8 of the slots rebuild it
//! smaller the same way);
//! a reader still probing the old table sees only entries that were live
//! at the swap, and the entry's removal flag tells it about later removals.

use std::borrow::Borrow;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::Ordering;

use super::entry::Entry;
use super::ptr::EntryPtr;
use crate::sync::reclaim::Guard;
use crate::sync::AtomicPtr;

/// The tombstone marker: a non-null address no allocation can have.
fn tombstone<K, V>() -> *mut Entry<K, V> {
    ptr::dangling_mut()
}

/// Low pointer bits free in an entry address (entries are 8-aligned).
const TAG_MASK: usize = 0b111;

/// Three bits of the hash, kept in the slot's low pointer bits: a probe
/// dereferences (and so takes a cache miss on) only entries whose tag
/// matches, one in eight of the others.
#[inline]
fn tag(hash: u64) -> usize {
    // Bits 32..35: independent of the low 32 bits that pick the slot and of
    // the top bits that pick the shard.
    (hash >> 32) as usize & TAG_MASK
}

/// A slot value for `entry` under `hash`.
#[inline]
fn pack<K, V>(entry: *mut Entry<K, V>, hash: u64) -> *mut Entry<K, V> {
    debug_assert_eq!(entry.addr() & TAG_MASK, 0, "entries are 8-aligned");
    entry.map_addr(|a| a | tag(hash))
}

/// The entry pointer in a (non-null, non-tombstone) slot value.
#[inline]
fn unpack<K, V>(slot: *mut Entry<K, V>) -> *mut Entry<K, V> {
    slot.map_addr(|a| a & !TAG_MASK)
}

/// An array of slots; its length is a power of two.
pub(crate) struct Table<K, V> {
    /// Number of slots (any size: the table grows by 3/2, not by powers of
    /// two, which keeps the average load higher and the bytes per entry lower).
    len: usize,
    slots: Box<[AtomicPtr<Entry<K, V>>]>,
    /// The slots hold entry pointers: `Send`/`Sync` as [`EntryPtr`] is.
    _entries: PhantomData<EntryPtr<K, V>>,
}

/// Where a key is, or where it would go, in a probe chain.
pub(crate) enum Probe<'t, K, V> {
    /// The key's slot and its entry.
    Found(usize, &'t Entry<K, V>),
    /// The slot a new entry for the key should take.
    Vacant(usize),
}

impl<K, V> Table<K, V> {
    /// The smallest table.
    pub(crate) const MIN_SLOTS: usize = 8;

    /// An empty table with room for `entries` at load at most 1/2 (at least
    /// `MIN_SLOTS`), so it grows by at least half before its next rebuild.
    pub(crate) fn with_room_for(entries: usize) -> Self {
        let len = entries.saturating_mul(2).clamp(Self::MIN_SLOTS, u32::MAX as usize);
        Table { len, slots: (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect(), _entries: PhantomData }
    }

    /// Number of slots.
    pub(crate) fn slots(&self) -> usize {
        self.len
    }

    /// The slot a probe for `hash` starts at: the low 32 bits scaled to the
    /// length (a multiply and a shift, no division).
    #[inline]
    fn home(&self, hash: u64) -> usize {
        (((hash & 0xffff_ffff) * self.len as u64) >> 32) as usize
    }

    /// The slot after `i`, wrapping.
    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.len {
            0
        } else {
            i + 1
        }
    }

    /// The slot before `i`, wrapping.
    #[inline]
    fn prev(&self, i: usize) -> usize {
        if i == 0 {
            self.len - 1
        } else {
            i - 1
        }
    }

    /// Lock-free lookup: the entry for `key`, if any.
    ///
    /// The entry lives as long as the table does for the caller: a table
    /// is reached through [`Current`], under a reclamation guard.
    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<&Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut i = self.home(hash);
        let want = tag(hash);
        // The writer keeps some slots empty, so the chain ends; the bound
        // guards against an impossible full table all the same.
        for _ in 0..self.len {
            let p = self.slots[i].load(Ordering::Acquire);
            if p.is_null() {
                return None;
            }
            if p != tombstone() && p.addr() & TAG_MASK == want {
                let p = unpack(p);
                // SAFETY: non-null, non-tombstone slot values are entries
                // published with Release by the writer and retired only
                // through the reclamation guard the caller holds while it
                // borrows this table (see `Current::load`).
                let e = unsafe { EntryPtr::from_raw(p).get() };
                if e.key.borrow() == key {
                    return Some(e);
                }
            }
            i = self.next(i);
        }
        None
    }

    /// Writer-side probe (caller holds the shard lock).
    pub(crate) fn probe<Q>(&self, hash: u64, key: &Q) -> Probe<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut i = self.home(hash);
        let mut first_free = None;
        for _ in 0..self.len {
            let p = self.slots[i].load(Ordering::Relaxed);
            if p.is_null() {
                return Probe::Vacant(first_free.unwrap_or(i));
            }
            if p == tombstone() {
                first_free.get_or_insert(i);
            } else if p.addr() & TAG_MASK == tag(hash) {
                let p = unpack(p);
                // SAFETY: as in `find`: a published entry, retired only
                // through the reclamation guard the caller holds while it
                // borrows this table (and, under the lock, by no one else).
                let e = unsafe { EntryPtr::from_raw(p).get() };
                if e.key.borrow() == key {
                    return Probe::Found(i, e);
                }
            }
            i = self.next(i);
        }
        // Unreachable while the load bound holds; `first_free` exists then.
        Probe::Vacant(first_free.unwrap_or(0))
    }

    /// Whether a table with `used` non-empty slots (live entries and
    /// tombstones) takes one more without a rebuild.
    pub(crate) fn has_room(&self, used: usize) -> bool {
        (used + 1) * 4 <= self.slots() * 3
    }

    /// Publishes `entry` (of key hash `hash`) in slot `i` (from `probe`;
    /// writer only). Returns whether it took an empty slot (not a tombstone).
    pub(crate) fn put(&self, i: usize, hash: u64, entry: EntryPtr<K, V>) -> bool {
        let was_empty = self.slots[i].load(Ordering::Relaxed).is_null();
        self.slots[i].store(pack(entry.as_raw(), hash), Ordering::Release);
        was_empty
    }

    /// Replaces the entry in slot `i` by one of the same key (an overwrite;
    /// writer only).
    pub(crate) fn replace(&self, i: usize, hash: u64, entry: EntryPtr<K, V>) {
        self.slots[i].store(pack(entry.as_raw(), hash), Ordering::Release);
    }

    /// Takes the entry out of slot `i` (writer only); returns how many
    /// slots that left empty (the rest of the table's used slots stay
    /// used).
    ///
    /// A probe chain ends at the first empty slot, so when the slot after
    /// `i` is empty, no chain needs slot `i` to reach an entry: it is
    /// emptied, and so are the tombstones right before it, which now lead
    /// nowhere either. Otherwise it becomes a tombstone, which keeps the
    /// chains through it intact. Without this, churn at a steady size
    /// fills the table with tombstones and rebuilds it over and over.
    ///
    /// Lock-free readers stay right: a live entry's chain has no empty
    /// slot, before or after this, and this empties only slots that no
    /// live entry's chain crosses.
    pub(crate) fn vacate(&self, i: usize) -> usize {
        if !self.slots[self.next(i)].load(Ordering::Relaxed).is_null() {
            self.slots[i].store(tombstone(), Ordering::Release);
            return 0;
        }
        let mut emptied = 0;
        let mut j = i;
        loop {
            self.slots[j].store(ptr::null_mut(), Ordering::Release);
            emptied += 1;
            j = self.prev(j);
            if emptied == self.len || self.slots[j].load(Ordering::Relaxed) != tombstone() {
                return emptied;
            }
        }
    }

    /// Whether slot `i` holds exactly `entry` (writer only).
    pub(crate) fn holds(&self, i: usize, entry: EntryPtr<K, V>) -> bool {
        let p = self.slots[i].load(Ordering::Relaxed);
        !p.is_null() && p != tombstone() && unpack(p) == entry.as_raw()
    }

    /// Finds the slot holding exactly `entry` (writer only).
    pub(crate) fn slot_of(&self, hash: u64, entry: &Entry<K, V>) -> Option<usize> {
        let entry: *const Entry<K, V> = entry;
        let mut i = self.home(hash);
        for _ in 0..self.len {
            let p = self.slots[i].load(Ordering::Relaxed);
            if p.is_null() {
                return None;
            }
            if p != tombstone() && ptr::eq(unpack(p), entry) {
                return Some(i);
            }
            i = self.next(i);
        }
        None
    }

    /// Slots holding an entry or a tombstone (writer only).
    #[cfg(test)]
    pub(crate) fn used_slots(&self) -> usize {
        self.slots.iter().filter(|s| !s.load(Ordering::Relaxed).is_null()).count()
    }

    /// The live entries (writer only).
    fn entries(&self) -> impl Iterator<Item = *mut Entry<K, V>> + '_ {
        self.slots.iter().map(|s| s.load(Ordering::Relaxed)).filter(|p| !p.is_null() && *p != tombstone()).map(unpack)
    }

    /// A fresh table holding this one's live entries, with room for `extra`
    /// more. `hash_of` rehashes an entry's key. It is unpublished, so relaxed
    /// stores suffice; publishing it is a Release store of its pointer.
    pub(crate) fn rebuilt(&self, live: usize, extra: usize, hash_of: impl Fn(&K) -> u64) -> Table<K, V> {
        let fresh = Table::with_room_for(live + extra);
        for p in self.entries() {
            // SAFETY: writer-only, under the shard lock, on a table the
            // caller borrows under its reclamation guard; see `probe`.
            let e = unsafe { EntryPtr::from_raw(p).get() };
            let hash = hash_of(&e.key);
            let mut i = fresh.home(hash);
            while !fresh.slots[i].load(Ordering::Relaxed).is_null() {
                i = fresh.next(i);
            }
            fresh.slots[i].store(pack(p, hash), Ordering::Relaxed);
        }
        fresh
    }
}

/// A shard's current table: a pointer readers load without a lock and the
/// shard lock's holder swaps. Every table it ever held is freed exactly
/// once: the replaced ones through the reclamation guard, the last one on
/// drop.
pub(crate) struct Current<K, V> {
    table: AtomicPtr<Table<K, V>>,
    /// Owns the table it points to.
    _owns: PhantomData<Box<Table<K, V>>>,
}

impl<K, V> Current<K, V> {
    /// Publishes `table` as the first one.
    pub(crate) fn new(table: Table<K, V>) -> Self {
        Current { table: AtomicPtr::new(Box::into_raw(Box::new(table))), _owns: PhantomData }
    }

    /// The current table, for a lock-free reader: it stays valid while
    /// `pin` does, even if a writer replaces it meanwhile.
    #[inline]
    pub(crate) fn load<'g>(&'g self, _pin: &'g Guard) -> &'g Table<K, V> {
        // SAFETY: the pointer always names a live table (made by `new` or
        // `publish`, never null before drop, which needs `&mut self`); a
        // replaced one is retired through the reclamation guard only after
        // it was swapped out, so one loaded while `_pin` is pinned is not
        // freed before `_pin` unpins, which `'g` outlives not.
        unsafe { &*self.table.load(Ordering::Acquire) }
    }

    /// The current table, for the shard lock's holder: as [`load`], and
    /// also stable while the lock is held, since only lock holders
    /// [`publish`](Self::publish) (the lock orders their stores before our
    /// load, so a relaxed load suffices).
    ///
    /// [`load`]: Self::load
    pub(crate) fn load_locked<'g>(&'g self, _pin: &'g Guard) -> &'g Table<K, V> {
        // SAFETY: as in `load`: a live table, retired (if ever) through the
        // reclamation guard after the swap, so valid while `_pin` lives.
        unsafe { &*self.table.load(Ordering::Relaxed) }
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> Current<K, V> {
    /// Publishes `fresh` in place of the current table (writer only, under
    /// the shard lock) and retires the old one; returns the new one.
    pub(crate) fn publish<'g>(&'g self, fresh: Table<K, V>, pin: &'g Guard) -> &'g Table<K, V> {
        let fresh = Box::into_raw(Box::new(fresh));
        let old = self.table.swap(fresh, Ordering::AcqRel);
        // SAFETY: `old` came from `Box::into_raw` (in `new` or here) and the
        // swap unpublished it: readers pinning from now on load `fresh`, and
        // those that loaded `old` are pinned. The swap hands it to us
        // alone, so it is retired once.
        unsafe { pin.retire(old) };
        // A whole table is large: hand it to the collector now rather than
        // when this thread's garbage bag fills.
        pin.flush();
        // SAFETY: just published; valid while `pin` lives, as in `load`.
        unsafe { &*fresh }
    }
}

impl<K, V> Drop for Current<K, V> {
    fn drop(&mut self) {
        let table = self.table.swap(ptr::null_mut(), Ordering::AcqRel);
        if !table.is_null() {
            // SAFETY: the current table is owned here (made by `Box`), and
            // `&mut self` means no reader is left to load it.
            drop(unsafe { Box::from_raw(table) });
        }
    }
}
