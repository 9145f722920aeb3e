//! The sharded backend's entry pointers, in one place: [`EntryPtr`] (the
//! raw pointer, and the one `Send`/`Sync` argument) and [`Entries`] (each
//! shard's owning map from ids to entries, which alone frees them).
//!
//! The protocol every `unsafe` here relies on: an entry is allocated by
//! [`EntryPtr::alloc`], owned by its shard's [`Entries`] while its id is
//! resident, and published in the shard's current table. It leaves both
//! (under the shard lock) before it is retired through the reclamation
//! guard, so a reader that found it while pinned can still read it, and no
//! reader that pins later can find it. The only other free is the shard's
//! drop, when no reader is left.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::entry::Entry;
use super::table::Table;
use crate::sync::reclaim::Guard;

/// A reclamation guard, as stored in a struct (`Guard` takes a lifetime
/// under loom, none otherwise).
#[cfg(not(ttlkit_loom))]
pub(crate) type Pin<'a> = Guard;
/// A reclamation guard, as stored in a struct (`Guard` takes a lifetime
/// under loom, none otherwise).
#[cfg(ttlkit_loom)]
pub(crate) type Pin<'a> = Guard<'a>;

/// A pointer to a heap-allocated entry of a shard. Copying it copies the
/// address, not the entry: who may read or free it is the protocol above.
pub(crate) struct EntryPtr<K, V> {
    ptr: NonNull<Entry<K, V>>,
    _owns: PhantomData<Entry<K, V>>,
}

impl<K, V> Clone for EntryPtr<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, V> Copy for EntryPtr<K, V> {}

impl<K, V> PartialEq for EntryPtr<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.ptr == other.ptr
    }
}

impl<K, V> Eq for EntryPtr<K, V> {}

// SAFETY: an entry is shared by reference between the writer and any number
// of lock-free readers on other threads (needs `K, V: Sync`), and is freed
// on whichever thread retires or drops it (needs `K, V: Send`). Its own
// mutable parts are atomics. Every type holding entry pointers (the table,
// the id map, and so the shard) takes its `Send`/`Sync` from this one.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for EntryPtr<K, V> {}
// SAFETY: as above.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for EntryPtr<K, V> {}

impl<K, V> EntryPtr<K, V> {
    /// Moves `entry` to the heap (unpublished: nothing else can reach it).
    pub(crate) fn alloc(entry: Entry<K, V>) -> Self {
        EntryPtr { ptr: NonNull::from(Box::leak(Box::new(entry))), _owns: PhantomData }
    }

    /// The address, for storing in a table slot.
    #[inline]
    pub(crate) fn as_raw(self) -> *mut Entry<K, V> {
        self.ptr.as_ptr()
    }

    /// The pointer back from a table slot's address.
    ///
    /// # Safety
    /// `raw` came from [`as_raw`](Self::as_raw) (so it is non-null).
    #[inline]
    pub(crate) unsafe fn from_raw(raw: *mut Entry<K, V>) -> Self {
        // SAFETY: per the contract, `raw` is an `as_raw` address: non-null.
        EntryPtr { ptr: unsafe { NonNull::new_unchecked(raw) }, _owns: PhantomData }
    }

    /// The entry.
    ///
    /// # Safety
    /// The entry is not freed during `'a`: the caller holds the shard lock
    /// with the entry resident, or a reclamation guard pinned before the
    /// entry was retired, for all of `'a`.
    #[inline]
    pub(crate) unsafe fn get<'a>(self) -> &'a Entry<K, V> {
        // SAFETY: allocated by `alloc`, so aligned and initialised; not freed
        // during `'a` per the contract.
        unsafe { self.ptr.as_ref() }
    }
}

/// A shard's entries by id: the owner of every resident entry.
pub(crate) struct Entries<K, V> {
    /// The entry of each id (`None` when the id is free).
    by_id: Vec<Option<EntryPtr<K, V>>>,
}

impl<K, V> Entries<K, V> {
    pub(crate) fn new() -> Self {
        Entries { by_id: Vec::new() }
    }

    /// Ids handed out so far (resident or free).
    pub(crate) fn ids(&self) -> usize {
        self.by_id.len()
    }

    /// Makes room for one more id, free for now.
    pub(crate) fn grow(&mut self) {
        self.by_id.push(None);
    }

    /// The entry of `id`, if resident.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&Entry<K, V>> {
        let p = (*self.by_id.get(id as usize)?)?;
        // SAFETY: a resident entry is owned here and leaves only through
        // `&mut self` methods (`unlink`, `overwrite`), which retire it after
        // it leaves; so it is live for as long as `self` is borrowed.
        Some(unsafe { p.get() })
    }

    /// The entry of `id`, which must be resident (a shard invariant: the
    /// wheel and the policy name only resident ids).
    pub(crate) fn entry(&self, id: u32) -> &Entry<K, V> {
        self.get(id).expect("ttlkit: a scheduled or named id names a resident entry")
    }

    /// Whether `id` is resident.
    pub(crate) fn is_resident(&self, id: u32) -> bool {
        self.by_id.get(id as usize).is_some_and(Option::is_some)
    }

    /// The resident ids, in order.
    pub(crate) fn resident(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_id.iter().enumerate().filter(|(_, p)| p.is_some()).filter_map(|(i, _)| u32::try_from(i).ok())
    }

    /// Makes `entry` the entry of the free id `id`; returns its pointer for
    /// the table (`Table::put`), which the caller publishes it in.
    pub(crate) fn insert(&mut self, id: u32, entry: Entry<K, V>) -> EntryPtr<K, V> {
        let fresh = EntryPtr::alloc(entry);
        let slot = &mut self.by_id[id as usize];
        debug_assert!(slot.is_none(), "a free id");
        *slot = Some(fresh);
        fresh
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> Entries<K, V> {
    /// An overwrite: publishes `entry` for resident `id` in `slot` of the
    /// shard's current `table` (where `id`'s entry sits, from `Table::probe`;
    /// `hash` is its key's), then flags the old entry removed (so a reader
    /// that sees the flag and looks again finds the new one) and retires it.
    /// Writer only, under the shard lock.
    pub(crate) fn overwrite(
        &mut self,
        id: u32,
        table: &Table<K, V>,
        slot: usize,
        hash: u64,
        entry: Entry<K, V>,
        pin: &Guard,
    ) {
        let fresh = EntryPtr::alloc(entry);
        table.replace(slot, hash, fresh);
        let old = self.by_id[id as usize].replace(fresh).expect("ttlkit: an overwrite names a resident id");
        debug_assert!(old != fresh);
        // SAFETY: `old` was resident until just now, and we hold the lock
        // (no one else retires it).
        unsafe { old.get() }.mark_removed();
        // SAFETY: `old` left the table (its slot holds `fresh` now) and the id
        // map, so readers pinning from now on cannot find it; readers that
        // found it earlier are pinned. It was retired by no one else: only
        // the lock holder takes entries out of the map, once.
        unsafe { old.retire(pin) };
    }

    /// Unlinks resident `id`: takes it out of the id map, flags it removed,
    /// vacates its `slot` in the shard's current `table` (`None` when it
    /// is in no slot) and retires it. Writer only, under the shard lock.
    /// Returns how many table slots that left empty (`Table::vacate`).
    pub(crate) fn unlink(&mut self, id: u32, table: &Table<K, V>, slot: Option<usize>, pin: &Guard) -> usize {
        let p = self.by_id[id as usize].take().expect("ttlkit: a removal names a resident id");
        // SAFETY: resident until just now; only the lock holder (us) retires.
        unsafe { p.get() }.mark_removed();
        let emptied = slot.map_or(0, |slot| {
            debug_assert!(table.holds(slot, p), "the slot holds the entry");
            table.vacate(slot)
        });
        // SAFETY: out of the table (vacated above, or in no slot) and of
        // the id map, so readers pinning from now on cannot find it; readers
        // that found it earlier are pinned. Retired once: it left the map
        // exactly once.
        unsafe { p.retire(pin) };
        emptied
    }
}

impl<K: Send + 'static, V: Send + 'static> EntryPtr<K, V> {
    /// Frees the entry once no reader pinned now can still be reading it.
    ///
    /// # Safety
    /// The entry is unreachable for readers that pin from now on (out of
    /// the current table and the id map), and is retired only once.
    unsafe fn retire(self, pin: &Guard) {
        // SAFETY: per this function's contract; `alloc` made it with `Box`.
        unsafe { pin.retire(self.ptr.as_ptr()) };
    }
}

impl<K, V> Drop for Entries<K, V> {
    fn drop(&mut self) {
        for p in self.by_id.drain(..).flatten() {
            // SAFETY: the map owns its resident entries (made by `alloc`, so
            // boxed), and it drops only with its shard, when no handle, and
            // so no reader, is left: nothing can reach them. Retired entries
            // left the map first, so none is freed twice.
            drop(unsafe { Box::from_raw(p.as_raw()) });
        }
    }
}

#[cfg(test)]
mod tests {
    //! The id map and the table pointer on their own (small enough for miri,
    //! which checks the frees: every entry and table exactly once).

    use super::*;
    use crate::clock::Ticks;
    use crate::sync::reclaim::Graveyard;
    use crate::sync::Arc;

    use super::super::table::{Current, Probe};

    type Map = Entries<Arc<u64>, Arc<String>>;

    /// A hash whose low bits (the slot) and bits 32..35 (the tag) vary.
    fn h(k: u64) -> u64 {
        k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn entry(k: u64, id: u32) -> Entry<Arc<u64>, Arc<String>> {
        Entry::new(Arc::new(k), Arc::new(format!("v{k}")), Ticks::ZERO, Ticks::MAX, id)
    }

    /// Churn must not silt the table up with tombstones: removing every
    /// entry, in any order, leaves every slot empty again, and each
    /// removal's count of emptied slots adds up to the slots used. Entries
    /// still present stay findable after each removal.
    #[test]
    fn removing_every_entry_leaves_no_tombstone() {
        let graveyard = Graveyard::default();
        let mut map = Map::new();
        let current = Current::new(Table::with_room_for(24));
        let pin = graveyard.pin();
        let table = current.load_locked(&pin);
        // Enough keys for long clusters (48 slots, 30 entries).
        let keys: Vec<u64> = (0..30).collect();
        for &k in &keys {
            let id = u32::try_from(k).expect("small");
            map.grow();
            let Probe::Vacant(slot) = table.probe(h(k), &k) else { panic!("fresh key") };
            assert!(table.put(slot, h(k), map.insert(id, entry(k, id))));
        }
        // An order unrelated to the slots: every 7th key, round and round.
        let order: Vec<u64> = (0..30).map(|i| (i * 7) % 30).collect();
        let mut emptied = 0;
        for (n, &k) in order.iter().enumerate() {
            let Probe::Found(slot, _) = table.probe(h(k), &k) else { panic!("{k} present") };
            emptied += map.unlink(u32::try_from(k).expect("small"), table, Some(slot), &pin);
            for &left in &order[n + 1..] {
                assert!(table.find(h(left), &left).is_some(), "{left} lost after removing {k}");
            }
        }
        assert_eq!(emptied, 30, "every used slot emptied once");
        assert_eq!(table.used_slots(), 0, "slots left used");
        drop(pin);
        drop(current);
        graveyard.pin().flush();
    }

    #[test]
    fn insert_overwrite_unlink_and_drop_free_each_entry_once() {
        let graveyard = Graveyard::default();
        let key = Arc::new(0_u64);
        let mut map = Map::new();
        let current = Current::new(Table::with_room_for(4));
        {
            let pin = graveyard.pin();
            let table = current.load_locked(&pin);
            for id in 0..3_u32 {
                map.grow();
                let k = u64::from(id);
                let hash = h(k);
                let Probe::Vacant(slot) = table.probe(hash, &k) else { panic!("fresh key") };
                let mut e = entry(k, id);
                if id == 0 {
                    e.key = Arc::clone(&key);
                }
                let fresh = map.insert(id, e);
                table.put(slot, hash, fresh);
            }
            assert!(map.is_resident(2) && !map.is_resident(3));
            assert_eq!(map.resident().collect::<Vec<_>>(), [0, 1, 2]);
            // Overwrite id 1, and a table rebuild in between.
            let hash1 = h(1);
            let Probe::Found(slot, old) = table.probe(hash1, &1) else { panic!("present") };
            assert_eq!(*old.value, "v1");
            map.overwrite(1, table, slot, hash1, entry(1, 1), &pin);
            // The old entry is flagged and still readable while pinned.
            assert_eq!(*old.value, "v1");
            let fresh = table.rebuilt(3, 0, |k| h(**k));
            let table = current.publish(fresh, &pin);
            let Probe::Found(slot, e) = table.probe(hash1, &1) else { panic!("present") };
            assert_eq!(*e.value, "v1");
            assert_eq!(table.slot_of(hash1, e), Some(slot));
            map.unlink(1, table, Some(slot), &pin);
            assert!(!map.is_resident(1));
            assert!(table.find(hash1, &1).is_none());
            assert!(table.find(0, &0).is_some());
        }
        // Ids 0 and 2 are still resident: dropping the map frees them.
        assert_eq!(Arc::strong_count(&key), 2);
        drop(map);
        assert_eq!(Arc::strong_count(&key), 1);
        drop(current);
        graveyard.pin().flush();
    }
}
