//! The moka backend's state and maintenance: moka itself, our counts and
//! removal queue (shared with moka's removal hook), the write stripes with
//! their deadline queues, and the purge and capacity paths (which policies
//! moka runs: `policy.rs`).

use std::borrow::Borrow;
use std::hash::Hash;
use std::mem;
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::moka::notification::RemovalCause as MokaCause;

use super::deadlines::{Deadlines, Stripe};
use super::policy::eviction_policy;
use super::slot::{Judged, Seen, Slot, MAX_STRIPES};
use crate::builder::{BuildError, Config};
use crate::cache::RemovalCause;
use crate::clock::{ClockSource, Ticks};
use crate::core::{Departures, Gate, Stamps};
use crate::expiry::ExpiryRules;
use crate::per_entry::OwnDeadlines;
use crate::sync::{Arc, Mutex};

/// The number of write stripes (a power of two).
const STRIPES: usize = 64;
const _: () = assert!(STRIPES <= MAX_STRIPES, "a slot keeps its stripe in a byte");
/// Entries purged per stripe lock hold outside a sweep (an insert's room).
const PURGE_BATCH: usize = crate::sweeper::BATCH;
/// Due entries of its own stripe an insert purges on the way.
const INSERT_PURGE: usize = 4;
/// How much longer than ours moka's real-time backstop deadlines are.
const BACKSTOP_MARGIN: Duration = Duration::from_millis(1);
/// Maintenance runs `purge_expired` allows moka to get back within bound.
const MAX_MAINTENANCE_RUNS: usize = 16;

/// Removals reported by moka, waiting for delivery: the slot and its cause.
type Pending<K, V> = Vec<(Arc<Slot<K, V>>, RemovalCause)>;

type Moka<K, V> = ::moka::sync::Cache<K, Arc<Slot<K, V>>, foldhash::fast::RandomState>;

/// What moka's removal hook shares with the cache (no cycle: the hook lives
/// inside moka, which lives in [`Inner`]).
pub(super) struct Shared<K, V> {
    clock: ClockSource,
    rules: ExpiryRules,
    /// Entries held (inserted and not yet reported removed).
    len: AtomicU64,
    /// Their total weight.
    weight: AtomicU64,
    /// Entries moka itself expired on its real-time backstop.
    moka_expired: AtomicU64,
    /// Removals waiting to be delivered outside moka's locks.
    pending: Mutex<Pending<K, V>>,
    has_pending: AtomicBool,
}

pub(super) struct Inner<K, V> {
    pub(super) moka: Moka<K, V>,
    pub(super) shared: Arc<Shared<K, V>>,
    stripes: Box<[Stripe<K, V>]>,
    max_capacity: Option<u64>,
    own: OwnDeadlines<K, V>,
}

impl<K, V> Shared<K, V> {
    /// moka's eviction listener: settles the cause, updates the counts and
    /// queues the removal. Runs under moka's locks: takes none but the
    /// queue's own, calls no user code.
    fn on_removal(&self, slot: Arc<Slot<K, V>>, cause: MokaCause) {
        if !slot.mark_reported() {
            return;
        }
        // A cause our code settled before asking moka to drop the entry
        // stands; otherwise map moka's, with our stamps overriding.
        let cause = match slot.fate() {
            Some(decided) => decided,
            None => {
                let otherwise = match cause {
                    MokaCause::Expired => RemovalCause::Expired,
                    MokaCause::Size => RemovalCause::Capacity,
                    MokaCause::Replaced => RemovalCause::Replaced,
                    MokaCause::Explicit => RemovalCause::Explicit,
                };
                let derived = slot.departure(self.clock.now(), &self.rules, otherwise);
                let won = slot.try_settle(derived);
                if won && cause == MokaCause::Expired {
                    self.moka_expired.fetch_add(1, Ordering::Relaxed);
                }
                slot.settle(derived)
            }
        };
        self.len.fetch_sub(1, Ordering::AcqRel);
        self.weight.fetch_sub(u64::from(slot.weight), Ordering::AcqRel);
        self.pending.lock().push((slot, cause));
        self.has_pending.store(true, Ordering::Release);
    }
}

impl<K, V> Inner<K, V> {
    /// Items in all deadline queues (live or not yet compacted).
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.stripes.iter().map(|s| s.0.lock().len()).sum()
    }

    /// Items all deadline queues have room for.
    #[cfg(test)]
    pub(super) fn queue_room(&self) -> usize {
        self.stripes.iter().map(|s| s.0.lock().room()).sum()
    }

    /// Entries held (see the module docs of [`super`]).
    pub(super) fn len(&self) -> usize {
        usize::try_from(self.shared.len.load(Ordering::Acquire)).unwrap_or(usize::MAX)
    }
}

/// Why purging one entry did not remove it.
enum Purge {
    Removed,
    /// Refreshed by a hit: live until then.
    LiveUntil(Ticks),
    /// It left (or is leaving) for another reason.
    Gone,
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Builds moka and our state around it from a validated config, or
    /// refuses a policy moka cannot run.
    pub(super) fn new(config: &Config<K, V>) -> Result<Self, BuildError> {
        let policy = eviction_policy(config.policy)?;
        let backstop = matches!(config.clock, ClockSource::System(_));
        let shared = Arc::new(Shared {
            clock: config.clock.clone(),
            rules: config.rules,
            len: AtomicU64::new(0),
            weight: AtomicU64::new(0),
            moka_expired: AtomicU64::new(0),
            pending: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
        });
        let hook = Arc::clone(&shared);
        let mut builder = ::moka::sync::Cache::builder()
            .eviction_policy(policy)
            .eviction_listener(move |_key, slot, cause| hook.on_removal(slot, cause));
        if let Some(cap) = config.max_capacity {
            builder = builder.max_capacity(cap);
        }
        if config.weighted() {
            builder = builder.weigher(|_key, slot: &Arc<Slot<K, V>>| slot.weight);
        }
        if backstop {
            if let Some(idle) = config.time_to_idle {
                builder = builder.time_to_idle(idle + BACKSTOP_MARGIN);
            }
            if let Some(life) = config.time_to_live {
                builder = builder.time_to_live(life + BACKSTOP_MARGIN);
            }
        }
        Ok(Inner {
            moka: builder.build_with_hasher(foldhash::fast::RandomState::default()),
            shared,
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            max_capacity: config.max_capacity,
            own: config.own.clone(),
        })
    }

    pub(super) fn now(&self) -> Ticks {
        self.shared.clock.now()
    }

    pub(super) fn rules(&self) -> &ExpiryRules {
        &self.shared.rules
    }

    pub(super) fn stripe(&self, index: usize) -> impl DerefMut<Target = Deadlines<K, V>> + '_ {
        self.stripes[index & (STRIPES - 1)].0.lock()
    }

    /// A slot for `key`, whose hash is `hash`, of the `weight` the
    /// front-end gave it.
    pub(super) fn new_slot(&self, hash: u64, key: K, value: V, weight: u32, now: Ticks) -> Arc<Slot<K, V>> {
        // Low bits pick the stripe; foldhash mixes them well.
        let stripe = (hash as usize) & (STRIPES - 1);
        Arc::new(Slot::new(key, value, now, weight, stripe))
    }

    /// Counts a slot about to enter moka and schedules its deadline. The
    /// caller holds the slot's stripe lock (`deadlines`).
    pub(super) fn admit(&self, deadlines: &mut Deadlines<K, V>, slot: &Arc<Slot<K, V>>) {
        self.shared.len.fetch_add(1, Ordering::AcqRel);
        self.shared.weight.fetch_add(u64::from(slot.weight), Ordering::AcqRel);
        if let Some(at) = slot.deadline(self.rules()) {
            deadlines.push(at, slot);
        }
    }

    /// A read: the slot and what the read saw (refreshing it on a hit when
    /// `refresh`), or `None` if moka holds nothing.
    pub(super) fn read<Q>(&self, key: &Q, refresh: bool, out: &mut Departures<K, V>) -> Option<(Arc<Slot<K, V>>, Seen)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.moka.get(key);
        // moka may run its maintenance inside a read; report what it
        // removed now, not at some later write (a plain load when idle).
        self.flush(out);
        let slot = slot?;
        let seen = slot.read(self.now(), self.rules(), &self.own, refresh);
        Some((slot, seen))
    }

    /// The live entry's stamps and weight (see `MokaCore::inspect`).
    pub(super) fn inspect<Q>(&self, key: &Q) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.moka.get(key)?.stamps(self.now(), self.rules())
    }

    /// Calls `f` on every live entry (moka's iterator records nothing).
    pub(super) fn for_each_live(&self, f: &mut dyn FnMut(&K, &V)) {
        let now = self.now();
        for (_, slot) in self.moka.iter() {
            if slot.stamps(now, self.rules()).is_some() {
                f(&slot.key, &slot.value);
            }
        }
    }

    /// Removes the live entries `keep` rejects (`Explicit`), each judged
    /// under its stripe; the gate (a clear's) runs first, as in `clear`.
    pub(super) fn retain(
        &self,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> usize {
        gate.after_change();
        let mut removed = 0;
        for (_, slot) in self.moka.iter() {
            let _stripe = self.stripe(slot.stripe());
            if slot.stamps(self.now(), self.rules()).is_some()
                && !keep(&slot.key, &slot.value)
                && slot.try_settle(RemovalCause::Explicit)
            {
                self.moka.remove(&slot.key);
                removed += 1;
            }
        }
        self.flush(out);
        removed
    }

    /// The weight held, by our count.
    pub(super) fn weighted_size(&self) -> u64 {
        self.shared.weight.load(Ordering::Acquire)
    }

    /// A counted lookup's core: the live value, purging a stale entry.
    pub(super) fn lookup<Q>(&self, key: &Q, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = match self.read(key, true, out) {
            Some((slot, Seen::Live)) => Some(slot.value.clone()),
            Some((slot, Seen::Sooner(at))) => {
                self.stripe(slot.stripe()).push(at, &slot);
                Some(slot.value.clone())
            }
            Some((slot, Seen::Expired)) => {
                self.purge_one(&slot);
                None
            }
            None => None,
        };
        self.flush(out);
        value
    }

    /// [`lookup`](Self::lookup) made while holding the stripe of `hash`,
    /// with `then` run before it is released.
    pub(super) fn lookup_in_stripe(
        &self,
        hash: u64,
        key: &K,
        then: impl FnOnce(),
        out: &mut Departures<K, V>,
    ) -> Option<V> {
        let value = {
            // Low bits pick the stripe, as in `new_slot`.
            let mut deadlines = self.stripe(hash as usize);
            let value = match self.read(key, true, out) {
                Some((slot, Seen::Live)) => Some(slot.value.clone()),
                Some((slot, Seen::Sooner(at))) => {
                    deadlines.push(at, &slot);
                    Some(slot.value.clone())
                }
                Some((slot, Seen::Expired)) => {
                    if let Purge::LiveUntil(at) = self.purge_locked(&slot, self.now()) {
                        deadlines.push(at, &slot);
                    }
                    None
                }
                None => None,
            };
            then();
            value
        };
        self.flush(out);
        value
    }

    /// Removes `slot` if our stamps say it is expired (taking its stripe).
    fn purge_one(&self, slot: &Arc<Slot<K, V>>) {
        let mut deadlines = self.stripe(slot.stripe());
        if let Purge::LiveUntil(at) = self.purge_locked(slot, self.now()) {
            deadlines.push(at, slot);
        }
    }

    /// Removes `slot` if expired at `now`. The caller holds its stripe, so
    /// no other value for the key can be stored meanwhile: while `slot` is
    /// unsettled it is the key's current value (or moka is evicting it right
    /// now), and `moka.remove` can only remove `slot` itself.
    fn purge_locked(&self, slot: &Slot<K, V>, now: Ticks) -> Purge {
        if slot.is_settled() {
            return Purge::Gone;
        }
        match slot.judge(now, self.rules()) {
            Judged::LiveUntil(at) => Purge::LiveUntil(at),
            Judged::Expired if slot.try_settle(RemovalCause::Expired) => {
                let removed = self.moka.remove(&slot.key);
                debug_assert!(removed.as_deref().is_none_or(|r| std::ptr::eq(r, slot)));
                Purge::Removed
            }
            Judged::Expired => Purge::Gone,
        }
    }

    /// Purges up to `max` due entries of one stripe; returns how many it
    /// removed and whether more are due.
    fn purge_stripe(&self, index: usize, now: Ticks, max: usize) -> (usize, bool) {
        let mut deadlines = self.stripe(index);
        let mut removed = 0;
        for _ in 0..max {
            let Some(slot) = deadlines.pop_due(now) else { break };
            match self.purge_locked(&slot, now) {
                Purge::Removed => removed += 1,
                Purge::LiveUntil(at) => deadlines.push(at, &slot),
                Purge::Gone => {}
            }
        }
        deadlines.shrink_if_sparse();
        (removed, deadlines.has_due(now))
    }

    /// An insert (or a load's store, as `gate` says): returns whether it
    /// stored.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn upsert(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> bool {
        let now = self.now();
        let slot = self.new_slot(hash, key.clone(), value, weight, now);
        if self.max_capacity.is_some_and(|cap| u64::from(slot.weight) > cap) {
            return self.refuse(slot, now, gate, out);
        }
        self.make_room_first(now);
        let stored = {
            // The key's writes mark its loads under this same stripe.
            let mut deadlines = self.stripe(slot.stripe());
            if gate.admits() {
                if ttl.is_some() || self.own.has_expiry() {
                    // Under the stripe, the old value cannot change meanwhile.
                    let previous = match ttl {
                        Some(_) => None,
                        None => self.moka.get(&key).and_then(|old| old.stamps(now, self.rules()).map(|_| old.own())),
                    };
                    slot.set_own(self.own.on_write(&slot.key, &slot.value, now, ttl, previous));
                }
                for _ in 0..INSERT_PURGE {
                    let Some(due) = deadlines.pop_due(now) else { break };
                    if let Purge::LiveUntil(at) = self.purge_locked(&due, now) {
                        deadlines.push(at, &due);
                    }
                }
                self.admit(&mut deadlines, &slot);
                // Reports the old value (Replaced, or Expired) synchronously.
                self.moka.insert(key, slot);
                gate.after_change();
                true
            } else {
                false
            }
        };
        if stored {
            self.keep_bound();
        }
        self.flush(out);
        stored
    }

    /// An entry heavier than the whole capacity can never fit. moka would
    /// take it and then evict every other entry for it (an update is never
    /// refused admission), so it never reaches moka: it is reported as
    /// evicted at once, and an older value under the key is removed
    /// (`Replaced`, or `Expired` by our stamps).
    fn refuse(&self, slot: Arc<Slot<K, V>>, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> bool {
        {
            // The key's stripe: no other value for it is stored meanwhile.
            let _deadlines = self.stripe(slot.stripe());
            if !gate.admits() {
                return false;
            }
            if let Some(old) = self.moka.get(&slot.key) {
                let cause = old.departure(now, self.rules(), RemovalCause::Replaced);
                if old.try_settle(cause) {
                    self.moka.remove(&slot.key);
                }
            }
            // A write all the same: a load in flight must not bring the
            // older value back.
            gate.after_change();
        }
        slot.settle(RemovalCause::Capacity);
        self.shared.pending.lock().push((slot, RemovalCause::Capacity));
        self.shared.has_pending.store(true, Ordering::Release);
        self.flush(out);
        true
    }

    /// Before an insert that would take the cache past its bound: removes
    /// expired entries and has moka apply those removals *before* it sees
    /// the new entry. Otherwise moka would process the insert first, find
    /// itself over capacity, and (TinyLFU) reject the newcomer or evict a
    /// live entry for room the expired ones were about to free.
    pub(super) fn make_room_first(&self, now: Ticks) {
        let Some(cap) = self.max_capacity else { return };
        if self.shared.weight.load(Ordering::Acquire) < cap {
            return;
        }
        let mut removed = 0;
        for index in 0..STRIPES {
            removed += self.purge_stripe(index, now, PURGE_BATCH).0;
            if self.shared.weight.load(Ordering::Acquire) < cap {
                break;
            }
        }
        if removed > 0 {
            self.moka.run_pending_tasks();
        }
    }

    /// The over-bound path of an insert: expired entries make room first,
    /// then moka's maintenance evicts by policy.
    pub(super) fn keep_bound(&self) {
        let Some(cap) = self.max_capacity else { return };
        let limit = cap.saturating_add(cap / 64);
        if self.shared.weight.load(Ordering::Acquire) <= limit {
            return;
        }
        let now = self.now();
        for index in 0..STRIPES {
            self.purge_stripe(index, now, PURGE_BATCH);
            if self.shared.weight.load(Ordering::Acquire) <= cap {
                return;
            }
        }
        if self.shared.weight.load(Ordering::Acquire) > limit {
            self.moka.run_pending_tasks();
        }
    }

    /// Removes the key's entry; its value if it was live.
    pub(super) fn remove<Q>(&self, hash: u64, key: &Q, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // moka reports the removal to our hook before `remove` returns; the
        // hook (or, failing that, this call) settles Explicit vs Expired.
        // The stripe is held only to order the removal with the key's loads.
        let removed = {
            let _stripe = self.stripe(hash as usize);
            if !gate.admits() {
                return None;
            }
            let removed = self.moka.remove(key);
            gate.after_change();
            removed
        };
        let value = removed.and_then(|slot| {
            let cause = slot.settle(slot.departure(self.now(), self.rules(), RemovalCause::Explicit));
            (cause == RemovalCause::Explicit).then(|| slot.value.clone())
        });
        self.flush(out);
        value
    }

    /// Moves the removals moka's hook queued (from any thread) to `out`.
    pub(super) fn flush(&self, out: &mut Departures<K, V>) {
        // A plain load first: the hit path must not write a shared line.
        if !self.shared.has_pending.load(Ordering::Acquire) || !self.shared.has_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let batch = mem::take(&mut *self.shared.pending.lock());
        for (slot, cause) in batch {
            match Arc::try_unwrap(slot) {
                Ok(slot) => out.push(slot.key, slot.value, cause),
                Err(slot) => out.push(slot.key.clone(), slot.value.clone(), cause),
            }
        }
    }

    /// A batch of expiry: up to `budget` due entries per stripe, then moka's
    /// maintenance (capacity evictions, its own real-time expiry), repeated
    /// while moka is over the bound. Returns the entries expired (ours and
    /// moka's) and whether more of ours are due.
    pub(super) fn expire(&self, now: Ticks, budget: usize, out: &mut Departures<K, V>) -> (usize, bool) {
        let before = self.shared.moka_expired.load(Ordering::Acquire);
        let (mut purged, mut more) = (0, false);
        for index in 0..STRIPES {
            let (n, left) = self.purge_stripe(index, now, budget);
            purged += n;
            more |= left;
        }
        self.moka.run_pending_tasks();
        if let Some(cap) = self.max_capacity {
            for _ in 0..MAX_MAINTENANCE_RUNS {
                if self.shared.weight.load(Ordering::Acquire) <= cap {
                    break;
                }
                self.moka.run_pending_tasks();
            }
        }
        self.flush(out);
        let by_moka = self.shared.moka_expired.load(Ordering::Acquire).saturating_sub(before);
        (purged + usize::try_from(by_moka).unwrap_or(usize::MAX), more)
    }

    pub(super) fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) {
        // Loads in flight now are marked before the walk. One that arms
        // (looks its key up) after this point and misses may store its value
        // during or after the walk: that key's clear came before its lookup,
        // as the walk, like moka's iterator, is per key, not one point.
        gate.after_change();
        for (_, slot) in self.moka.iter() {
            {
                let _stripe = self.stripe(slot.stripe());
                let cause = slot.departure(now, self.rules(), RemovalCause::Cleared);
                if slot.try_settle(cause) {
                    self.moka.remove(&slot.key);
                }
            }
        }
        // Reaps entries moka's backstop already expired (iter skips them).
        self.moka.run_pending_tasks();
        for index in 0..STRIPES {
            let mut stripe = self.stripe(index);
            stripe.compact();
        }
        self.flush(out);
    }
}
