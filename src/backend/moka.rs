//! The `moka` backend: [`MokaCache`] maps the ttlkit contract onto
//! [`moka::sync::Cache`], and closes the places where moka's semantics differ.
//!
//! moka stores an `Arc<Slot>` per key: the user's key and value plus our own
//! stamps (`inserted_at`, `last_access`). moka keeps the map, the concurrency,
//! the capacity bound with its eviction policy, single-flight loads and the
//! real-time expiry backstop; the wrapper keeps time, decides expiry and
//! reports removals.
//!
//! # Where moka differs, and how the wrapper closes the gap
//!
//! * **No injectable clock** (moka issue 522: moka's clock is a test-only
//!   setting). Every read checks our stamps with the [`Clock`](crate::Clock)
//!   of the [`Config`], so an expired entry is never returned under any clock,
//!   `MockClock` included. moka's own `time_to_idle`/`time_to_live` are set
//!   (one millisecond longer than ours) only when the clock is the
//!   [`SystemClock`](crate::SystemClock), as a real-time backstop that lets
//!   moka reclaim entries during its own maintenance; under any other clock
//!   real time means nothing to the cache, so moka's expiry is off.
//! * **moka's timer wheels cannot find *our* expired entries**, so the wrapper
//!   keeps its own deadline queues (a min-heap per write stripe, see
//!   `deadlines.rs`): purging pops due items only, never scans the map.
//! * **No background thread** (moka issues 349, 379, 544: expired entries
//!   linger and listeners stay silent until the cache is touched). Our
//!   sweeper thread drives it: each batch purges the entries our stamps
//!   say are expired (at most 256 per stripe lock hold) and then runs moka's
//!   `run_pending_tasks` (capacity evictions, moka's own expiry), then
//!   delivers the removals to the listener. Dropping the last handle stops
//!   and joins it.
//! * **Removal causes.** moka reports `Explicit` for everything removed by
//!   `remove`/`invalidate`, including entries we purge as expired or remove
//!   in `clear`, and `Replaced`/`Size` even for entries our stamps say are
//!   expired. Each slot records its cause once (first decision wins): the
//!   wrapper decides `Expired` or `Cleared` just before asking moka to drop
//!   the entry, and the removal hook otherwise maps moka's cause one to one
//!   (`Expired` → `Expired`, `Size` → `Capacity`, `Explicit` → `Explicit`,
//!   `Replaced` → `Replaced`), except that an entry past its deadline by our
//!   stamps is always reported `Expired`. A per-slot flag makes the hook
//!   idempotent, so every entry is counted and reported exactly once.
//! * **moka calls its listener while holding its own locks** (a key lock,
//!   maintenance locks) and disables a listener that panics. Our hook only
//!   queues the removal; the queue is delivered to the user's listener after
//!   the operation returns from moka, with no lock held, and a panicking
//!   listener is contained by ttlkit. A removal moka makes inside another
//!   thread's call is delivered by the next operation (or sweep) to look.
//! * **`clear`.** moka's `invalidate_all` is lazy and reports `Explicit`.
//!   `clear` instead walks moka's iterator and removes each entry (reported
//!   `Cleared`, or `Expired` if past its deadline). Like moka's iterator it
//!   is weakly consistent: an entry inserted while `clear` runs may survive.
//! * **Conditional removal.** moka has no "remove this key only if it still
//!   holds this value" (its `and_compute_with` is not atomic with a plain
//!   `insert`). Purging an expired entry must never remove a newer value that
//!   raced in, so every write that can *add* a value for a key (insert, the
//!   store step of a load, the removals made by purge and `clear`) holds one
//!   of 64 striped locks chosen by the key's hash. Reads take no lock of ours.
//!   `remove` needs none (it removes whatever is there).
//! * **`peek` and `contains_key`** must read the slot to check our stamps,
//!   and moka's only public value read is `get`, which moka counts as an
//!   access: they do not refresh our deadline, but they do move the entry in
//!   moka's eviction order (and reset moka's real-time idle backstop).
//! * **Eviction policy.** moka brings its own: the builder's `lru` selects
//!   moka's LRU; every other policy name runs on moka's default TinyLFU
//!   (which may refuse to admit a new entry; that is reported `Capacity`).
//!   Policies from `ttlkit-strategies` are not plugged into moka.
//! * **Capacity bound.** moka evicts during maintenance, so between runs the
//!   cache may hold more than `max_capacity`. The wrapper tracks the exact
//!   held weight and, when an insert takes it above `max_capacity +
//!   max_capacity / 64`, first purges due expired entries (expired entries
//!   go first) and then runs moka's maintenance in the inserting thread. So
//!   the documented slack is `max_capacity / 64` (zero below 64), plus one
//!   entry per thread inserting at that moment.
//! * **`len()`** is our own exact count of the entries moka holds (moka's
//!   `entry_count` is eventually consistent), including expired entries not
//!   yet purged and entries moka has not run admission on yet.
//! * **Loads** use moka's `get_with`/`try_get_with` (single-flight; an error
//!   is shared with the waiting callers as `Arc<E>` and not cached; per its
//!   docs, when `init` panics only that caller gets the panic and a waiting
//!   caller restarts with its own `init`). A value moka hands back that our
//!   stamps say is expired is purged and the load retried.
//! * **Expiry precision**: as for every backend, a hit rewrites the access
//!   stamp only when it lags by more than the refresh granularity, so an entry
//!   may expire up to one granularity early, never late.

mod deadlines;
mod slot;

use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::mem;
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ::moka::notification::RemovalCause as MokaCause;
use ::moka::policy::EvictionPolicy;
use ttlkit_strategies::PolicyKind;

use self::deadlines::{Deadlines, Stripe};
use self::slot::{Judged, Seen, Slot};
use crate::builder::{BuildError, Config, FromConfig, Weigher};
use crate::cache::{CacheStats, RemovalCause, SlidingTtlCache};
use crate::clock::{ClockSource, Ticks};
use crate::expiry::ExpiryRules;
use crate::listener::{notify, RemovalListener, Removed};
use crate::stats::StatsCounter;
use crate::sweeper::{Sweep, Sweeper};
use crate::sync::{Arc, Mutex};

/// The number of write stripes (a power of two).
const STRIPES: usize = 64;
/// Entries purged per stripe lock hold.
const PURGE_BATCH: usize = 256;
/// Due entries of its own stripe an insert purges on the way.
const INSERT_PURGE: usize = 4;
/// How much longer than ours moka's real-time backstop deadlines are.
const BACKSTOP_MARGIN: Duration = Duration::from_millis(1);
/// Maintenance runs `purge_expired` allows moka to get back within bound.
const MAX_MAINTENANCE_RUNS: usize = 16;

/// Removals reported by moka, waiting for delivery: the slot and its cause.
type Pending<K, V> = Vec<(Arc<Slot<K, V>>, RemovalCause)>;

type Moka<K, V> = ::moka::sync::Cache<K, Arc<Slot<K, V>>, foldhash::fast::RandomState>;

/// A cache backed by [`moka::sync::Cache`], with ttlkit's clock, deadlines,
/// removal causes and sweeper. See the [module docs](self) for every place
/// where moka's semantics differ and how this wrapper closes the gap.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, MockClock, MokaCache, SlidingTtlCache};
///
/// let clock = MockClock::new();
/// let cache: MokaCache<&str, u32> =
///     CacheBuilder::new(Duration::from_secs(60)).clock(clock.clone()).build()?;
/// cache.insert("a", 1);
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(cache.get("a"), Some(1));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(cache.get("a"), None, "expired by ttlkit's clock, not moka's");
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub struct MokaCache<K, V> {
    inner: Arc<Inner<K, V>>,
    /// Shared by user handles only; the last one to drop stops the sweeper.
    sweeper: Option<Arc<Sweeper>>,
}

/// What moka's removal hook shares with the cache (no cycle: the hook lives
/// inside moka, which lives in [`Inner`]).
struct Shared<K, V> {
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

struct Inner<K, V> {
    moka: Moka<K, V>,
    shared: Arc<Shared<K, V>>,
    stripes: Box<[Stripe<K, V>]>,
    hasher: foldhash::fast::RandomState,
    max_capacity: Option<u64>,
    weigher: Option<Weigher<K, V>>,
    stats: StatsCounter,
    listener: Option<RemovalListener<K, V>>,
}

impl<K, V> Clone for MokaCache<K, V> {
    fn clone(&self) -> Self {
        MokaCache { inner: Arc::clone(&self.inner), sweeper: self.sweeper.clone() }
    }
}

impl<K, V> fmt::Debug for MokaCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MokaCache")
            .field("len", &self.inner.shared.len.load(Ordering::Relaxed))
            .field("sweeper", &self.sweeper.is_some())
            .finish_non_exhaustive()
    }
}

impl<K, V> Shared<K, V> {
    /// moka's eviction listener: settles the cause, updates the counts and
    /// queues the removal. Runs under moka's locks: takes none but the
    /// queue's own, calls no user code.
    fn on_removal(&self, slot: Arc<Slot<K, V>>, cause: MokaCause) {
        if !slot.mark_reported() {
            return;
        }
        let derived = match cause {
            MokaCause::Expired => RemovalCause::Expired,
            _ if slot.is_expired(self.clock.now(), &self.rules) => RemovalCause::Expired,
            MokaCause::Size => RemovalCause::Capacity,
            MokaCause::Replaced => RemovalCause::Replaced,
            MokaCause::Explicit => RemovalCause::Explicit,
        };
        let cause = if slot.try_settle(derived) {
            if cause == MokaCause::Expired {
                self.moka_expired.fetch_add(1, Ordering::Relaxed);
            }
            derived
        } else {
            slot.fate().unwrap_or(derived)
        };
        self.len.fetch_sub(1, Ordering::AcqRel);
        self.weight.fetch_sub(u64::from(slot.weight), Ordering::AcqRel);
        self.pending.lock().push((slot, cause));
        self.has_pending.store(true, Ordering::Release);
    }
}

impl<K, V> FromConfig<K, V> for MokaCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn from_config(config: Config<K, V>) -> Result<Self, BuildError> {
        let backstop = matches!(config.clock, ClockSource::System(_));
        let shared = Arc::new(Shared {
            clock: config.clock,
            rules: config.rules,
            len: AtomicU64::new(0),
            weight: AtomicU64::new(0),
            moka_expired: AtomicU64::new(0),
            pending: Mutex::new(Vec::new()),
            has_pending: AtomicBool::new(false),
        });
        let hook = Arc::clone(&shared);
        let policy = match config.policy {
            PolicyKind::Lru => EvictionPolicy::lru(),
            // PolicyKind is non-exhaustive: anything else runs on TinyLFU.
            _ => EvictionPolicy::tiny_lfu(),
        };
        let mut builder = ::moka::sync::Cache::builder()
            .eviction_policy(policy)
            .eviction_listener(move |_key, slot, cause| hook.on_removal(slot, cause));
        if let Some(cap) = config.max_capacity {
            builder = builder.max_capacity(cap);
        }
        if config.weigher.is_some() {
            builder = builder.weigher(|_key, slot: &Arc<Slot<K, V>>| slot.weight);
        }
        if backstop {
            builder = builder.time_to_idle(config.time_to_idle + BACKSTOP_MARGIN);
            if let Some(life) = config.max_lifetime {
                builder = builder.time_to_live(life + BACKSTOP_MARGIN);
            }
        }
        let inner = Arc::new(Inner {
            moka: builder.build_with_hasher(foldhash::fast::RandomState::default()),
            shared,
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            max_capacity: config.max_capacity,
            weigher: config.weigher,
            stats: StatsCounter::default(),
            listener: config.listener,
        });
        let sweeper = match config.sweep_interval {
            Some(every) => {
                Some(Arc::new(Sweeper::start(Arc::downgrade(&inner), every).map_err(BuildError::SpawnSweeper)?))
            }
            None => None,
        };
        Ok(MokaCache { inner, sweeper })
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
    fn now(&self) -> Ticks {
        self.shared.clock.now()
    }

    fn rules(&self) -> &ExpiryRules {
        &self.shared.rules
    }

    fn stripe(&self, index: usize) -> impl DerefMut<Target = Deadlines<K, V>> + '_ {
        self.stripes[index & (STRIPES - 1)].0.lock()
    }

    fn new_slot(&self, key: K, value: V, now: Ticks) -> Arc<Slot<K, V>> {
        let weight = self.weigher.as_ref().map_or(1, |w| w(&key, &value));
        // Low bits pick the stripe; foldhash mixes them well.
        let stripe = (self.hasher.hash_one(&key) as usize) & (STRIPES - 1);
        Arc::new(Slot::new(key, value, now, weight, stripe))
    }

    /// Counts a slot about to enter moka and schedules its deadline. The
    /// caller holds the slot's stripe lock (`deadlines`).
    fn admit(&self, deadlines: &mut Deadlines<K, V>, slot: &Arc<Slot<K, V>>) {
        self.shared.len.fetch_add(1, Ordering::AcqRel);
        self.shared.weight.fetch_add(u64::from(slot.weight), Ordering::AcqRel);
        if let Some(at) = slot.deadline(self.rules()) {
            deadlines.push(at, slot);
        }
        self.stats.insert();
    }

    /// A read: the slot and whether it is live (refreshing it on a hit when
    /// `refresh`), or `None` if moka holds nothing.
    fn read<Q>(&self, key: &Q, refresh: bool) -> Option<(Arc<Slot<K, V>>, bool)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.moka.get(key)?;
        let live = matches!(slot.read(self.now(), self.rules(), refresh), Seen::Live);
        Some((slot, live))
    }

    /// A counted lookup's core: the live value, purging a stale entry.
    fn lookup<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = match self.read(key, true) {
            Some((slot, true)) => Some(slot.value.clone()),
            Some((slot, false)) => {
                self.purge_one(&slot);
                None
            }
            None => None,
        };
        self.deliver();
        value
    }

    /// Removes `slot` if our stamps say it is expired (taking its stripe).
    fn purge_one(&self, slot: &Arc<Slot<K, V>>) {
        let mut deadlines = self.stripe(slot.stripe);
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
                debug_assert!(removed.as_deref().map_or(true, |r| std::ptr::eq(r, slot)));
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
        (removed, deadlines.has_due(now))
    }

    /// Purges every entry due at `now`, one bounded batch per lock hold.
    fn purge_due(&self, now: Ticks) -> usize {
        let mut total = 0;
        for index in 0..STRIPES {
            loop {
                let (n, more) = self.purge_stripe(index, now, PURGE_BATCH);
                total += n;
                if !more {
                    break;
                }
                self.deliver();
            }
        }
        total
    }

    fn insert(&self, key: K, value: V) {
        let now = self.now();
        let slot = self.new_slot(key.clone(), value, now);
        {
            let mut deadlines = self.stripe(slot.stripe);
            for _ in 0..INSERT_PURGE {
                let Some(due) = deadlines.pop_due(now) else { break };
                if let Purge::LiveUntil(at) = self.purge_locked(&due, now) {
                    deadlines.push(at, &due);
                }
            }
            self.admit(&mut deadlines, &slot);
            // Reports the old value (Replaced, or Expired) synchronously.
            self.moka.insert(key, slot);
        }
        self.keep_bound();
        self.deliver();
    }

    /// The over-bound path of an insert: expired entries make room first,
    /// then moka's maintenance evicts by policy.
    fn keep_bound(&self) {
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

    /// Loads through moka's single-flight `try_get_with`.
    fn load<F, E>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let mut init = Some(init);
        loop {
            // The stripe lock taken after `init` succeeds is held until moka
            // has stored the value (see `purge_locked`).
            let mut held = None;
            let mut mine = false;
            let result = self.moka.try_get_with(key.clone(), || {
                let Some(init) = init.take() else {
                    // Each pass that runs this closure returns below.
                    unreachable!("a load's init runs at most once")
                };
                let failure = FailureCount { stats: &self.stats, armed: true };
                let outcome = init();
                failure.disarm();
                match outcome {
                    Ok(value) => {
                        let now = self.now();
                        let slot = self.new_slot(key.clone(), value, now);
                        let mut deadlines = self.stripe(slot.stripe);
                        self.admit(&mut deadlines, &slot);
                        held = Some(deadlines);
                        mine = true;
                        Ok(slot)
                    }
                    Err(e) => {
                        self.stats.load_failure();
                        Err(e)
                    }
                }
            });
            drop(held);
            match result {
                Ok(slot) if mine => {
                    self.keep_bound();
                    self.deliver();
                    return Ok(slot.value.clone());
                }
                Ok(slot) => match slot.read(self.now(), self.rules(), true) {
                    Seen::Live => {
                        self.deliver();
                        return Ok(slot.value.clone());
                    }
                    // Another caller's value, already past its deadline.
                    Seen::Expired => self.purge_one(&slot),
                },
                Err(e) => {
                    self.deliver();
                    return Err(e);
                }
            }
        }
    }

    /// Hands queued removals to the listener; call with no lock held.
    fn deliver(&self) {
        if !self.shared.has_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let batch = mem::take(&mut *self.shared.pending.lock());
        let removed: Vec<Removed<K, V>> = batch
            .into_iter()
            .map(|(slot, cause)| match Arc::try_unwrap(slot) {
                Ok(slot) => (slot.key, slot.value, cause),
                Err(slot) => (slot.key.clone(), slot.value.clone(), cause),
            })
            .collect();
        notify(self.listener.as_ref(), &self.stats, removed);
    }

    fn purge_all(&self) -> usize {
        let before = self.shared.moka_expired.load(Ordering::Acquire);
        let purged = self.purge_due(self.now());
        self.moka.run_pending_tasks();
        if let Some(cap) = self.max_capacity {
            for _ in 0..MAX_MAINTENANCE_RUNS {
                if self.shared.weight.load(Ordering::Acquire) <= cap {
                    break;
                }
                self.moka.run_pending_tasks();
            }
        }
        self.deliver();
        let by_moka = self.shared.moka_expired.load(Ordering::Acquire).saturating_sub(before);
        purged + usize::try_from(by_moka).unwrap_or(usize::MAX)
    }

    fn clear(&self) {
        let now = self.now();
        for (n, (_, slot)) in self.moka.iter().enumerate() {
            {
                let _stripe = self.stripe(slot.stripe);
                let cause =
                    if slot.is_expired(now, self.rules()) { RemovalCause::Expired } else { RemovalCause::Cleared };
                if slot.try_settle(cause) {
                    self.moka.remove(&slot.key);
                }
            }
            if n % PURGE_BATCH == PURGE_BATCH - 1 {
                self.deliver();
            }
        }
        // Reaps entries moka's backstop already expired (iter skips them).
        self.moka.run_pending_tasks();
        for index in 0..STRIPES {
            self.stripe(index).compact();
        }
        self.deliver();
    }
}

/// Counts a load failure if `init` unwinds.
struct FailureCount<'a> {
    stats: &'a StatsCounter,
    armed: bool,
}

impl FailureCount<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for FailureCount<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.stats.load_failure();
        }
    }
}

impl<K, V> Sweep for Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn sweep_batch(&self) -> bool {
        let now = self.now();
        let mut more = false;
        for index in 0..STRIPES {
            more |= self.purge_stripe(index, now, PURGE_BATCH).1;
        }
        self.moka.run_pending_tasks();
        self.deliver();
        more
    }
}

impl<K, V> SlidingTtlCache<K, V> for MokaCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn backend_name(&self) -> &'static str {
        "moka"
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.inner.lookup(key);
        self.inner.stats.lookup(value.is_some());
        value
    }

    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.inner.read(key, false) {
            Some((slot, true)) => Some(slot.value.clone()),
            _ => None,
        }
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        matches!(self.inner.read(key, false), Some((_, true)))
    }

    fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value);
    }

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        // moka reports the removal to our hook before `remove` returns; the
        // hook (or, failing that, this call) settles Explicit vs Expired.
        let value = inner.moka.remove(key).and_then(|slot| {
            let live = !slot.is_expired(inner.now(), inner.rules());
            let cause = slot.settle(if live { RemovalCause::Explicit } else { RemovalCause::Expired });
            (cause == RemovalCause::Explicit).then(|| slot.value.clone())
        });
        inner.deliver();
        value
    }

    fn get_or_insert_with<F>(&self, key: K, init: F) -> V
    where
        F: FnOnce() -> V,
    {
        match self.try_get_or_insert_with(key, || Ok::<V, Infallible>(init())) {
            Ok(v) => v,
            Err(never) => match *never {},
        }
    }

    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        if let Some(v) = self.inner.lookup(&key) {
            self.inner.stats.lookup(true);
            return Ok(v);
        }
        self.inner.stats.lookup(false);
        self.inner.load(key, init)
    }

    /// Our exact count of entries moka holds, including expired entries not
    /// yet purged and entries moka has not yet run admission on (see the
    /// [module docs](self)).
    fn len(&self) -> usize {
        usize::try_from(self.inner.shared.len.load(Ordering::Acquire)).unwrap_or(usize::MAX)
    }

    fn clear(&self) {
        self.inner.clear();
    }

    fn purge_expired(&self) -> usize {
        self.inner.purge_all()
    }

    fn stats(&self) -> CacheStats {
        self.inner.deliver();
        self.inner.stats.snapshot()
    }
}
