//! The store's key index: a hashbrown table of slot numbers, hashed by
//! the keys in the slots.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

use super::Store;

impl<K: Hash + Eq, V> Store<K, V> {
    /// The slot holding `key`, if any.
    pub(super) fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.table.find(hash, |&i| self.entry(i).key.borrow() == key).copied()
    }

    /// Makes room in the key index for one more key, at the size that
    /// key count needs. hashbrown, out of room, doubles a table more than
    /// half full even when its room went to tombstones, as it does under
    /// churn at a steady size: a cache of 1,000,000 entries would grow its
    /// index from 2^21 to 2^22 buckets, 10 bytes more per entry, for no
    /// key more. A table rebuilt for the keys it holds has no tombstones.
    /// Before the store changes: a panicking `Hash` leaves it as it was.
    pub(super) fn make_index_room(&mut self) {
        if self.table.len() < self.table.capacity() {
            return;
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        let hash_of = |&i: &u32| slots[i as usize].as_ref().map_or(0, |e| hasher.hash_one(&e.key));
        let mut fresh = HashTable::with_capacity(self.table.len() + 1);
        // In slot order, not the old table's: the keys are read in one
        // sweep instead of at random, which in a store larger than the
        // caches is a miss per key (hashbrown's own resize takes those).
        for (i, slot) in (0..).zip(slots) {
            if let Some(e) = slot {
                fresh.insert_unique(hasher.hash_one(&e.key), i, hash_of);
            }
        }
        self.table = fresh;
    }

    /// Takes slot `idx`'s entry out of the hash table.
    #[inline]
    pub(super) fn unindex(&mut self, idx: u32) {
        let hash = self.hasher.hash_one(&self.entry(idx).key);
        if let Ok(found) = self.table.find_entry(hash, |&i| i == idx) {
            found.remove();
        }
    }
}
