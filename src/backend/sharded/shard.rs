//! One shard: a lock-free-read [`Table`] plus the writer state behind the
//! shard lock (ids, the timer wheel, the eviction policy, weights).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::Ordering;

use ttlkit_strategies::EvictionPolicy;

use super::entry::{Entry, Read};
use super::table::{Probe, Table};
use super::weight::Ledger;
use super::wheel::Wheel;
use crate::builder::Weigher;
use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::expiry::ExpiryRules;
use crate::invalidation::Gate;
use crate::listener::Removed;
use crate::sync::reclaim::{Graveyard, Guard};
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Mutex};

/// How many times a policy's victim may be spared for a hit it has not
/// heard of yet before the next victim is taken regardless.
const SECOND_CHANCES: usize = 16;

/// Entries a write visits, at most, to reclaim its shard's expired ones.
const RECLAIM_PER_WRITE: usize = 8;

/// What every shard of one cache shares: its settings and its total weight.
pub(crate) struct Settings<K, V> {
    pub(crate) rules: ExpiryRules,
    pub(crate) hasher: crate::sync::RandomState,
    pub(crate) weigher: Option<Weigher<K, V>>,
    /// The capacity bound (total weight), if any.
    pub(crate) max_weight: Option<u64>,
    /// Total weight held by all shards; changed only through a [`Ledger`],
    /// under the lock of the shard whose weight changed.
    pub(crate) total_weight: AtomicU64,
}

impl<K: Hash, V> Settings<K, V> {
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    fn weight(&self, key: &K, value: &V) -> u64 {
        self.weigher.as_ref().map_or(1, |w| u64::from(w(key, value)))
    }
}

/// The writer side of a shard.
struct State<K, V> {
    /// Entry of each id (null when the id is free).
    entries: Vec<*mut Entry<K, V>>,
    /// Weight of each id (empty without a weigher: every entry weighs 1).
    weights: Vec<u32>,
    free_ids: Vec<u32>,
    /// Table slots not empty (entries and tombstones).
    used: usize,
    wheel: Wheel,
    policy: Option<Box<dyn EvictionPolicy>>,
    latest: Ticks,
}

// SAFETY: the raw pointers are owned entries, touched only under the shard
// lock (or read by guarded readers, which needs `K, V: Sync`).
unsafe impl<K: Send + Sync, V: Send + Sync> Send for State<K, V> {}

/// A shard of the sharded backend.
pub(crate) struct Shard<K, V> {
    table: AtomicPtr<Table<K, V>>,
    state: Mutex<State<K, V>>,
    /// Entries held (expired or not); updated under the lock.
    len: AtomicUsize,
    /// Total weight held; updated under the lock.
    weight: AtomicU64,
    /// A lower bound of every deadline in the shard (nanoseconds): while
    /// `now` is below it nothing here can be expired, so capacity eviction
    /// can skip the shard without locking it.
    next_due: AtomicU64,
    graveyard: Graveyard,
}

// SAFETY: readers share `&Entry` across threads (needs `K, V: Sync`) and
// entries are freed on whichever thread retires them (needs `Send`).
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Shard<K, V> {}
// SAFETY: as above.
unsafe impl<K: Send + Sync, V: Send + Sync> Send for Shard<K, V> {}

impl<K, V> Shard<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(span_nanos: u64, policy: Option<Box<dyn EvictionPolicy>>) -> Self {
        Shard {
            table: AtomicPtr::new(Box::into_raw(Box::new(Table::with_room_for(0)))),
            state: Mutex::new(State {
                entries: Vec::new(),
                weights: Vec::new(),
                free_ids: Vec::new(),
                used: 0,
                wheel: Wheel::new(span_nanos, Ticks::ZERO),
                policy,
                latest: Ticks::ZERO,
            }),
            len: AtomicUsize::new(0),
            weight: AtomicU64::new(0),
            next_due: AtomicU64::new(u64::MAX),
            graveyard: Graveyard::default(),
        }
    }

    /// Swaps in another eviction policy (tests: one that panics on cue).
    #[cfg(test)]
    pub(crate) fn set_policy(&self, policy: Box<dyn EvictionPolicy>) {
        self.state.lock().policy = Some(policy);
    }

    /// The current table's slot count and address (tests: to see rebuilds).
    #[cfg(test)]
    pub(crate) fn table_shape(&self) -> (usize, usize) {
        let _st = self.state.lock();
        let table = self.table.load(Ordering::Acquire);
        // SAFETY: stable while we hold the lock (see `insert`).
        (unsafe { &*table }.slots(), table.addr())
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight.load(Ordering::Relaxed)
    }

    /// The weight accounting of one critical section (see `weight.rs`).
    fn ledger<'a>(&'a self, s: &'a Settings<K, V>) -> Ledger<'a> {
        Ledger::new(&self.weight, &s.total_weight)
    }

    /// Whether something in the shard may be expired at `now`.
    pub(crate) fn may_have_expired(&self, now: Ticks) -> bool {
        now.as_nanos() >= self.next_due.load(Ordering::Relaxed)
    }

    /// Files `id` in the wheel and lowers the shard's due hint to match.
    fn schedule(&self, st: &mut State<K, V>, id: u32, deadline: Ticks, fresh: bool) {
        if fresh {
            st.wheel.schedule(id, deadline);
        } else {
            st.wheel.reschedule(id, deadline);
        }
        self.next_due.fetch_min(deadline.as_nanos(), Ordering::Relaxed);
    }

    /// The lock-free read path: no lock, and no shared write unless the
    /// access stamp lags by more than the granularity or the reference bit
    /// is clear.
    #[inline]
    pub(crate) fn read<Q>(&self, hash: u64, key: &Q, rules: &ExpiryRules, now: Ticks, refresh: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let _guard = self.graveyard.pin();
        // A removed entry means a writer overwrote or removed the key after
        // we found it: look again (a handful of times at most in practice).
        for _ in 0..8 {
            // SAFETY: the table pointer is always a live table, retired only
            // through the graveyard while `_guard` pins us.
            let table = unsafe { &*self.table.load(Ordering::Acquire) };
            let p = table.find(hash, key)?;
            // SAFETY: `find` returns entries valid while the guard lives.
            let e = unsafe { &*p };
            match e.read(rules, now, refresh) {
                Read::Live(v) => return Some(v.clone()),
                Read::Expired => return None,
                Read::Removed => continue,
            }
        }
        None
    }

    /// A read hit (refreshing) made under the shard lock, with `then` run
    /// before the lock is released: a load's last lookup, which must be
    /// ordered with the shard's writes (see `invalidation.rs`).
    pub(crate) fn read_locked(
        &self,
        hash: u64,
        key: &K,
        rules: &ExpiryRules,
        now: Ticks,
        then: impl FnOnce(),
    ) -> Option<V> {
        let _writers = self.state.lock();
        let found = self.read(hash, key, rules, now, true);
        then();
        found
    }

    /// Inserts or overwrites (an overwrite publishes a new entry), unless
    /// `gate` refuses; returns whether it stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        s: &Settings<K, V>,
        hash: u64,
        key: K,
        value: V,
        now: Ticks,
        out: &mut Vec<Removed<K, V>>,
        gate: &Gate<'_>,
    ) -> bool {
        let weight = s.weight(&key, &value);
        if s.max_weight.is_some_and(|max| weight > max) {
            return self.refuse(s, hash, key, value, now, out, gate);
        }
        let mut st = self.state.lock();
        if !gate.admits() {
            return false;
        }
        let mut ledger = self.ledger(s);
        st.latest = st.latest.max(now);
        let now = st.latest;
        // Each write takes a few of its shard's expired entries with it, so
        // they do not pile up between sweeps, or with no sweeper at all.
        if self.may_have_expired(now) {
            self.expire_locked(&mut st, &mut ledger, s, now, RECLAIM_PER_WRITE, out);
        }
        let guard = self.graveyard.pin();
        // SAFETY: only writers (holding the lock, as we do) store the table
        // pointer, so it is stable for this critical section.
        let mut table = unsafe { &*self.table.load(Ordering::Relaxed) };
        match table.probe(hash, &key) {
            Probe::Found(slot, old) => {
                // SAFETY: a published entry; writers retire it only under
                // the lock we hold.
                let old_e = unsafe { &*old };
                let id = old_e.id;
                let expired = s.rules.is_expired(now, old_e.last_access(), old_e.inserted_at);
                let cause = if expired { RemovalCause::Expired } else { RemovalCause::Replaced };
                // User and policy code first: if it panics, nothing changed.
                let report = (key.clone(), old_e.value.clone(), cause);
                if let Some(p) = st.policy.as_mut() {
                    p.on_hit(u64::from(id));
                }
                out.push(report);
                let fresh = Box::into_raw(Box::new(Entry::new(key, value, now, id)));
                // Publish the new entry before flagging the old one, so a
                // reader that sees the flag and looks again finds the new.
                table.replace(slot, hash, fresh);
                old_e.mark_removed();
                st.entries[id as usize] = fresh;
                let old_weight = st.swap_weight(id, weight, s.weigher.is_some());
                ledger.add(weight);
                ledger.remove(old_weight);
                self.schedule(&mut st, id, s.rules.deadline(now, now), false);
                // SAFETY: unlinked above; readers still holding it are pinned.
                unsafe { guard.retire(old) };
            }
            Probe::Vacant(mut slot) => {
                if !table.has_room(st.used) {
                    table = self.rebuild(&mut st, &guard, s, table, 1);
                    slot = match table.probe(hash, &key) {
                        Probe::Vacant(i) => i,
                        Probe::Found(i, _) => i,
                    };
                }
                // The policy hears of the id before anything is published: if
                // it panics, the shard is as it was.
                let id = st.next_id();
                if let Some(p) = st.policy.as_mut() {
                    p.on_insert(u64::from(id), hash);
                }
                st.take_id(id);
                let fresh = Box::into_raw(Box::new(Entry::new(key, value, now, id)));
                st.entries[id as usize] = fresh;
                st.swap_weight(id, weight, s.weigher.is_some());
                self.schedule(&mut st, id, s.rules.deadline(now, now), true);
                if table.put(slot, hash, fresh) {
                    st.used += 1;
                }
                self.len.fetch_add(1, Ordering::Relaxed);
                ledger.add(weight);
            }
        }
        gate.after_change();
        true
    }

    /// Replaces `table` by a fresh one holding its live entries with room
    /// for `extra` more (at load at most 1/2, tombstones dropped), publishes
    /// it and retires the old one; returns the new one.
    fn rebuild<'t>(
        &'t self,
        st: &mut State<K, V>,
        guard: &Guard,
        s: &Settings<K, V>,
        table: &Table<K, V>,
        extra: usize,
    ) -> &'t Table<K, V> {
        let live = self.len();
        let fresh = Box::into_raw(Box::new(table.rebuilt(live, extra, |k| s.hash(k))));
        let old_table = self.table.swap(fresh, Ordering::AcqRel);
        // SAFETY: unpublished by the swap; guarded readers of it keep it
        // alive until they unpin.
        unsafe { guard.retire(old_table) };
        // A whole table is large: hand it to the collector now rather than
        // when this thread's garbage bag fills.
        guard.flush();
        st.used = live;
        // SAFETY: just published by us, under the lock; only writers replace it.
        unsafe { &*fresh }
    }

    /// After removals: rebuilds a table whose live entries fill less than
    /// 1/8 of it at a size for them (load 1/2). Growth waits for 3/4, so a
    /// shard hovering at either boundary does not rebuild on every write.
    fn shrink_if_sparse(&self, st: &mut State<K, V>, guard: &Guard, s: &Settings<K, V>) {
        // SAFETY: stable under the lock (see `insert`).
        let table = unsafe { &*self.table.load(Ordering::Relaxed) };
        if table.slots() > Table::<K, V>::MIN_SLOTS && self.len() * 8 < table.slots() {
            self.rebuild(st, guard, s, table, 0);
        }
    }

    /// Turns away an entry heavier than the whole capacity: it could never
    /// fit, and making room for it would only flush the cache. It is
    /// reported as evicted at once; an older value of its key leaves too, as
    /// replaced, so no later read returns that stale value. Returns false
    /// only when `gate` refuses the write (a load overtaken by a write).
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &self,
        s: &Settings<K, V>,
        hash: u64,
        key: K,
        value: V,
        now: Ticks,
        out: &mut Vec<Removed<K, V>>,
        gate: &Gate<'_>,
    ) -> bool {
        let mut st = self.state.lock();
        if !gate.admits() {
            return false;
        }
        let mut ledger = self.ledger(s);
        st.latest = st.latest.max(now);
        let now = st.latest;
        let guard = self.graveyard.pin();
        // SAFETY: stable under the lock (see `insert`).
        let table = unsafe { &*self.table.load(Ordering::Relaxed) };
        if let Probe::Found(slot, old) = table.probe(hash, &key) {
            // SAFETY: published entry, retired only under the lock we hold.
            let e = unsafe { &*old };
            let expired = s.rules.is_expired(now, e.last_access(), e.inserted_at);
            let cause = if expired { RemovalCause::Expired } else { RemovalCause::Replaced };
            ledger.remove(self.remove_at(&mut st, &guard, table, Some(slot), e.id, cause, true, s, out));
        }
        out.push((key, value, RemovalCause::Capacity));
        gate.after_change();
        true
    }

    /// Removes `key`; returns its value if it was live. `gate` runs after,
    /// whether or not the key was there.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn remove<Q>(
        &self,
        s: &Settings<K, V>,
        hash: u64,
        key: &Q,
        now: Ticks,
        out: &mut Vec<Removed<K, V>>,
        gate: &Gate<'_>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        st.latest = st.latest.max(now);
        let now = st.latest;
        let guard = self.graveyard.pin();
        // SAFETY: stable under the lock (see `insert`).
        let table = unsafe { &*self.table.load(Ordering::Relaxed) };
        let Probe::Found(slot, p) = table.probe(hash, key) else {
            gate.after_change();
            return None;
        };
        // SAFETY: published entry, retired only under the lock we hold.
        let e = unsafe { &*p };
        let live = !s.rules.is_expired(now, e.last_access(), e.inserted_at);
        let value = live.then(|| e.value.clone());
        let cause = if live { RemovalCause::Explicit } else { RemovalCause::Expired };
        ledger.remove(self.remove_at(&mut st, &guard, table, Some(slot), e.id, cause, true, s, out));
        self.shrink_if_sparse(&mut st, &guard, s);
        gate.after_change();
        value
    }

    /// Removes the expired entries the wheel has due, up to and including
    /// the bucket of `now` (so none is left behind), visiting at most
    /// `budget` entries; returns (removed, more pending).
    pub(crate) fn expire(
        &self,
        s: &Settings<K, V>,
        now: Ticks,
        budget: usize,
        out: &mut Vec<Removed<K, V>>,
    ) -> (usize, bool) {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        st.latest = st.latest.max(now);
        let now = st.latest;
        self.expire_locked(&mut st, &mut ledger, s, now, budget, out)
    }

    fn expire_locked(
        &self,
        st: &mut State<K, V>,
        ledger: &mut Ledger<'_>,
        s: &Settings<K, V>,
        now: Ticks,
        budget: usize,
        out: &mut Vec<Removed<K, V>>,
    ) -> (usize, bool) {
        let entries = &st.entries;
        let walk = st.wheel.walk(now, budget, |id| {
            // SAFETY: scheduled ids always name live entries (under the lock).
            unsafe { &*entries[id as usize] }.deadline(&s.rules)
        });
        self.next_due.store(st.wheel.next_due().as_nanos(), Ordering::Relaxed);
        if walk.expired.is_empty() {
            return (0, walk.more);
        }
        let guard = self.graveyard.pin();
        // SAFETY: stable under the lock (see `insert`).
        let table = unsafe { &*self.table.load(Ordering::Relaxed) };
        let mut done = 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            for &id in &walk.expired {
                ledger.remove(self.remove_at(st, &guard, table, None, id, RemovalCause::Expired, true, s, out));
                done += 1;
            }
        }));
        if let Err(panic) = outcome {
            // A policy panicked mid-batch. The wheel had already unfiled
            // the entries not yet removed: file them again, so the next
            // walk still finds them.
            for &id in &walk.expired[done..] {
                // SAFETY: not removed, so a live entry (under the lock).
                let deadline = unsafe { &*st.entries[id as usize] }.deadline(&s.rules);
                self.schedule(st, id, deadline, true);
            }
            resume_unwind(panic);
        }
        self.shrink_if_sparse(st, &guard, s);
        (walk.expired.len(), walk.more)
    }

    /// Makes room by removing the policy's victim (the caller has already
    /// looked for expired entries everywhere). Returns whether it removed one.
    pub(crate) fn evict_one(&self, s: &Settings<K, V>, out: &mut Vec<Removed<K, V>>) -> bool {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        let Some(id) = st.victim(s) else { return false };
        let guard = self.graveyard.pin();
        // SAFETY: stable under the lock (see `insert`).
        let table = unsafe { &*self.table.load(Ordering::Relaxed) };
        ledger.remove(self.remove_at(&mut st, &guard, table, None, id, RemovalCause::Capacity, false, s, out));
        true
    }

    /// Removes everything; `gate` runs after.
    pub(crate) fn clear(&self, s: &Settings<K, V>, now: Ticks, out: &mut Vec<Removed<K, V>>, gate: &Gate<'_>) {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        st.latest = st.latest.max(now);
        let now = st.latest;
        let guard = self.graveyard.pin();
        // SAFETY: stable under the lock (see `insert`).
        let table = unsafe { &*self.table.load(Ordering::Relaxed) };
        let ids: Vec<u32> =
            (0..st.entries.len()).filter(|&i| !st.entries[i].is_null()).filter_map(|i| u32::try_from(i).ok()).collect();
        for id in ids {
            // SAFETY: non-null ids name live entries (under the lock).
            let e = unsafe { &*st.entries[id as usize] };
            let expired = s.rules.is_expired(now, e.last_access(), e.inserted_at);
            let cause = if expired { RemovalCause::Expired } else { RemovalCause::Cleared };
            ledger.remove(self.remove_at(&mut st, &guard, table, None, id, cause, true, s, out));
        }
        if let Some(p) = st.policy.as_mut() {
            p.clear();
        }
        self.shrink_if_sparse(&mut st, &guard, s);
        gate.after_change();
    }

    /// Unlinks entry `id` from the table, the wheel and (if `tell_policy`)
    /// the policy, reports it and retires it; returns its weight, for the
    /// caller's [`Ledger`].
    #[allow(clippy::too_many_arguments)]
    fn remove_at(
        &self,
        st: &mut State<K, V>,
        guard: &Guard,
        table: &Table<K, V>,
        slot: Option<usize>,
        id: u32,
        cause: RemovalCause,
        tell_policy: bool,
        s: &Settings<K, V>,
        out: &mut Vec<Removed<K, V>>,
    ) -> u64 {
        let p = st.entries[id as usize];
        // SAFETY: ids map to live entries until this function retires them.
        let e = unsafe { &*p };
        // User code (clone, hash) and the policy first: if one panics, the
        // entry is still wholly in place.
        let report = (e.key.clone(), e.value.clone(), cause);
        let slot = slot.or_else(|| table.slot_of(s.hash(&e.key), p));
        if tell_policy {
            if let Some(pol) = st.policy.as_mut() {
                pol.on_remove(u64::from(id));
            }
        }
        st.entries[id as usize] = ptr::null_mut();
        e.mark_removed();
        if let Some(slot) = slot {
            table.vacate(slot);
        }
        st.wheel.unschedule(id);
        let weight = st.swap_weight(id, 0, s.weigher.is_some());
        st.free_ids.push(id);
        self.len.fetch_sub(1, Ordering::Relaxed);
        out.push(report);
        // SAFETY: unlinked from the table and from `entries`; readers that
        // found it earlier are pinned.
        unsafe { guard.retire(p) };
        weight
    }
}

impl<K, V> State<K, V> {
    /// The id the next entry gets (`take_id` takes it).
    fn next_id(&self) -> u32 {
        match self.free_ids.last() {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
                assert!(id != u32::MAX, "a shard holds at most u32::MAX - 1 entries");
                id
            }
        }
    }

    /// Takes `id`, which `next_id` just returned.
    fn take_id(&mut self, id: u32) {
        if self.free_ids.last() == Some(&id) {
            self.free_ids.pop();
        } else {
            debug_assert_eq!(id as usize, self.entries.len());
            self.entries.push(ptr::null_mut());
        }
    }

    /// Records `id`'s weight; returns the previous one. Without a weigher
    /// every entry weighs 1 and nothing is stored.
    fn swap_weight(&mut self, id: u32, weight: u64, weighed: bool) -> u64 {
        if !weighed {
            return 1;
        }
        let i = id as usize;
        if self.weights.len() <= i {
            self.weights.resize(i + 1, 0);
        }
        u64::from(std::mem::replace(&mut self.weights[i], u32::try_from(weight).unwrap_or(u32::MAX)))
    }

    /// The policy's victim. A reference-bit policy (CLOCK, SIEVE) reads the
    /// entries' bits itself; any other policy's victim that was hit since
    /// the policy last saw it gets a second chance: its bit is cleared and it
    /// goes back to the policy as if just inserted.
    fn victim(&mut self, s: &Settings<K, V>) -> Option<u32>
    where
        K: Hash,
    {
        let id = self.pick(s)?;
        // Only a resident id can be removed. A policy naming another (a bug,
        // or what a panic inside one left behind) makes no room.
        self.entries.get(id as usize).is_some_and(|p| !p.is_null()).then_some(id)
    }

    /// The policy's candidate victim, after second chances.
    fn pick(&mut self, s: &Settings<K, V>) -> Option<u32>
    where
        K: Hash,
    {
        let policy = self.policy.as_mut()?;
        if policy.reads_reference_bits() {
            let entries = &self.entries;
            let victim = policy.evict_with_bits(&mut |id| {
                let p = usize::try_from(id).ok().and_then(|i| entries.get(i)).copied().unwrap_or(ptr::null_mut());
                // SAFETY: the policy names resident ids, whose entries are
                // live (under the lock); a null is a policy bug, read as clear.
                !p.is_null() && unsafe { &*p }.take_referenced()
            })?;
            return u32::try_from(victim).ok();
        }
        for _ in 0..SECOND_CHANCES {
            let id = u32::try_from(policy.evict()?).ok()?;
            let p = self.entries.get(id as usize).copied().unwrap_or(ptr::null_mut());
            if p.is_null() {
                return None;
            }
            // SAFETY: a live entry (under the lock).
            let e = unsafe { &*p };
            if !e.take_referenced() {
                return Some(id);
            }
            policy.on_insert(u64::from(id), s.hash(&e.key));
        }
        u32::try_from(policy.evict()?).ok()
    }
}

impl<K, V> Drop for Shard<K, V> {
    fn drop(&mut self) {
        // No handle is left, so no reader: free everything directly.
        let mut st = self.state.lock();
        for &p in &st.entries {
            if !p.is_null() {
                // SAFETY: owned, live, and unreachable by any thread now.
                drop(unsafe { Box::from_raw(p) });
            }
        }
        st.entries.clear();
        let table = self.table.swap(ptr::null_mut(), Ordering::AcqRel);
        if !table.is_null() {
            // SAFETY: the current table is owned by the shard.
            drop(unsafe { Box::from_raw(table) });
        }
        self.graveyard.pin().flush();
    }
}
