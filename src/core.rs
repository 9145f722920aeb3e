//! The extension point: a storage [`Core`] behind ttlkit's one front-end.
//!
//! [`Cache`](crate::Cache) is the only in-process implementation of
//! [`SlidingTtlCache`](crate::SlidingTtlCache). It owns everything that is
//! the same for every backend: hashing, the clock, statistics, delivery of
//! removals to the listener (outside every lock, even when the core
//! panicked), single-flight loading, the sweeps on the maintenance thread,
//! and the bookkeeping of loads versus writes. A core keeps only storage:
//! its map, its expiry index and its eviction. `MutexCache`, `ShardedCache`
//! and `MokaCache` are `Cache` over the three cores ttlkit ships; a crate of
//! yours can add a fourth by implementing [`Core`] and naming
//! `Cache<K, V, YourCore<K, V>>`.
//!
//! What a core promises (the conformance suite checks each):
//!
//! * **Expiry**: it never returns a value that [`ExpiryRules::is_expired`]
//!   says is expired at the `now` it was given, and it reports an entry that
//!   leaves past its deadline as [`RemovalCause::Expired`] whatever else
//!   removed it ([`ExpiryRules::departure`] decides).
//! * **Departures**: every entry that leaves is pushed to the operation's
//!   [`Departures`] exactly once, with its cause.
//! * **Gates**: every `upsert` and `remove` calls [`Gate::admits`] before
//!   its change (and makes none if refused), and every `read_for_load`,
//!   `upsert`, `remove` and `clear` calls [`Gate::after_change`] after it,
//!   both inside the critical section that orders the key's reads and
//!   writes.
//! * **Capacity**: an upsert that takes the weight over the bound removes
//!   expired entries first, then victims of its policy, before it returns.
//!
//! ```
//! # use std::borrow::Borrow;
//! # use std::collections::HashMap;
//! # use std::hash::Hash;
//! # use std::sync::Mutex;
//! use std::time::Duration;
//! use ttlkit::core::{Core, Departures, ExpiryRules, Gate, OwnDeadlines};
//! use ttlkit::{BuildError, Cache, CacheBuilder, RemovalCause, SlidingTtlCache};
//! use ttlkit::clock::Ticks;
//! use ttlkit::core::Config;
//!
//! /// No capacity bound, no index: the smallest core that is honest.
//! struct Tiny<K, V> {
//!     /// Value, last access, last write, own deadline.
//!     map: Mutex<HashMap<K, (V, Ticks, Ticks, Ticks)>>,
//!     rules: ExpiryRules,
//!     own: OwnDeadlines<K, V>,
//! }
//!
//! impl<K, V> Core<K, V> for Tiny<K, V>
//! where
//!     K: Hash + Eq + Clone + Send + Sync + 'static,
//!     V: Clone + Send + Sync + 'static,
//! {
//!     const NAME: &'static str = "tiny";
//!
//!     fn build(config: &Config<K, V>) -> Result<Self, BuildError> {
//!         if config.max_capacity().is_some() {
//!             return Err(BuildError::UnsupportedSetting { core: "tiny", setting: "max_capacity" });
//!         }
//!         Ok(Tiny { map: Mutex::new(HashMap::new()), rules: config.rules(), own: config.own_deadlines().clone() })
//!     }
//!
//!     fn read<Q>(&self, _: u64, key: &Q, now: Ticks, refresh: bool, out: &mut Departures<K, V>) -> Option<V>
//!     where
//!         K: Borrow<Q>,
//!         Q: Hash + Eq + ?Sized,
//!     {
//!         let mut map = self.map.lock().unwrap();
//!         let (stored, (value, last, born, own)) = map.get_key_value(key)?;
//!         if self.rules.is_expired(now, *last, *born, *own) {
//!             return None; // an expire pass reports it
//!         }
//!         let moved = if refresh { self.own.on_read(stored, value, now, *own) } else { None };
//!         let value = value.clone();
//!         if refresh {
//!             let (_, last, _, own) = map.get_mut(key)?;
//!             *last = (*last).max(now); // never backwards
//!             *own = moved.unwrap_or(*own);
//!         }
//!         Some(value)
//!     }
//!
//!     fn read_for_load(&self, hash: u64, key: &K, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V> {
//!         let map = self.map.lock().unwrap();
//!         let found = map.get(key).filter(|(_, last, born, own)| !self.rules.is_expired(now, *last, *born, *own));
//!         let found = found.map(|(value, ..)| value.clone());
//!         gate.after_change();
//!         found
//!     }
//!
//!     fn upsert(
//!         &self,
//!         _: u64,
//!         key: K,
//!         value: V,
//!         _weight: u32, // unbounded: weights do not matter
//!         ttl: Option<Duration>,
//!         now: Ticks,
//!         gate: &Gate<'_>,
//!         out: &mut Departures<K, V>,
//!     ) -> bool {
//!         let mut map = self.map.lock().unwrap();
//!         if !gate.admits() {
//!             return false;
//!         }
//!         let live = |&(_, last, born, own): &(V, Ticks, Ticks, Ticks)| !self.rules.is_expired(now, last, born, own);
//!         let previous = map.get(&key).filter(|e| live(e)).map(|e| e.3);
//!         let own = self.own.on_write(&key, &value, now, ttl, previous);
//!         if let Some((old, last, born, was)) = map.insert(key.clone(), (value, now, now, own)) {
//!             out.push(key, old, self.rules.departure(now, last, born, was, RemovalCause::Replaced));
//!         }
//!         gate.after_change();
//!         true
//!     }
//!
//!     fn remove<Q>(&self, _: u64, key: &Q, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>
//!     where
//!         K: Borrow<Q>,
//!         Q: Hash + Eq + ?Sized,
//!     {
//!         let mut map = self.map.lock().unwrap();
//!         if !gate.admits() {
//!             return None;
//!         }
//!         let removed = map.remove_entry(key);
//!         gate.after_change();
//!         let (key, (value, last, born, own)) = removed?;
//!         let cause = self.rules.departure(now, last, born, own, RemovalCause::Explicit);
//!         let live = (cause == RemovalCause::Explicit).then(|| value.clone());
//!         out.push(key, value, cause);
//!         live
//!     }
//!
//!     fn expire(&self, now: Ticks, budget: usize, out: &mut Departures<K, V>) -> (usize, bool) {
//!         let mut map = self.map.lock().unwrap();
//!         let due: Vec<K> = map
//!             .iter()
//!             .filter(|(_, (_, last, born, own))| self.rules.is_expired(now, *last, *born, *own))
//!             .map(|(key, _)| key.clone())
//!             .take(budget + 1)
//!             .collect();
//!         let (more, n) = (due.len() > budget, due.len().min(budget));
//!         for key in due.into_iter().take(n) {
//!             if let Some((key, (value, ..))) = map.remove_entry(&key) {
//!                 out.push(key, value, RemovalCause::Expired);
//!             }
//!         }
//!         (n, more)
//!     }
//!
//!     fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) {
//!         let mut map = self.map.lock().unwrap();
//!         for (key, (value, last, born, own)) in map.drain() {
//!             out.push(key, value, self.rules.departure(now, last, born, own, RemovalCause::Cleared));
//!         }
//!         gate.after_change();
//!     }
//!
//!     fn len(&self) -> usize {
//!         self.map.lock().unwrap().len()
//!     }
//!
//!     // Optional: `iter`, and `retain` through it (one `remove` per key).
//!     fn for_each_live(&self, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
//!         let map = self.map.lock().unwrap();
//!         for (key, (value, last, born, own)) in map.iter() {
//!             if !self.rules.is_expired(now, *last, *born, *own) {
//!                 f(key, value);
//!             }
//!         }
//!     }
//! }
//!
//! let cache: Cache<&str, u32, Tiny<&str, u32>> = CacheBuilder::new().time_to_idle(Duration::from_secs(60)).build()?;
//! cache.insert("a", 1);
//! assert_eq!(cache.get("a"), Some(1));
//! assert_eq!(cache.backend_name(), "tiny");
//! cache.insert("b", 2);
//! assert_eq!(cache.retain(|key, _| *key == "a"), 1);
//! assert_eq!(cache.iter().collect::<Vec<_>>(), vec![("a", 1)]);
//! let bounded = CacheBuilder::<&str, u32>::new().time_to_idle(Duration::from_secs(60)).max_capacity(10);
//! assert!(matches!(bounded.build::<Cache<_, _, Tiny<_, _>>>(), Err(BuildError::UnsupportedSetting { .. })));
//! # Ok::<(), BuildError>(())
//! ```

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::Duration;

use crate::builder::BuildError;
pub use crate::builder::{Config, FromConfig};
use crate::cache::RemovalCause;
use crate::clock::Ticks;
pub use crate::expiry::ExpiryRules;
pub use crate::inspect::Stamps;
pub use crate::invalidation::Gate;
use crate::listener::Removed;
pub use crate::per_entry::OwnDeadlines;
use smallvec::SmallVec;

/// The storage behind a [`Cache`](crate::Cache). See the [module docs](self)
/// for what the front-end does and what a core promises.
///
/// Every method gets the key's 64-bit hash (the front-end's: the same for
/// every call with the same key) and the time the front-end read from the
/// cache's clock. Two threads may read the clock in one order and reach the
/// core in the other, so a core never moves a stamp backwards ([`Latest`]
/// keeps a core's time monotonic under its lock).
///
/// ```
/// use ttlkit::backend::mutex::MutexCore;
/// use ttlkit::core::Core;
/// use ttlkit::prelude::*;
/// use ttlkit::Cache;
///
/// // A core is named by the front-end's third parameter; `MutexCache` is this.
/// let cache: Cache<u8, u8, MutexCore<u8, u8>> = CacheBuilder::new().build()?;
/// cache.insert(1, 1);
/// assert_eq!(cache.backend_name(), <MutexCore<u8, u8> as Core<u8, u8>>::NAME);
/// # Ok::<(), BuildError>(())
/// ```
pub trait Core<K, V>: Send + Sync + Sized + 'static {
    /// The name [`SlidingTtlCache::backend_name`](crate::SlidingTtlCache::backend_name) reports.
    const NAME: &'static str;

    /// Whether every `read` takes the lock that `upsert`, `remove` and
    /// `clear` hold while they call [`Gate::after_change`]. A core whose
    /// reads are lock-free leaves this `false` (then the gate fences).
    const READS_TAKE_THE_WRITE_LOCK: bool = false;

    /// Builds the core from a validated configuration.
    fn build(config: &Config<K, V>) -> Result<Self, BuildError>;

    /// The key's live value. With `refresh` (a hit: `get`), the read counts
    /// as an access: it refreshes the idle deadline and tells the policy.
    /// Without it (`peek`, `contains_key`), it changes nothing. A core may
    /// remove an expired entry it finds (pushing it to `out`) or leave it
    /// for [`expire`](Self::expire).
    fn read<Q>(&self, hash: u64, key: &Q, now: Ticks, refresh: bool, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// A load's last lookup: a `read` with `refresh`, that calls
    /// [`Gate::after_change`] inside the critical section writes of the key
    /// take.
    fn read_for_load(&self, hash: u64, key: &K, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>;

    /// Stores `value` under `key` unless [`Gate::admits`] refuses (then
    /// returns `false` and changes nothing). An older value leaves as
    /// `Replaced` (or `Expired`); an entry heavier than the whole bound is
    /// refused alone, as `Capacity`, and counts as stored.
    ///
    /// `weight` is the entry's weight under `max_capacity`, decided by the
    /// front-end before the call: the user's weigher's answer, or 1 when
    /// none is set ([`Config::weighted`] tells which, so a core without one
    /// need not store weights). A core never weighs an entry itself, so a
    /// weigher that panics does so before any core is touched.
    ///
    /// The entry's own deadline is
    /// [`OwnDeadlines::on_write`](crate::core::OwnDeadlines::on_write) of
    /// `ttl` (an explicit `insert_with_ttl` duration) and of the older
    /// entry's own deadline if it was live; every check of the entry's
    /// deadline passes it to [`ExpiryRules`]. A `read` with `refresh` moves
    /// it to what [`OwnDeadlines::on_read`](crate::core::OwnDeadlines::on_read) says.
    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        now: Ticks,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> bool;

    /// Removes the key's entry unless [`Gate::admits`] refuses (then
    /// returns `None` and changes nothing); returns its value if it was
    /// live. (An atomic compute removes through a gate that refuses when
    /// the key was written since the compute read it.)
    fn remove<Q>(&self, hash: u64, key: &Q, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized;

    /// Removes up to about `budget` entries expired at `now` (per lock
    /// hold); returns how many it removed and whether more are due.
    fn expire(&self, now: Ticks, budget: usize, out: &mut Departures<K, V>) -> (usize, bool);

    /// Removes every entry (`Cleared`, or `Expired` if past its deadline).
    /// A core that clears in parts, one lock at a time, passes each part
    /// [`Gate::narrowed`] to the keys it holds.
    fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>);

    /// Entries held, expired ones not yet removed included.
    fn len(&self) -> usize;

    /// Whether the core holds no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stamps and weight of the key's live entry at `now`, changing
    /// nothing (no stamp, no policy, no statistics). The default is `None`:
    /// a core that does not implement it makes
    /// [`SlidingTtlCache::entry_info`](crate::SlidingTtlCache::entry_info)
    /// answer `None`.
    fn inspect<Q>(&self, hash: u64, key: &Q, now: Ticks) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _ = (hash, key, now);
        None
    }

    /// Calls `f` on every entry live at `now`, changing nothing; a lock at a
    /// time is enough. `f` only clones (it never calls into the cache). The
    /// default calls it on none, so
    /// [`SlidingTtlCache::iter`](crate::SlidingTtlCache::iter) is empty.
    fn for_each_live(&self, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        let _ = (now, f);
    }

    /// Removes every entry live at `now` for which `keep` returns false (as
    /// `Explicit`), judging and removing each in one critical section, and
    /// calls [`Gate::after_change`] (a clear's gate) after the removals, in
    /// the same critical section (or [`Gate::narrowed`] per part, as
    /// `clear` does). Returns how many it removed, or `None` if the core
    /// does not implement it (the default): the front-end then judges what
    /// [`for_each_live`](Self::for_each_live) shows and removes each
    /// rejected key on its own, judged again so that a value written in
    /// between is never removed unseen.
    fn retain(
        &self,
        now: Ticks,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> Option<usize> {
        let _ = (now, keep, gate, out);
        None
    }

    /// Judges every entry by `rules` from now on (a new time-to-idle or
    /// time-to-live, applied to the stamps entries already have), safely
    /// while other threads use the core; returns whether it could. The
    /// default cannot (`false`: the front-end refuses the change).
    fn set_rules(&self, rules: ExpiryRules, now: Ticks) -> bool {
        let _ = (rules, now);
        false
    }

    /// Up to `n` live entries at `now` in the eviction policy's ranking:
    /// coldest first (the next victims), or with `hottest` the most
    /// protected first; changing nothing. `None` (the default) when the
    /// core cannot tell.
    fn ranked(&self, n: usize, now: Ticks, hottest: bool) -> Option<Vec<(K, V)>> {
        let _ = (n, now, hottest);
        None
    }

    /// Changes the capacity bound to `max` (never 0: the front-end refuses
    /// that) and, when it shrank, evicts down to it before returning, as an
    /// insert would: expired entries first, then policy victims. Refuses
    /// with [`BuildError::MissingSetting`] when the core was built without
    /// a bound. The default refuses with [`BuildError::UnsupportedSetting`].
    fn set_max_capacity(&self, max: u64, now: Ticks, out: &mut Departures<K, V>) -> Result<(), BuildError> {
        let _ = (max, now, out);
        Err(BuildError::UnsupportedSetting { core: Self::NAME, setting: "set_max_capacity" })
    }

    /// The total weight held, expired entries not yet removed included. The
    /// default is [`len`](Self::len): every entry weighs 1.
    fn weighted_size(&self) -> u64 {
        self.len() as u64
    }

    /// Removals the core made on behalf of other threads and has not
    /// reported yet (the moka core's eviction hook). The front-end calls it
    /// before it reads the statistics.
    fn flush(&self, _out: &mut Departures<K, V>) {}
}

/// The latest time a core has seen, kept under the core's lock: the one
/// place a core stops time from going backwards. Two threads can read the
/// clock in one order and take the lock in the other, so a core that
/// stamps entries or keeps them in time order passes each `now` through
/// [`advance`](Self::advance) first.
///
/// ```
/// use ttlkit::core::Latest;
/// use ttlkit::clock::Ticks;
///
/// let mut latest = Latest::default();
/// assert_eq!(latest.advance(Ticks::from_nanos(7)), Ticks::from_nanos(7));
/// assert_eq!(latest.advance(Ticks::from_nanos(5)), Ticks::from_nanos(7), "a late arrival sees 7");
/// assert_eq!(latest.at(Ticks::from_nanos(6)), Ticks::from_nanos(7));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latest(Ticks);

impl Latest {
    /// Records `now` if it is later than anything seen; returns the time to use.
    #[inline]
    pub fn advance(&mut self, now: Ticks) -> Ticks {
        self.0 = self.0.max(now);
        self.0
    }

    /// The time to use at `now`, without recording it (for a read that
    /// holds the lock shared).
    #[inline]
    pub fn at(self, now: Ticks) -> Ticks {
        self.0.max(now)
    }

    /// The latest time recorded.
    #[inline]
    pub fn last(self) -> Ticks {
        self.0
    }
}

/// The entries that left a core during one operation, with their causes.
/// The front-end counts them and hands them to the listener once every
/// lock is released.
///
/// ```
/// use ttlkit::core::Departures;
///
/// // A core records what leaves in the `Departures` the front-end hands it.
/// fn evict_one(out: &mut Departures<String, u32>, key: String, value: u32) {
///     out.push(key, value, ttlkit::RemovalCause::Capacity);
/// }
/// # let _ = evict_one;
/// ```
pub struct Departures<K, V> {
    list: DepartureList<K, V>,
}

/// The list behind [`Departures`]. Most operations remove at most one
/// entry (a write that evicts one), so one departure is kept inline: the
/// common write pays no allocation for its list.
pub(crate) type DepartureList<K, V> = SmallVec<[Removed<K, V>; 1]>;

impl<K, V> Departures<K, V> {
    pub(crate) fn new() -> Self {
        Departures { list: DepartureList::new() }
    }

    /// Records one departure.
    #[inline]
    pub fn push(&mut self, key: K, value: V, cause: RemovalCause) {
        self.list.push((key, value, cause));
    }

    /// Departures recorded so far.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is recorded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The list the in-crate cores fill directly.
    pub(crate) fn list(&mut self) -> &mut DepartureList<K, V> {
        &mut self.list
    }

    pub(crate) fn take(&mut self) -> DepartureList<K, V> {
        std::mem::take(&mut self.list)
    }
}

impl<K, V> std::fmt::Debug for Departures<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Departures").field("len", &self.list.len()).finish()
    }
}
