//! How a shard makes room: the expired entries its wheel has due, then
//! its policy's victims (with a second chance for entries hit since the
//! policy last saw them).

use std::hash::Hash;
use std::sync::atomic::Ordering;

use super::{Settings, Shard, State};
use crate::backend::sharded::entry::Entry;
use crate::backend::sharded::weight::Ledger;
use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::core::DepartureList;

/// How many times a policy's victim may be spared for a hit it has not
/// heard of yet before the next victim is taken regardless.
const SECOND_CHANCES: usize = 16;

impl<K, V> Shard<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Removes the expired entries the wheel has due at `now`, visiting at
    /// most `budget` due entries; returns (removed, more due).
    pub(crate) fn expire(
        &self,
        s: &Settings<K, V>,
        now: Ticks,
        budget: usize,
        out: &mut DepartureList<K, V>,
    ) -> (usize, bool) {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        let now = st.latest.advance(now);
        self.expire_locked(&mut st, &mut ledger, s, now, budget, out)
    }

    pub(super) fn expire_locked(
        &self,
        st: &mut State<K, V>,
        ledger: &mut Ledger<'_>,
        s: &Settings<K, V>,
        now: Ticks,
        budget: usize,
        out: &mut DepartureList<K, V>,
    ) -> (usize, bool) {
        let rules = s.rules.get();
        let entries = &st.entries;
        // Filed ids always name resident entries. Those handed out stay
        // filed until `remove_at` unlinks them, so if user or policy code
        // panics there, the rest are still resident and still due.
        let deadline = |id: u32| entries.entry(id).deadline(&rules).as_nanos();
        let mut expired = Vec::new();
        st.wheel.expired(now.as_nanos(), &mut { budget }, deadline, &mut expired);
        self.next_due.store(st.wheel.next_due(), Ordering::Relaxed);
        if !expired.is_empty() {
            let pin = self.graveyard.pin();
            let mut cx = self.locked(st, &pin, s);
            // Every slot first: in a shard larger than the caches each probe
            // is a miss, and a loop of nothing but probes overlaps them.
            // Removals change only the removed entries' slots and the
            // tombstones before them, so the slots found stay right.
            let slots: Vec<Option<usize>> = expired.iter().map(|&id| cx.slot_of(id)).collect();
            for (&id, slot) in expired.iter().zip(slots) {
                ledger.remove(cx.remove_at(slot, id, RemovalCause::Expired, true, out));
            }
            cx.shrink_if_sparse();
        }
        (expired.len(), st.wheel.has_due())
    }

    /// Makes room by removing the policy's victim (the caller has already
    /// looked for expired entries everywhere). Returns whether it removed one.
    pub(crate) fn evict_one(&self, s: &Settings<K, V>, out: &mut DepartureList<K, V>) -> bool {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        self.evict_locked(&mut st, &mut ledger, s, out)
    }

    /// [`evict_one`](Self::evict_one) with the lock held.
    pub(super) fn evict_locked(
        &self,
        st: &mut State<K, V>,
        ledger: &mut Ledger<'_>,
        s: &Settings<K, V>,
        out: &mut DepartureList<K, V>,
    ) -> bool {
        let Some(id) = st.victim(s) else { return false };
        let pin = self.graveyard.pin();
        let mut cx = self.locked(st, &pin, s);
        ledger.remove(cx.remove_at(None, id, RemovalCause::Capacity, false, out));
        true
    }
}

impl<K, V> State<K, V> {
    /// The policy's victim. A policy that takes owner bits (CLOCK, SIEVE,
    /// w-tinylfu-auto) reads the entries' bits itself; any other policy's
    /// victim that was hit since the policy last saw it gets a second
    /// chance: its bit is cleared and it goes back to the policy as if just
    /// inserted.
    fn victim(&mut self, s: &Settings<K, V>) -> Option<u32>
    where
        K: Hash,
    {
        let id = self.pick(s)?;
        // Only a resident id can be removed. A policy naming another (a bug,
        // or what a panic inside one left behind) makes no room.
        self.entries.is_resident(id).then_some(id)
    }

    /// The policy's candidate victim, after second chances.
    fn pick(&mut self, s: &Settings<K, V>) -> Option<u32>
    where
        K: Hash,
    {
        let policy = self.policy.as_mut()?;
        if policy.takes_owner_bits() {
            let entries = &self.entries;
            let victim = policy.evict_with_bits(&mut |id| {
                // The policy names resident ids; another is a policy bug,
                // read as clear.
                u32::try_from(id).ok().and_then(|id| entries.get(id)).is_some_and(Entry::take_referenced)
            })?;
            return u32::try_from(victim).ok();
        }
        for _ in 0..SECOND_CHANCES {
            let id = u32::try_from(policy.evict()?).ok()?;
            let e = self.entries.get(id)?;
            if !e.take_referenced() {
                return Some(id);
            }
            policy.on_insert(u64::from(id), s.hash(&e.key));
        }
        u32::try_from(policy.evict()?).ok()
    }
}
