//! Giving memory back: writes reclaim a few expired entries on the way, and
//! a mostly empty store shrinks its slab and hash table.
//!
//! Without a capacity bound nothing else makes a write remove anything, so
//! a cache whose sweeper falls behind (or that has none) would hold every
//! expired entry until a purge. Each insert therefore first visits up to
//! [`RECLAIM_ON_WRITE`] entries the wheel has due (O(1) each), removing the
//! expired ones. An entry is visited a few times over its life (once when
//! it expires, and once per cascade to a finer bucket), far fewer than a
//! write's visits, so writes alone keep the expired backlog from growing.
//!
//! Removing entries frees slots but not the memory behind them. Once the
//! live entries fill less than a quarter of the room allocated (and the
//! room is above [`MIN_ROOM`]), the store shrinks to twice its live count;
//! the gap between the two (a quarter, then a half) is the hysteresis that
//! keeps a cache swinging by half from reallocating each time. Shrinking
//! costs O(slots) under the lock, paid for by the three quarters of them
//! that were removed since the room was last this large.
//!
//! The hash table holds only slot indexes, so it shrinks in place. The slab
//! must move live entries out of its tail into free slots below; slot
//! indexes are also the eviction policy's entry ids, which a policy cannot
//! rename, so with a policy (a capacity-bounded cache, whose slab the bound
//! already caps) only free slots at the tail are dropped.

use std::hash::{BuildHasher, Hash};

use super::{DepartureList, Store};
use crate::cache::RemovalCause;
use crate::clock::Ticks;

/// Due entries an insert visits (removing the expired ones) before it
/// stores its own.
const RECLAIM_ON_WRITE: usize = 8;

/// Room (in entries) below which neither the slab nor the table shrinks.
const MIN_ROOM: usize = 1024;

impl<K: Hash + Eq, V> Store<K, V> {
    /// Removes the expired entries among the next [`RECLAIM_ON_WRITE`] the
    /// wheel has due. `now` is already advanced.
    pub(super) fn reclaim_on_write(&mut self, now: Ticks, out: &mut DepartureList<K, V>) {
        let (mut budget, mut removed) = (RECLAIM_ON_WRITE, 0);
        while let Some(idx) = self.next_expired(now, &mut budget) {
            self.remove_at(idx, RemovalCause::Expired, out, true);
            removed += 1;
        }
        if removed > 0 {
            self.shrink_if_sparse();
        }
    }

    /// Shrinks the table and the slab if live entries fill less than a
    /// quarter of their room. O(1) when it does nothing.
    pub(crate) fn shrink_if_sparse(&mut self) {
        let live = self.table.len();
        if is_sparse(live, self.table.capacity()) {
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.table.shrink_to(live * 2, |&i| slots[i as usize].as_ref().map_or(0, |e| hasher.hash_one(&e.key)));
        }
        if is_sparse(live, self.slots.capacity()) {
            let before = self.slots.len();
            if self.policy.is_none() {
                self.compact_slab();
            } else {
                while self.slots.last().is_some_and(Option::is_none) {
                    self.slots.pop();
                }
            }
            if self.slots.len() < before {
                let len = self.slots.len();
                self.free.retain(|&i| (i as usize) < len);
                self.weights.truncate(len);
                self.owns.truncate(len);
                self.wheel.truncate(len);
            }
            let room = self.slots.len().max(live * 2);
            self.slots.shrink_to(room);
            self.free.shrink_to(room);
            self.weights.shrink_to(room);
            self.owns.shrink_to(room);
            self.wheel.shrink_to(room);
        }
    }

    /// Moves every live entry into the first `len()` slots and drops the
    /// rest: the highest live entry fills the lowest free slot, until none
    /// is left above.
    fn compact_slab(&mut self) {
        let live = self.table.len();
        let (mut to, mut from) = (0, self.slots.len());
        loop {
            while to < live && self.slots[to].is_some() {
                to += 1;
            }
            if to >= live {
                break;
            }
            // As many free slots lie below `live` as live entries above it,
            // so a live entry above `to` exists.
            from -= 1;
            while self.slots[from].is_none() {
                from -= 1;
            }
            self.relocate(from as u32, to as u32);
        }
        self.slots.truncate(live);
        self.free.clear();
    }

    /// Moves the entry in slot `from` to the empty slot `to`, repointing
    /// its wheel filing, its table entry, its own deadline and its weight.
    fn relocate(&mut self, from: u32, to: u32) {
        let entry = self.slots[from as usize].take();
        self.slots[to as usize] = entry;
        let own = self.owns.get(from);
        self.owns.set(from, Ticks::MAX);
        self.owns.set(to, own);
        self.wheel.relocate(from, to);
        let hash = self.hasher.hash_one(&self.entry(to).key);
        if let Ok(mut found) = self.table.find_entry(hash, |&i| i == from) {
            *found.get_mut() = to;
        }
        if let Some(w) = self.weights.get(from as usize).copied() {
            self.swap_weight(to, w);
            self.weights[from as usize] = 0;
        }
    }

    /// Expired entries still held at `now` (tests only: walks every slot).
    #[cfg(test)]
    pub(crate) fn expired_held(&self, now: Ticks) -> usize {
        let now = self.latest.at(now);
        (0..self.slots.len())
            .filter_map(|i| u32::try_from(i).ok())
            .filter(|&i| self.slots[i as usize].is_some() && self.is_expired(i, now))
            .count()
    }

    /// Room allocated: (slab slots, hash table entries) (tests only).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> (usize, usize) {
        (self.slots.capacity(), self.table.capacity())
    }
}

/// Whether `live` entries fill less than a quarter of `room` worth shrinking.
fn is_sparse(live: usize, room: usize) -> bool {
    room > MIN_ROOM && live < room / 4
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ttlkit_strategies::PolicyKind;

    use super::*;
    use crate::expiry::ExpiryRules;
    use crate::sync::RandomState;

    fn rules() -> ExpiryRules {
        ExpiryRules::new(Duration::from_nanos(10), None, Duration::ZERO)
    }

    /// Inserts keys `0..n` at t=1 (or the store's latest time).
    fn fill(s: &mut Store<u64, u64>, n: u64) -> DepartureList<u64, u64> {
        let mut out = DepartureList::new();
        for k in 0..n {
            s.insert(s.h(&k), k, k, Ticks::from_nanos(1), &mut out);
        }
        out
    }

    #[test]
    fn compaction_keeps_scattered_survivors_whole() {
        let mut s = Store::new(rules(), None, true, None, RandomState::default());
        let mut out = DepartureList::new();
        for k in 0..10_000u64 {
            s.write(s.h(&k), k, k, (k % 7) as u32 + 1, None, Ticks::from_nanos(1), &mut out);
        }
        assert!(out.is_empty());
        // Every 37th key survives, spread over the whole slab.
        for k in (0..10_000).filter(|k| k % 37 != 0) {
            assert!(s.remove(s.h(&k), &k, Ticks::from_nanos(2), &mut out).is_some());
        }
        let weight = s.weight();
        s.shrink_if_sparse();
        s.validate().unwrap();
        assert!(s.allocated().0 < 1_000 && s.allocated().1 < 1_000, "{:?}", s.allocated());
        assert_eq!(s.weight(), weight);
        for k in (0..10_000).step_by(37) {
            assert_eq!(s.peek(s.h(&k), &k, Ticks::from_nanos(2)), Some(&k));
        }
        // The wheel still files the moved entries: a refresh, then expiry.
        assert!(s.get(s.h(&37), &37, Ticks::from_nanos(5), &mut out).is_some());
        out.clear();
        let (n, _) = s.purge_expired(Ticks::from_nanos(11), usize::MAX, &mut out);
        assert_eq!(n, 270, "all 271 survivors but the refreshed one");
        assert!(out.iter().all(|r| r.0 != 37));
        assert_eq!(s.peek(s.h(&37), &37, Ticks::from_nanos(11)), Some(&37));
        s.validate().unwrap();
        fill(&mut s, 2_000);
        s.validate().unwrap();
    }

    #[test]
    fn with_a_policy_only_the_free_tail_goes() {
        let mut s =
            Store::new(rules(), Some(100_000), false, Some(PolicyKind::Lru.build(100_000)), RandomState::default());
        assert!(fill(&mut s, 10_000).is_empty());
        let mut out = DepartureList::new();
        // Keys 0..100 survive in the slab's first slots; the rest leave.
        for k in 100..10_000 {
            s.remove(s.h(&k), &k, Ticks::from_nanos(2), &mut out);
        }
        s.shrink_if_sparse();
        s.validate().unwrap();
        assert!(s.allocated().0 < 1_000 && s.allocated().1 < 1_000, "{:?}", s.allocated());
        fill(&mut s, 300);
        s.validate().unwrap();
        assert_eq!(s.len(), 300);
    }

    #[test]
    fn shrinking_through_random_churn_matches_a_map() {
        // Waves of inserts and removals swing the store between about 0 and
        // 6,000 entries, so it shrinks many times; a map says what must be held.
        let mut s = Store::new(
            ExpiryRules::new(Duration::from_secs(1), None, Duration::ZERO),
            None,
            false,
            None,
            RandomState::default(),
        );
        let mut model = std::collections::HashMap::new();
        let mut out = DepartureList::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut shrinks = 0;
        for wave in 0..12u64 {
            let grow = wave % 2 == 0;
            for _ in 0..if grow { 8_000 } else { 30_000 } {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = x % 10_000;
                let now = Ticks::from_nanos(wave);
                if grow {
                    s.insert(s.h(&k), k, x, now, &mut out);
                    model.insert(k, x);
                } else {
                    assert_eq!(s.remove(s.h(&k), &k, now, &mut out), model.remove(&k), "key {k}");
                    let before = s.allocated();
                    s.shrink_if_sparse();
                    shrinks += usize::from(s.allocated() != before);
                }
            }
            s.validate().unwrap();
            assert_eq!(s.len(), model.len());
            for (k, v) in &model {
                assert_eq!(s.peek(s.h(k), k, Ticks::from_nanos(wave)), Some(v));
            }
        }
        assert!(shrinks >= 5, "only {shrinks} shrinks");
    }

    /// Compaction moves entries to lower slots; their own deadlines move
    /// with them (else the purge would follow a stale slot number and index
    /// past the end of the shrunken slab).
    #[test]
    fn compaction_moves_own_deadlines_with_their_entries() {
        let rules = ExpiryRules::new(crate::MAX_DURATION, None, crate::MAX_DURATION);
        let mut s = Store::new(rules, None, false, None, RandomState::default());
        let mut out = DepartureList::new();
        for k in 0..10_000u64 {
            let ttl = Duration::from_nanos(if k % 2 == 0 { 10 } else { 1_000 });
            s.write(s.h(&k), k, k, 1, Some(ttl), Ticks::from_nanos(1), &mut out);
        }
        for k in (0..10_000).filter(|k| k % 37 != 0) {
            assert!(s.remove(s.h(&k), &k, Ticks::from_nanos(2), &mut out).is_some());
        }
        s.shrink_if_sparse();
        assert!(s.allocated().1 < 1_000, "compacted: {:?}", s.allocated());
        s.validate().unwrap();
        out.clear();
        let (n, _) = s.purge_expired(Ticks::from_nanos(11), usize::MAX, &mut out);
        let even = (0..10_000u64).step_by(37).filter(|k| k % 2 == 0).count();
        assert_eq!((n, out.len()), (even, even));
        assert!(out.iter().all(|r| r.0 % 2 == 0 && r.2 == RemovalCause::Expired));
        s.validate().unwrap();
    }

    #[test]
    fn small_stores_never_shrink() {
        let mut s = Store::new(rules(), None, false, None, RandomState::default());
        fill(&mut s, 500);
        let mut out = DepartureList::new();
        s.purge_expired(Ticks::from_nanos(100), usize::MAX, &mut out);
        // Measured after the purge: erasing leaves tombstones that lower the
        // table's reported capacity by an amount that depends on the hash seed.
        let room = s.allocated();
        s.shrink_if_sparse();
        assert_eq!(s.allocated(), room);
    }
}
