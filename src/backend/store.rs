//! The single-threaded core of the mutex backend: a slab of entries, a hash
//! table of slab indexes, the timer wheel over the slab indexes and an
//! eviction policy. No locks, no clock: every operation is given the time.
//!
//! Each entry is filed in the wheel under its deadline, the earliest of its
//! idle, lifetime and own deadlines, whichever kind it is: a write or a
//! refreshing read (one that moves the access stamp, or whose `Expiry`
//! moves the own deadline) files it again at once, so a filing is its
//! deadline (see `set_rules` for the one exception). Expiry walks the
//! wheel's due buckets: it touches the expired entries and the few that
//! cascade to a finer bucket, never the whole map.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::time::Duration;

use hashbrown::HashTable;
use ttlkit_strategies::EvictionPolicy;

use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::core::DepartureList;
use crate::core::Latest;
use crate::expiry::ExpiryRules;
use crate::inspect::Stamps;
use crate::per_entry::OwnDeadlines;
use crate::sync::RandomState;
use crate::timer_wheel::{TimerWheel, MAX_ID};
use entry::{deadlines, Entry, OwnStamps, Written};

/// Entries, their index, their deadlines and their eviction order.
pub(crate) struct Store<K, V> {
    slots: Vec<Option<Entry<K, V>>>,
    owns: OwnStamps,
    free: Vec<u32>,
    table: HashTable<u32>,
    /// Every slot with a deadline, filed under it.
    wheel: TimerWheel,
    own_deadlines: OwnDeadlines<K, V>,
    policy: Option<Box<dyn EvictionPolicy>>,
    rules: ExpiryRules,
    max_weight: Option<u64>,
    /// Whether entries have weights of their own (a weigher is set).
    weighted: bool,
    total_weight: u64,
    /// Each slot's weight, kept only with a weigher (otherwise every entry
    /// weighs 1 and the 4 bytes per entry are saved).
    weights: Vec<u32>,
    /// Rehashes keys when the table grows and finds an entry's bucket on
    /// removal (hashes are not stored: 8 bytes per entry saved).
    hasher: RandomState,
    /// The latest time seen: stamps never go backwards even when callers
    /// read the clock in one order and take the lock in another.
    latest: Latest,
}

impl<K, V> Store<K, V> {
    /// Entries held, expired or not.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

impl<K: Hash + Eq, V> Store<K, V> {
    /// The hash callers pass for `key` (tests only).
    #[cfg(test)]
    pub(crate) fn h<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// An empty store. `policy` is used only when `max_weight` is set;
    /// `hasher` must be the one callers hash keys with.
    pub(crate) fn new(
        rules: ExpiryRules,
        max_weight: Option<u64>,
        weighted: bool,
        policy: Option<Box<dyn EvictionPolicy>>,
        hasher: RandomState,
    ) -> Self {
        let policy = if max_weight.is_some() { policy } else { None };
        Store {
            slots: Vec::new(),
            owns: OwnStamps::default(),
            free: Vec::new(),
            table: HashTable::new(),
            wheel: TimerWheel::default(),
            own_deadlines: OwnDeadlines::default(),
            policy,
            rules,
            max_weight,
            weighted,
            total_weight: 0,
            weights: Vec::new(),
            hasher,
            latest: Latest::default(),
        }
    }

    /// Judges every entry by `rules` from now on. Timeouts that only grow
    /// leave every filing a lower bound of the new deadline, which is all
    /// the wheel needs (a walk that meets the entry files it again); a
    /// shorter one refiles every entry at once (a pass over the slab).
    pub(crate) fn set_rules(&mut self, rules: ExpiryRules) {
        let sooner = !rules.never_sooner_than(&self.rules);
        self.rules = rules;
        if sooner {
            for (idx, slot) in (0u32..).zip(&self.slots) {
                if let Some(e) = slot {
                    self.wheel.schedule(idx, e.deadline(&self.rules, self.owns.get(idx)));
                }
            }
        }
    }

    /// Gives entries deadlines of their own as `own` says.
    pub(crate) fn with_own_deadlines(mut self, own: OwnDeadlines<K, V>) -> Self {
        self.own_deadlines = own;
        self
    }

    /// Sets the capacity bound to `max` and evicts down to it; refuses a
    /// store built without one (it has no policy).
    pub(crate) fn set_max_weight(
        &mut self,
        max: u64,
        now: Ticks,
        out: &mut DepartureList<K, V>,
    ) -> Result<(), crate::BuildError> {
        if self.max_weight.is_none() {
            return Err(NOT_BOUNDED);
        }
        let now = self.advance(now);
        self.max_weight = Some(max);
        self.enforce_capacity(now, out);
        Ok(())
    }

    /// Total weight held (the entry count without a weigher).
    pub(crate) fn weight(&self) -> u64 {
        self.total_weight
    }

    /// The live entry's stamps and weight; changes nothing.
    pub(crate) fn inspect<Q>(&self, hash: u64, key: &Q, now: Ticks) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let now = self.latest.at(now);
        let idx = self.find(hash, key).filter(|&idx| !self.is_expired(idx, now))?;
        let e = self.entry(idx);
        let weight = self.weights.get(idx as usize).copied().filter(|_| self.weighted).unwrap_or(1);
        Some(Stamps::new(e.last_access, e.inserted_at.get(), weight).with_own(self.owns.get(idx)))
    }

    /// Removes every entry live at `now` that `keep` rejects (`Explicit`);
    /// returns how many.
    pub(crate) fn retain(
        &mut self,
        now: Ticks,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        out: &mut DepartureList<K, V>,
    ) -> usize {
        let now = self.advance(now);
        let mut removed = 0;
        for idx in 0..self.slots.len() {
            let Ok(idx) = u32::try_from(idx) else { break };
            let rejected = match &self.slots[idx as usize] {
                Some(e) => !e.is_expired(&self.rules, now, self.owns.get(idx)) && !keep(&e.key, &e.value),
                None => false,
            };
            if rejected {
                self.remove_at(idx, RemovalCause::Explicit, out, true);
                removed += 1;
            }
        }
        removed
    }

    /// Up to `n` live entries in the policy's ranking (coldest first, or
    /// with `hottest` hottest first); `None` without a policy that can tell.
    pub(crate) fn ranked(&self, n: usize, now: Ticks, hottest: bool) -> Option<Vec<(K, V)>>
    where
        K: Clone,
        V: Clone,
    {
        let now = self.latest.at(now);
        let policy = self.policy.as_ref()?;
        let ids = if hottest { policy.hottest(usize::MAX)? } else { policy.coldest(usize::MAX)? };
        let live = ids.into_iter().filter_map(|id| {
            let idx = u32::try_from(id).ok()?;
            Some((idx, self.slots.get(idx as usize)?.as_ref()?))
        });
        Some(
            live.filter(|&(idx, e)| !e.is_expired(&self.rules, now, self.owns.get(idx)))
                .map(|(_, e)| e)
                .take(n)
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect(),
        )
    }

    /// Calls `f` on every entry live at `now`; changes nothing.
    pub(crate) fn for_each_live(&self, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        let now = self.latest.at(now);
        for (idx, slot) in (0..).zip(&self.slots) {
            if let Some(e) = slot.as_ref().filter(|e| !e.is_expired(&self.rules, now, self.owns.get(idx))) {
                f(&e.key, &e.value);
            }
        }
    }

    fn advance(&mut self, now: Ticks) -> Ticks {
        self.latest.advance(now)
    }

    fn entry(&self, idx: u32) -> &Entry<K, V> {
        match &self.slots[idx as usize] {
            Some(e) => e,
            None => unreachable_slot(idx),
        }
    }

    fn entry_mut(&mut self, idx: u32) -> &mut Entry<K, V> {
        match &mut self.slots[idx as usize] {
            Some(e) => e,
            None => unreachable_slot(idx),
        }
    }

    fn is_expired(&self, idx: u32, now: Ticks) -> bool {
        self.entry(idx).is_expired(&self.rules, now, self.owns.get(idx))
    }

    /// Why the entry at `idx` leaves at `now` when removed for `otherwise`.
    pub(super) fn departure(&self, idx: u32, now: Ticks, otherwise: RemovalCause) -> RemovalCause {
        self.entry(idx).departure(&self.rules, now, self.owns.get(idx), otherwise)
    }

    /// Files slot `idx` under its entry's deadline.
    fn refile(&mut self, idx: u32) {
        let deadline = self.entry(idx).deadline(&self.rules, self.owns.get(idx));
        self.wheel.schedule(idx, deadline);
    }

    /// The next expired entry the wheel has due at `now`, visiting at most
    /// `budget` due entries (and filing the others again). The entry stays
    /// filed until it is removed.
    fn next_expired(&mut self, now: Ticks, budget: &mut usize) -> Option<u32> {
        self.wheel.next_expired(now.as_nanos(), budget, deadlines(&self.slots, &self.owns, &self.rules))
    }

    /// The live value for `key`, refreshing its idle deadline and telling
    /// the policy of the hit. An expired entry found here is removed.
    pub(crate) fn get<Q>(&mut self, hash: u64, key: &Q, now: Ticks, out: &mut DepartureList<K, V>) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let now = self.advance(now);
        let idx = self.find(hash, key)?;
        if self.is_expired(idx, now) {
            self.remove_at(idx, RemovalCause::Expired, out, true);
            return None;
        }
        let e = self.entry(idx);
        // User code first: if the Expiry panics, nothing changed.
        let own = self.own_deadlines.on_read(&e.key, &e.value, now, self.owns.get(idx));
        let refresh = self.rules.needs_refresh(now, e.last_access);
        if own.is_some() || refresh {
            if let Some(own) = own {
                self.owns.set(idx, own);
            }
            if refresh {
                self.entry_mut(idx).last_access = now;
            }
            self.refile(idx);
        }
        self.with_policy(out, |p| p.on_hit(u64::from(idx)));
        Some(&self.entry(idx).value)
    }

    /// The live value for `key`; changes nothing.
    pub(crate) fn peek<Q>(&self, hash: u64, key: &Q, now: Ticks) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let now = self.latest.at(now);
        let idx = self.find(hash, key)?;
        (!self.is_expired(idx, now)).then(|| &self.entry(idx).value)
    }

    /// `write` of weight 1 with no own time to live (tests).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, hash: u64, key: K, value: V, now: Ticks, out: &mut DepartureList<K, V>) {
        self.write(hash, key, value, 1, None, now, out);
    }

    /// Stores `value` under `key` (whose hash is `hash`) with its `weight`
    /// (the caller weighed it), with an own time to live `ttl` if given,
    /// after reclaiming a few expired entries (see `store_reclaim.rs`),
    /// then evicts until the capacity bound holds again: expired entries
    /// first, then the policy's victims.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        now: Ticks,
        out: &mut DepartureList<K, V>,
    ) where
        K: Eq,
    {
        let now = self.advance(now);
        self.reclaim_on_write(now, out);
        if self.max_weight.is_some_and(|max| u64::from(weight) > max) {
            self.refuse(hash, key, value, now, out);
            return;
        }
        let found = self.find(hash, &key);
        let previous = found.filter(|&idx| !self.is_expired(idx, now)).map(|idx| self.owns.get(idx));
        // The user's Expiry runs before the entry changes: if it panics,
        // the key's entry is as it was.
        let own = self.own_deadlines.on_write(&key, &value, now, ttl, previous);
        if let Some(idx) = found {
            let cause = self.departure(idx, now, RemovalCause::Replaced);
            let e = self.entry_mut(idx);
            let old = std::mem::replace(&mut e.value, value);
            e.last_access = now;
            e.inserted_at = Written::at(now);
            self.owns.set(idx, own);
            self.refile(idx);
            let old_weight = self.swap_weight(idx, weight);
            self.total_weight = self.total_weight - u64::from(old_weight) + u64::from(weight);
            // The stored key stays; the caller's equal key reports the removal.
            out.push((key, old, cause));
            self.with_policy(out, |p| p.on_hit(u64::from(idx)));
        } else {
            self.make_index_room();
            let entry = Entry::new(key, value, now);
            let idx = match self.free.pop() {
                Some(i) => {
                    self.slots[i as usize] = Some(entry);
                    i
                }
                None => {
                    let i = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                    assert!(i <= MAX_ID, "a mutex store holds at most {} entries", u64::from(MAX_ID) + 1);
                    self.slots.push(Some(entry));
                    i
                }
            };
            let (slots, hasher) = (&self.slots, &self.hasher);
            self.table.insert_unique(hash, idx, |&i| slots[i as usize].as_ref().map_or(0, |e| hasher.hash_one(&e.key)));
            self.owns.set(idx, own);
            self.refile(idx);
            self.swap_weight(idx, weight);
            self.total_weight += u64::from(weight);
            self.with_policy(out, |p| p.on_insert(u64::from(idx), hash));
        }
        self.enforce_capacity(now, out);
    }

    /// An entry heavier than the whole capacity can never fit: it is
    /// reported as evicted at once and nothing else is evicted for it. An
    /// older value under the key is removed too (the caller overwrote it).
    fn refuse(&mut self, hash: u64, key: K, value: V, now: Ticks, out: &mut DepartureList<K, V>) {
        if let Some(idx) = self.find(hash, &key) {
            let cause = self.departure(idx, now, RemovalCause::Replaced);
            self.remove_at(idx, cause, out, true);
        }
        out.push((key, value, RemovalCause::Capacity));
    }

    /// Removes `key`; returns its value if it was live. The removal (as
    /// `Explicit`, or `Expired` if it was past its deadline) goes to `out`.
    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q, now: Ticks, out: &mut DepartureList<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        V: Clone,
    {
        let now = self.advance(now);
        let idx = self.find(hash, key)?;
        let cause = self.departure(idx, now, RemovalCause::Explicit);
        let live = (cause == RemovalCause::Explicit).then(|| self.entry(idx).value.clone());
        self.remove_at(idx, cause, out, true);
        live
    }

    /// Removes the expired entries the wheel has due, visiting at most
    /// `limit` due entries; returns how many it removed and whether more
    /// are due.
    pub(crate) fn purge_expired(&mut self, now: Ticks, limit: usize, out: &mut DepartureList<K, V>) -> (usize, bool) {
        let now = self.advance(now);
        let mut expired = Vec::new();
        // The batch stays filed until each is removed (see `next_expired`).
        self.wheel.expired(
            now.as_nanos(),
            &mut { limit },
            deadlines(&self.slots, &self.owns, &self.rules),
            &mut expired,
        );
        self.remove_batch(&expired, RemovalCause::Expired, out);
        (expired.len(), self.wheel.has_due())
    }

    /// Removes everything: `Expired` for entries past their deadline,
    /// `Cleared` for the rest.
    pub(crate) fn clear(&mut self, now: Ticks, out: &mut DepartureList<K, V>) {
        let now = self.advance(now);
        out.reserve(self.len());
        for (idx, slot) in (0..).zip(self.slots.drain(..)) {
            if let Some(e) = slot {
                let cause = e.departure(&self.rules, now, self.owns.get(idx), RemovalCause::Cleared);
                out.push((e.key, e.value, cause));
            }
        }
        self.owns.clear();
        self.free.clear();
        self.table.clear();
        self.wheel.clear();
        self.total_weight = 0;
        self.weights.clear();
        self.with_policy(out, |p| p.clear());
    }

    fn over_capacity(&self) -> bool {
        self.max_weight.is_some_and(|max| self.total_weight > max)
    }

    fn enforce_capacity(&mut self, now: Ticks, out: &mut DepartureList<K, V>) {
        while self.over_capacity() {
            // Every expired entry is on the wheel's due lists once it is
            // advanced to `now`, so this finds one if any is held. Its visits
            // to live entries refile them ahead of `now`: over an entry's
            // life, at most one per level it cascades through.
            if let Some(idx) = self.next_expired(now, &mut { usize::MAX }) {
                self.remove_at(idx, RemovalCause::Expired, out, true);
                continue;
            }
            let victim = match self.with_policy(out, |p| p.evict()) {
                Some(choice) => choice,
                None => self.fallback_victim().map(u64::from),
            };
            match victim {
                Some(id) => match u32::try_from(id) {
                    Ok(idx) if self.slots.get(idx as usize).is_some_and(Option::is_some) => {
                        self.remove_at(idx, RemovalCause::Capacity, out, false);
                    }
                    // A policy naming a non-resident id is a policy bug;
                    // stop rather than loop or corrupt the store.
                    _ => {
                        debug_assert!(false, "policy evicted unknown id {id}");
                        break;
                    }
                },
                None => break,
            }
        }
    }

    fn remove_at(&mut self, idx: u32, cause: RemovalCause, out: &mut DepartureList<K, V>, tell_policy: bool) {
        // The policy first, while the entry is still whole: if the call
        // panics the repair finds the entry resident.
        if tell_policy {
            self.with_policy(out, |p| p.on_remove(u64::from(idx)));
        }
        self.unindex(idx);
        self.vacate(idx, cause, out);
    }

    /// `remove_at` for a batch of distinct resident slots, telling the
    /// policy. Done in passes (the policy, then the hash table, then the
    /// slots) so that in a store larger than the caches the table probes,
    /// each a cache miss, overlap instead of waiting on one another. A
    /// policy panic in the first pass leaves every entry of the batch
    /// resident and filed, as `remove_at` would leave the one it was on.
    fn remove_batch(&mut self, batch: &[u32], cause: RemovalCause, out: &mut DepartureList<K, V>) {
        for &idx in batch {
            self.with_policy(out, |p| p.on_remove(u64::from(idx)));
        }
        for &idx in batch {
            self.unindex(idx);
        }
        for &idx in batch {
            self.vacate(idx, cause, out);
        }
    }

    /// Empties slot `idx` (already out of the policy and the table): its
    /// filing, weight and own deadline go, its entry goes to `out`.
    #[inline]
    fn vacate(&mut self, idx: u32, cause: RemovalCause, out: &mut DepartureList<K, V>) {
        self.wheel.unschedule(idx);
        let weight = self.swap_weight(idx, 0);
        self.owns.set(idx, Ticks::MAX);
        if let Some(e) = self.slots[idx as usize].take() {
            self.total_weight -= u64::from(weight);
            out.push((e.key, e.value, cause));
        }
        self.free.push(idx);
    }

    /// Records slot `idx`'s weight and returns the previous one (always 1
    /// without a weigher, when nothing is stored).
    fn swap_weight(&mut self, idx: u32, weight: u32) -> u32 {
        if !self.weighted {
            return 1;
        }
        let i = idx as usize;
        if self.weights.len() <= i {
            self.weights.resize(i + 1, 0);
        }
        std::mem::replace(&mut self.weights[i], weight)
    }

    /// Checks every structural invariant (tests only).
    #[cfg(test)]
    pub(crate) fn validate(&self) -> Result<(), String> {
        let live = self.slots.iter().filter(|s| s.is_some()).count();
        if live != self.table.len() {
            return Err(format!("{live} slots but {} indexed", self.table.len()));
        }
        let mut filed = vec![false; self.slots.len()];
        for (idx, start) in self.wheel.filed()? {
            let e =
                self.slots.get(idx as usize).and_then(Option::as_ref).ok_or(format!("wheel files empty slot {idx}"))?;
            if start > e.deadline(&self.rules, self.owns.get(idx)) {
                return Err(format!("slot {idx} filed from {start}, after its deadline"));
            }
            filed[idx as usize] = true;
        }
        if let Some(idx) = (0..self.slots.len()).find(|&i| self.slots[i].is_some() && !filed[i]) {
            return Err(format!("slot {idx} is not filed"));
        }
        if let Some(p) = &self.policy {
            p.validate()?;
            if p.len() != live {
                return Err(format!("policy tracks {} of {live}", p.len()));
            }
        }
        Ok(())
    }
}

/// Why a cache built without a bound cannot be given one later.
pub(crate) const NOT_BOUNDED: crate::BuildError =
    crate::BuildError::MissingSetting { what: "set_max_capacity", needs: "a max_capacity when the cache is built" };

#[cold]
fn unreachable_slot(idx: u32) -> ! {
    // Indexes come only from the table and the wheel, which are kept in step
    // with the slots; reaching this is a bug in this file.
    panic!("ttlkit store: slot {idx} is empty")
}

#[path = "store_entry.rs"]
mod entry;

#[path = "store_reclaim.rs"]
mod reclaim;

#[path = "store_index.rs"]
mod index;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

#[path = "store_repair.rs"]
mod repair;

#[cfg(test)]
#[path = "store_panic_tests.rs"]
mod panic_tests;
