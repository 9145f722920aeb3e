//! One shard: a lock-free-read [`Table`] plus the writer state behind the
//! shard lock (ids, the timer wheel, the eviction policy, weights).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::Ordering;
use std::time::Duration;

use ttlkit_strategies::EvictionPolicy;

use super::entry::{Entry, Read};
use super::ptr::{Entries, Pin};
use super::table::{Current, Probe, Table};
use super::weight::Ledger;
use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::core::DepartureList;
use crate::core::Latest;
use crate::expiry::LiveRules;
use crate::invalidation::Gate;
use crate::per_entry::OwnDeadlines;
use crate::sync::reclaim::{Graveyard, Guard};
use crate::sync::{AtomicU64, AtomicUsize, Mutex};
use crate::timer_wheel::{TimerWheel, MAX_ID};

mod inspect;
mod room;

/// How many times a lock-free read looks again after finding an entry a
/// writer removed meanwhile (an overwrite publishes a new entry, so a
/// reader racing one sees the old flagged removed and looks again). Past
/// this many, the read gives up and reports a miss, even if the key is
/// present by then: a bounded read under a pathological stream of
/// overwrites of one key, at the price of a spurious miss.
const READ_RETRIES: usize = 8;

/// Entries a write visits, at most, to reclaim its shard's expired ones.
const RECLAIM_PER_WRITE: usize = 8;

/// What every shard of one cache shares: its settings and its total weight.
pub(crate) struct Settings<K, V> {
    pub(crate) rules: LiveRules,
    pub(crate) own: OwnDeadlines<K, V>,
    pub(crate) hasher: crate::sync::RandomState,
    /// Whether entries have weights of their own (a weigher is set; the
    /// front-end weighs them).
    pub(crate) weighted: bool,
    /// The capacity bound (total weight), `u64::MAX` for none (the same
    /// in effect as a bound of `u64::MAX`); `set_max_capacity` moves it.
    pub(crate) max_weight: AtomicU64,
    /// Whether it was built with a bound (and so runs policies).
    pub(crate) bounded: bool,
    /// Total weight held by all shards; changed only through a [`Ledger`],
    /// under the lock of the shard whose weight changed.
    pub(crate) total_weight: AtomicU64,
}

impl<K: Hash, V> Settings<K, V> {
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The capacity bound, if any.
    pub(crate) fn max_weight(&self) -> Option<u64> {
        Some(self.max_weight.load(Ordering::Relaxed)).filter(|&max| max != u64::MAX)
    }
}

/// The writer side of a shard.
struct State<K, V> {
    /// Entry of each id.
    entries: Entries<K, V>,
    /// Weight of each id (empty without a weigher: every entry weighs 1).
    weights: Vec<u32>,
    free_ids: Vec<u32>,
    /// Table slots not empty (entries and tombstones).
    used: usize,
    /// Every entry, filed under a lower bound of its deadline: hits move
    /// idle deadlines later without the lock, and the wheel meets such an
    /// entry at its old filing and files it again.
    wheel: TimerWheel,
    policy: Option<Box<dyn EvictionPolicy>>,
    latest: Latest,
}

/// A shard of the sharded backend. It is `Send` and `Sync` when `K` and
/// `V` are both: the entry pointers its table and id map hold say so (see
/// `ptr.rs`).
pub(crate) struct Shard<K, V> {
    table: Current<K, V>,
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

/// One critical section's context: the state behind the shard lock (so a
/// `Locked` cannot outlive the lock), the reclamation guard, the current
/// table (stable while the lock is held, since only its holder replaces
/// it) and the cache's settings.
struct Locked<'a, K, V> {
    shard: &'a Shard<K, V>,
    st: &'a mut State<K, V>,
    pin: &'a Pin<'a>,
    table: &'a Table<K, V>,
    s: &'a Settings<K, V>,
}

impl<K, V> Shard<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(policy: Option<Box<dyn EvictionPolicy>>) -> Self {
        Shard {
            table: Current::new(Table::with_room_for(0)),
            state: Mutex::new(State {
                entries: Entries::new(),
                weights: Vec::new(),
                free_ids: Vec::new(),
                used: 0,
                wheel: TimerWheel::default(),
                policy,
                latest: Latest::default(),
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
        let pin = self.graveyard.pin();
        let table = self.table.load_locked(&pin);
        (table.slots(), std::ptr::from_ref(table).addr())
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

    /// Files `id` in the wheel (again, if it was) and lowers the shard's
    /// due hint to match.
    fn schedule(&self, st: &mut State<K, V>, id: u32, deadline: Ticks) {
        st.wheel.schedule(id, deadline.as_nanos());
        self.next_due.fetch_min(deadline.as_nanos(), Ordering::Relaxed);
    }

    /// The lock-free read path: no lock, and no shared write unless the
    /// access stamp lags by more than the granularity or the reference bit
    /// is clear (or an `Expiry` moves the entry's own deadline; one that
    /// moves it earlier takes the lock to refile it).
    #[inline]
    pub(crate) fn read<Q>(&self, hash: u64, key: &Q, s: &Settings<K, V>, now: Ticks, refresh: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (found, sooner) = self.find_live(hash, key, s, now, refresh);
        if let Some(id) = sooner {
            self.refile(&mut self.state.lock(), s, id);
        }
        found
    }

    /// A read without the lock; also returns the id of an entry whose own
    /// deadline the read moved earlier (to be refiled).
    #[inline]
    fn find_live<Q>(
        &self,
        hash: u64,
        key: &Q,
        s: &Settings<K, V>,
        now: Ticks,
        refresh: bool,
    ) -> (Option<V>, Option<u32>)
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let _guard = self.graveyard.pin();
        // A removed entry means a writer overwrote or removed the key after
        // we found it: look again (a handful of times at most in practice).
        for _ in 0..READ_RETRIES {
            let table = self.table.load(&_guard);
            let Some(e) = table.find(hash, key) else { return (None, None) };
            match e.read(&s.rules.get(), &s.own, now, refresh) {
                Read::Live(v) => return (Some(v.clone()), None),
                Read::Sooner(v) => return (Some(v.clone()), Some(e.id)),
                Read::Expired => return (None, None),
                Read::Removed => continue,
            }
        }
        (None, None)
    }

    /// Files every entry again under its real deadline (after a timeout
    /// got shorter).
    pub(crate) fn refile_all(&self, s: &Settings<K, V>) {
        let mut st = self.state.lock();
        let rules = s.rules.get();
        let ids: Vec<u32> = st.entries.resident().collect();
        for id in ids {
            let deadline = st.entries.entry(id).deadline(&rules);
            st.wheel.schedule(id, deadline.as_nanos());
        }
        self.next_due.store(st.wheel.next_due(), Ordering::Relaxed);
    }

    /// Files `id` again under its entry's real deadline, if it is still
    /// resident (whatever entry holds the id now, its real deadline is a
    /// correct filing).
    fn refile(&self, st: &mut State<K, V>, s: &Settings<K, V>, id: u32) {
        if st.entries.is_resident(id) {
            let deadline = st.entries.entry(id).deadline(&s.rules.get());
            self.schedule(st, id, deadline);
        }
    }

    /// A read hit (refreshing) made under the shard lock, with `then` run
    /// before the lock is released: a load's last lookup, which must be
    /// ordered with the shard's writes (see `invalidation.rs`).
    pub(crate) fn read_locked(
        &self,
        hash: u64,
        key: &K,
        s: &Settings<K, V>,
        now: Ticks,
        then: impl FnOnce(),
    ) -> Option<V> {
        let mut st = self.state.lock();
        let (found, sooner) = self.find_live(hash, key, s, now, true);
        if let Some(id) = sooner {
            self.refile(&mut st, s, id);
        }
        then();
        found
    }

    /// Inserts or overwrites (an overwrite publishes a new entry) with the
    /// `weight` the front-end gave it, unless `gate` refuses; returns
    /// whether it stored. Then, if `evict_here` says so given the shard's
    /// and the cache's weight after the write, evicts the policy's victim
    /// before the lock is released.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn insert(
        &self,
        s: &Settings<K, V>,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        now: Ticks,
        out: &mut DepartureList<K, V>,
        gate: &Gate<'_>,
        evict_here: impl FnOnce(u64, u64) -> bool,
    ) -> bool {
        let weight = u64::from(weight);
        if s.max_weight().is_some_and(|max| weight > max) {
            return self.refuse(s, hash, key, value, now, out, gate);
        }
        let mut st = self.state.lock();
        if !gate.admits() {
            return false;
        }
        let mut ledger = self.ledger(s);
        let now = st.latest.advance(now);
        // Each write takes a few of its shard's expired entries with it, so
        // they do not pile up between sweeps, or with no sweeper at all.
        if self.may_have_expired(now) {
            self.expire_locked(&mut st, &mut ledger, s, now, RECLAIM_PER_WRITE, out);
        }
        let pin = self.graveyard.pin();
        let mut cx = self.locked(&mut st, &pin, s);
        match cx.table.probe(hash, &key) {
            Probe::Found(slot, old_e) => {
                let id = old_e.id;
                let cause = old_e.departure(&s.rules.get(), now, RemovalCause::Replaced);
                // User and policy code first: if it panics, nothing changed.
                let previous = (cause != RemovalCause::Expired).then(|| old_e.own());
                let own = s.own.on_write(&key, &value, now, ttl, previous);
                let report = (key.clone(), old_e.value.clone(), cause);
                if let Some(p) = cx.st.policy.as_mut() {
                    p.on_hit(u64::from(id));
                }
                out.push(report);
                // Publishes the new entry before flagging the old one, so a
                // reader that sees the flag and looks again finds the new;
                // then retires the old.
                cx.st.entries.overwrite(id, cx.table, slot, hash, Entry::new(key, value, now, own, id), cx.pin);
                let old_weight = cx.st.swap_weight(id, weight, s.weighted);
                ledger.add(weight);
                ledger.remove(old_weight);
                self.schedule(cx.st, id, s.rules.get().deadline(now, now, own));
            }
            Probe::Vacant(mut slot) => {
                if !cx.table.has_room(cx.st.used) {
                    cx.rebuild(1);
                    slot = match cx.table.probe(hash, &key) {
                        Probe::Vacant(i) => i,
                        Probe::Found(i, _) => i,
                    };
                }
                // The policy hears of the id before anything is published: if
                // it panics, the shard is as it was.
                let id = cx.st.next_id();
                let own = s.own.on_write(&key, &value, now, ttl, None);
                if let Some(p) = cx.st.policy.as_mut() {
                    p.on_insert(u64::from(id), hash);
                }
                cx.st.take_id(id);
                let fresh = cx.st.entries.insert(id, Entry::new(key, value, now, own, id));
                cx.st.swap_weight(id, weight, s.weighted);
                self.schedule(cx.st, id, s.rules.get().deadline(now, now, own));
                if cx.table.put(slot, hash, fresh) {
                    cx.st.used += 1;
                }
                self.len.fetch_add(1, Ordering::Relaxed);
                ledger.add(weight);
            }
        }
        gate.after_change();
        // A write that takes the shard over its share usually makes room
        // here, under the lock it already holds, rather than taking it again.
        // (An unbounded cache skips the two loads: it never evicts.)
        if s.bounded && evict_here(ledger.after(&self.weight), ledger.after(&s.total_weight)) {
            self.evict_locked(&mut st, &mut ledger, s, out);
        }
        true
    }

    /// The context of a critical section holding `st` (the locked state)
    /// and `pin`.
    fn locked<'a>(&'a self, st: &'a mut State<K, V>, pin: &'a Guard, s: &'a Settings<K, V>) -> Locked<'a, K, V> {
        let table = self.table.load_locked(pin);
        Locked { shard: self, st, pin, table, s }
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
        out: &mut DepartureList<K, V>,
        gate: &Gate<'_>,
    ) -> bool {
        let mut st = self.state.lock();
        if !gate.admits() {
            return false;
        }
        let mut ledger = self.ledger(s);
        let now = st.latest.advance(now);
        let pin = self.graveyard.pin();
        let mut cx = self.locked(&mut st, &pin, s);
        if let Probe::Found(slot, e) = cx.table.probe(hash, &key) {
            let cause = e.departure(&s.rules.get(), now, RemovalCause::Replaced);
            ledger.remove(cx.remove_at(Some(slot), e.id, cause, true, out));
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
        out: &mut DepartureList<K, V>,
        gate: &Gate<'_>,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut st = self.state.lock();
        if !gate.admits() {
            return None;
        }
        let mut ledger = self.ledger(s);
        let now = st.latest.advance(now);
        let pin = self.graveyard.pin();
        let mut cx = self.locked(&mut st, &pin, s);
        let Probe::Found(slot, e) = cx.table.probe(hash, key) else {
            gate.after_change();
            return None;
        };
        let cause = e.departure(&s.rules.get(), now, RemovalCause::Explicit);
        let value = (cause == RemovalCause::Explicit).then(|| e.value.clone());
        ledger.remove(cx.remove_at(Some(slot), e.id, cause, true, out));
        cx.shrink_if_sparse();
        gate.after_change();
        value
    }

    /// Removes everything; `gate` runs after.
    pub(crate) fn clear(&self, s: &Settings<K, V>, now: Ticks, out: &mut DepartureList<K, V>, gate: &Gate<'_>) {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        let now = st.latest.advance(now);
        let pin = self.graveyard.pin();
        let mut cx = self.locked(&mut st, &pin, s);
        let ids: Vec<u32> = cx.st.entries.resident().collect();
        for id in ids {
            let e = cx.st.entries.entry(id);
            let cause = e.departure(&s.rules.get(), now, RemovalCause::Cleared);
            ledger.remove(cx.remove_at(None, id, cause, true, out));
        }
        if let Some(p) = cx.st.policy.as_mut() {
            p.clear();
        }
        cx.shrink_if_sparse();
        gate.after_change();
    }

    /// Removes the live entries `keep` rejects (`Explicit`); `gate` runs
    /// after. Returns how many.
    pub(crate) fn retain(
        &self,
        s: &Settings<K, V>,
        now: Ticks,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        out: &mut DepartureList<K, V>,
        gate: &Gate<'_>,
    ) -> usize {
        let mut st = self.state.lock();
        let mut ledger = self.ledger(s);
        let now = st.latest.advance(now);
        let pin = self.graveyard.pin();
        let mut cx = self.locked(&mut st, &pin, s);
        let rejected: Vec<u32> = cx
            .st
            .entries
            .resident()
            .filter(|&id| {
                let e = cx.st.entries.entry(id);
                !e.is_expired(&s.rules.get(), now) && !keep(&e.key, &e.value)
            })
            .collect();
        for &id in &rejected {
            ledger.remove(cx.remove_at(None, id, RemovalCause::Explicit, true, out));
        }
        cx.shrink_if_sparse();
        gate.after_change();
        rejected.len()
    }
}

impl<K, V> Locked<'_, K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Replaces the table by a fresh one holding its live entries with room
    /// for `extra` more (at load at most 1/2, tombstones dropped), publishes
    /// it and retires the old one.
    fn rebuild(&mut self, extra: usize) {
        let live = self.shard.len();
        let s = self.s;
        let fresh = self.table.rebuilt(live, extra, |k| s.hash(k));
        self.table = self.shard.table.publish(fresh, self.pin);
        self.st.used = live;
    }

    /// After removals: rebuilds a table whose live entries fill less than
    /// 1/8 of it at a size for them (load 1/2). Growth waits for 3/4, so a
    /// shard hovering at either boundary does not rebuild on every write.
    fn shrink_if_sparse(&mut self) {
        if self.table.slots() > Table::<K, V>::MIN_SLOTS && self.shard.len() * 8 < self.table.slots() {
            self.rebuild(0);
        }
    }

    /// The table slot holding resident `id`'s entry (`None` if none does).
    fn slot_of(&self, id: u32) -> Option<usize> {
        let e = self.st.entries.entry(id);
        self.table.slot_of(self.s.hash(&e.key), e)
    }

    /// Unlinks entry `id` from the table (at `slot` if the caller found it
    /// already), the wheel and (if `tell_policy`) the policy, reports it and
    /// retires it; returns its weight, for the caller's [`Ledger`].
    fn remove_at(
        &mut self,
        slot: Option<usize>,
        id: u32,
        cause: RemovalCause,
        tell_policy: bool,
        out: &mut DepartureList<K, V>,
    ) -> u64 {
        // User code (hash, clone) and the policy first: if one panics, the
        // entry is still wholly in place.
        let slot = slot.or_else(|| self.slot_of(id));
        let st = &mut *self.st;
        let e = st.entries.entry(id);
        let report = (e.key.clone(), e.value.clone(), cause);
        if tell_policy {
            if let Some(pol) = st.policy.as_mut() {
                pol.on_remove(u64::from(id));
            }
        }
        st.used -= st.entries.unlink(id, self.table, slot, self.pin);
        st.wheel.unschedule(id);
        let weight = st.swap_weight(id, 0, self.s.weighted);
        st.free_ids.push(id);
        self.shard.len.fetch_sub(1, Ordering::Relaxed);
        out.push(report);
        weight
    }
}

impl<K, V> State<K, V> {
    /// The id the next entry gets (`take_id` takes it).
    fn next_id(&self) -> u32 {
        match self.free_ids.last() {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.entries.ids()).unwrap_or(u32::MAX);
                assert!(id <= MAX_ID, "a shard holds at most {} entries", u64::from(MAX_ID) + 1);
                id
            }
        }
    }

    /// Takes `id`, which `next_id` just returned.
    fn take_id(&mut self, id: u32) {
        if self.free_ids.last() == Some(&id) {
            self.free_ids.pop();
        } else {
            debug_assert_eq!(id as usize, self.entries.ids());
            self.entries.grow();
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
}

impl<K, V> Drop for Shard<K, V> {
    fn drop(&mut self) {
        // No handle is left, so no reader: the id map frees the resident
        // entries and `Current` the table when they drop (right after this).
        self.graveyard.pin().flush();
    }
}
