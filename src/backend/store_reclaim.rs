//! Giving memory back: what the store's slab and hash table hold beyond
//! their live entries.

use std::hash::Hash;

use super::Store;
use crate::clock::Ticks;

impl<K: Hash + Eq, V> Store<K, V> {
    /// Expired entries still held at `now` (tests only: walks every slot).
    #[cfg(test)]
    pub(crate) fn expired_held(&self, now: Ticks) -> usize {
        let now = self.latest.max(now);
        self.slots.iter().flatten().filter(|e| self.rules.is_expired(now, e.last_access, e.inserted_at)).count()
    }

    /// Room allocated: (slab slots, hash table entries) (tests only).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> (usize, usize) {
        (self.slots.capacity(), self.table.capacity())
    }
}
