//! The lock-free-read hash table of one shard: open addressing with linear
//! probing over atomic entry pointers.
//!
//! Readers (holding a reclamation guard) load the table pointer and probe
//! without any lock or write. Writers hold the shard lock and are the only
//! ones that store slots: a new entry goes into the first empty or tombstone
//! slot of its probe chain; a removal stores a tombstone so chains stay
//! intact; an overwrite stores the new entry in the old one's slot. When
//! live entries plus tombstones pass 3/4 of the slots, the writer builds a
//! fresh table (load at most 1/2), publishes it and retires the old one
//! (removals that leave live entries under 1/8 of the slots rebuild it
//! smaller the same way);
//! a reader still probing the old table sees only entries that were live
//! at the swap, and the entry's removal flag tells it about later removals.

use std::borrow::Borrow;
use std::ptr;
use std::sync::atomic::Ordering;

use super::entry::Entry;
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
}

/// Where a key is, or where it would go, in a probe chain.
pub(crate) enum Probe<K, V> {
    /// The key's slot and its entry.
    Found(usize, *mut Entry<K, V>),
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
        Table { len, slots: (0..len).map(|_| AtomicPtr::new(ptr::null_mut())).collect() }
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

    /// Lock-free lookup: the entry for `key`, if any.
    ///
    /// Entries returned are valid while the caller's reclamation guard lives.
    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<*mut Entry<K, V>>
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
                // through the reclamation guard the caller holds.
                let e = unsafe { &*p };
                if e.key.borrow() == key {
                    return Some(p);
                }
            }
            i = self.next(i);
        }
        None
    }

    /// Writer-side probe (caller holds the shard lock).
    pub(crate) fn probe<Q>(&self, hash: u64, key: &Q) -> Probe<K, V>
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
                // SAFETY: the caller holds the shard lock, so no writer can
                // retire this entry concurrently.
                let e = unsafe { &*p };
                if e.key.borrow() == key {
                    return Probe::Found(i, p);
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
    pub(crate) fn put(&self, i: usize, hash: u64, entry: *mut Entry<K, V>) -> bool {
        let was_empty = self.slots[i].load(Ordering::Relaxed).is_null();
        self.slots[i].store(pack(entry, hash), Ordering::Release);
        was_empty
    }

    /// Replaces the entry in slot `i` by one of the same key (an overwrite;
    /// writer only).
    pub(crate) fn replace(&self, i: usize, hash: u64, entry: *mut Entry<K, V>) {
        self.slots[i].store(pack(entry, hash), Ordering::Release);
    }

    /// Stores a tombstone in slot `i` (writer only).
    pub(crate) fn vacate(&self, i: usize) {
        self.slots[i].store(tombstone(), Ordering::Release);
    }

    /// Finds the slot holding exactly `entry` (writer only).
    pub(crate) fn slot_of(&self, hash: u64, entry: *mut Entry<K, V>) -> Option<usize> {
        let mut i = self.home(hash);
        for _ in 0..self.len {
            let p = self.slots[i].load(Ordering::Relaxed);
            if p.is_null() {
                return None;
            }
            if p != tombstone() && unpack(p) == entry {
                return Some(i);
            }
            i = self.next(i);
        }
        None
    }

    /// The live entries (writer only).
    pub(crate) fn entries(&self) -> impl Iterator<Item = *mut Entry<K, V>> + '_ {
        self.slots.iter().map(|s| s.load(Ordering::Relaxed)).filter(|p| !p.is_null() && *p != tombstone()).map(unpack)
    }

    /// A fresh table holding this one's live entries, with room for `extra`
    /// more. `hash_of` rehashes an entry's key. It is unpublished, so relaxed
    /// stores suffice; publishing it is a Release store of its pointer.
    pub(crate) fn rebuilt(&self, live: usize, extra: usize, hash_of: impl Fn(&K) -> u64) -> Table<K, V> {
        let fresh = Table::with_room_for(live + extra);
        for p in self.entries() {
            // SAFETY: writer-only, under the shard lock; see `probe`.
            let e = unsafe { &*p };
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
