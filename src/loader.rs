//! Single-flight loading: one `init` per missing key, however many callers,
//! sync or async.
//!
//! Every cache has one table of [`Flight`]s, keyed by its keys, for every
//! kind of caller: a sync and an async caller of the same key share one
//! load. The first caller to miss a key becomes the *leader*: it registers
//! a flight, and either runs `init` itself (sync) or parks its future in
//! the flight for every async caller to drive (see `flight.rs`); the
//! others wait for its outcome. A sync leader that panics publishes
//! "abandoned" from a drop guard, so a waiter leads a new attempt; a
//! leader's error is shared with the waiters (one `Arc<E>` in a
//! [`LoadError`]) and is not cached.
//!
//! Stats: the leader counts its `init` (started, then succeeded or failed,
//! and its time on the cache's clock); a waiter handed the leader's outcome
//! counts as coalesced, which takes back the miss its lookup counted (see
//! [`LoadRecorder`]).
//!
//! The leader holds a [`LoadTicket`] from before its last lookup until it
//! has stored: a write, remove or clear of the key meanwhile wins, and the
//! loaded value goes to the callers without being stored (see
//! `invalidation.rs`).
//!
//! A caller on the thread that runs the flight (a sync leader's `init`, or
//! an async load being polled) can only be `init` asking for its own key:
//! waiting would never end, so it gets [`LoadError::Recursive`].

use std::hash::Hash;
use std::time::Duration;

use hashbrown::HashMap;

use crate::clock::ClockSource;
use crate::flight::{Flight, Kind, Outcome, SharedError, Waited};
use crate::invalidation::{LoadTicket, Marks};
use crate::load_error::LoadError;
#[cfg(test)]
use crate::stats::StatsCounter;
use crate::stats::{LoadRecorder, LoadStart};
use crate::sync::{Arc, Mutex};

/// The in-flight loads and computes of one cache, keyed by the cache's keys.
pub(crate) struct Loader<K, V> {
    flights: Mutex<HashMap<K, Arc<Flight<V>>, crate::sync::RandomState>>,
    /// The tickets of loads in flight, which the cache's writes mark.
    marks: Arc<Marks>,
}

impl<K, V> Default for Loader<K, V> {
    fn default() -> Self {
        Loader { flights: Mutex::new(HashMap::default()), marks: Arc::new(Marks::default()) }
    }
}

impl<K, V> Drop for Loader<K, V> {
    /// The cache is gone: every flight left ends, so that a task driving an
    /// orphaned load wakes, finds no cache, and ends too (a load that never
    /// finishes would otherwise keep its task alive for ever).
    fn drop(&mut self) {
        let flights = std::mem::take(&mut *self.flights.lock());
        for flight in flights.into_values() {
            flight.publish(Outcome::Abandoned);
        }
    }
}

impl<K, V> Loader<K, V> {
    /// The tickets the cache's writes mark and its loads register with.
    pub(crate) fn marks(&self) -> &Marks {
        &self.marks
    }

    /// The same, for a ticket that outlives the caller's borrow.
    pub(crate) fn shared_marks(&self) -> &Arc<Marks> {
        &self.marks
    }
}

#[cfg(test)]
impl<K: Hash + Eq, V> Loader<K, V> {
    /// How many hold the flight of `key` (the map, its leader, then one per
    /// follower), or 0: lets tests wait until callers are waiting.
    pub(crate) fn holders(&self, key: &K) -> usize {
        self.flights.lock().get(key).map_or(0, Arc::strong_count)
    }
}

/// A caller's place in the flight of its key.
pub(crate) enum Joined<V> {
    /// It registered the flight: it runs (or parks) the load.
    Leader(Arc<Flight<V>>),
    /// Another caller's flight was there.
    Waiter(Arc<Flight<V>>),
}

impl<K: Hash + Eq + Clone, V> Loader<K, V> {
    /// Joins the flight of `key`, or registers a new one of `kind` (run on
    /// this thread if `sync`) and leads it.
    pub(crate) fn join(&self, key: &K, kind: Kind, sync: bool) -> Joined<V> {
        let mut flights = self.flights.lock();
        match flights.get(key) {
            Some(flight) => Joined::Waiter(Arc::clone(flight)),
            None => {
                let flight = Arc::new(Flight::new(kind, sync));
                flights.insert(key.clone(), Arc::clone(&flight));
                Joined::Leader(flight)
            }
        }
    }

    /// Unregisters `flight` (if it is still the one registered for `key`),
    /// then publishes its outcome: a caller arriving after the outcome is
    /// published starts a new flight (after finding the value, if one was
    /// stored).
    pub(crate) fn finish(&self, key: &K, flight: &Flight<V>, outcome: Outcome<V>) {
        {
            let mut flights = self.flights.lock();
            if flights.get(key).is_some_and(|f| std::ptr::eq(&**f, flight)) {
                flights.remove(key);
            }
        }
        flight.publish(outcome);
    }
}

/// What the cache lends the loader: a lookup, a ticket and a store, each of
/// which takes and releases the cache's own locks.
pub(crate) trait LoadTarget<K, V> {
    /// Looks the key up as a hit would (refreshing it), without counting
    /// stats (the Redis backend's; the front-end counts its own lookup).
    #[cfg_attr(not(any(test, feature = "redis")), allow(dead_code))]
    fn lookup(&self, key: &K) -> Option<V>;
    /// Registers a load of `key` (see [`Marks::register`]), then looks the
    /// key up as `lookup` does, arming the ticket inside the critical
    /// section of that lookup (the one the key's writes mark it in).
    fn begin(&self, key: &K) -> (LoadTicket<'_>, Option<V>);
    /// Stores a loaded value unless `ticket` was invalidated; returns
    /// whether it stored it.
    fn commit(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool;
    /// Where the loads count themselves.
    fn recorder(&self) -> LoadRecorder<'_>;
}

/// Publishes `Abandoned` if the leader unwinds (or, async, is dropped)
/// before publishing.
pub(crate) struct LeaderGuard<'a, K: Hash + Eq + Clone, V> {
    loader: &'a Loader<K, V>,
    key: &'a K,
    pub(crate) flight: Arc<Flight<V>>,
    published: bool,
}

impl<'a, K: Hash + Eq + Clone, V> LeaderGuard<'a, K, V> {
    pub(crate) fn new(loader: &'a Loader<K, V>, key: &'a K, flight: Arc<Flight<V>>) -> Self {
        LeaderGuard { loader, key, flight, published: false }
    }

    pub(crate) fn publish(mut self, outcome: Outcome<V>) {
        self.published = true;
        self.loader.finish(self.key, &self.flight, outcome);
    }

    /// Hands the flight over to its parked future: whoever drives it to the
    /// end publishes.
    pub(crate) fn hand_over(mut self) -> Arc<Flight<V>> {
        self.published = true;
        Arc::clone(&self.flight)
    }
}

impl<K: Hash + Eq + Clone, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if !self.published {
            self.loader.finish(self.key, &self.flight, Outcome::Abandoned);
        }
    }
}

/// How a caller of [`Loader::load_as`] waits and what it may be served.
pub(crate) struct How<'c, V> {
    pub(crate) kind: Kind,
    /// A value the caller may be served at once if another caller's load
    /// of the key is running (a value due for refresh, or a stale one).
    pub(crate) current: Option<V>,
    /// Stop waiting for another caller's load after this long on this
    /// clock.
    pub(crate) timeout: Option<(Duration, &'c ClockSource)>,
    /// Load even if the leader's last lookup finds a live value (a
    /// refresh-ahead).
    pub(crate) reload: bool,
}

impl<V> Default for How<'_, V> {
    fn default() -> Self {
        How { kind: Kind::Load, current: None, timeout: None, reload: false }
    }
}

/// Where a load's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// This caller's `init`.
    Led,
    /// The cache: the leader's last lookup found it.
    Found,
    /// Another caller's load.
    Coalesced,
    /// The caller's `current` value, while another caller loads.
    Current,
}

/// A waiter's look at a finished flight: its result to return, or `None`
/// to look again.
pub(crate) fn outcome_for<V, E: Send + Sync + 'static>(
    flight: &Flight<V>,
    late: bool,
    outcome: Outcome<V>,
) -> Option<Result<V, LoadError<E>>> {
    if flight.kind == Kind::Compute {
        return None;
    }
    match outcome {
        // Look again: the retry re-checks the cache first.
        Outcome::Done(_) if late => None,
        Outcome::Done(v) => Some(Ok(v)),
        // The leader's error is of another type (another call site): this
        // caller tries its own init.
        Outcome::Failed(e) => e.downcast::<E>().ok().map(|e| Err(LoadError::new(e))),
        Outcome::Abandoned | Outcome::Running => None,
    }
}

impl<K, V> Loader<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    /// A whole `try_get_or_insert_with`: a lookup counted as a hit or a
    /// miss in `stats`, then, on a miss, [`load`](Self::load).
    #[cfg(test)]
    pub(crate) fn get_or_load<T, F, E>(
        &self,
        target: &T,
        stats: &StatsCounter,
        key: K,
        init: F,
    ) -> Result<V, LoadError<E>>
    where
        T: LoadTarget<K, V>,
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let found = target.lookup(&key);
        stats.lookup(found.is_some());
        match found {
            Some(v) => Ok(v),
            None => self.load(target, key, init).0,
        }
    }

    /// Returns the value for `key`: from the cache, from a load already in
    /// flight, or by running `init` as the leader. The caller has already
    /// looked the key up (and counted the miss). Also says whether the
    /// outcome was another caller's load (coalesced: counted, and the miss
    /// taken back, in the target's stats).
    #[cfg_attr(not(any(test, feature = "redis")), allow(dead_code))]
    pub(crate) fn load<T, F, E>(&self, target: &T, key: K, init: F) -> (Result<V, LoadError<E>>, bool)
    where
        T: LoadTarget<K, V>,
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let (result, served) = self.load_as(target, key, init, How::default());
        (result, served == Served::Coalesced)
    }

    /// [`load`](Self::load), as `how` says: a refresh reloads even if the
    /// leader's last lookup finds a value; a caller with a `current` value
    /// is served it at once when another caller is loading; a waiter gives
    /// up after `how.timeout`.
    pub(crate) fn load_as<T, F, E>(
        &self,
        target: &T,
        key: K,
        init: F,
        how: How<'_, V>,
    ) -> (Result<V, LoadError<E>>, Served)
    where
        T: LoadTarget<K, V>,
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let mut init = Some(init);
        let mut how = how;
        loop {
            let flight = match self.join(&key, how.kind, true) {
                Joined::Waiter(flight) => {
                    if let Some(v) = how.current.take() {
                        return (Ok(v), Served::Current);
                    }
                    if flight.runs_here() {
                        return (Err(LoadError::Recursive), Served::Led);
                    }
                    // Read after our own miss: if the value was stored
                    // before this, that miss means a write removed it since.
                    let late = flight.is_settled();
                    let limit = how.timeout.map(|(limit, clock)| (limit, clock, clock.now()));
                    match flight.wait(limit) {
                        Waited::TimedOut(waited) => return (Err(LoadError::TimedOut { waited }), Served::Led),
                        Waited::Outcome(outcome) => match outcome_for(&flight, late, outcome) {
                            Some(result) => {
                                target.recorder().coalesced();
                                return (result, Served::Coalesced);
                            }
                            None => continue,
                        },
                    }
                }
                Joined::Leader(flight) => flight,
            };
            let guard = LeaderGuard::new(self, &key, flight);
            // A flight that finished between our miss and our registration
            // may have stored the value already. That value is only read,
            // not loaded: a follower that joined after a write or remove of
            // it must not be handed it, so followers look again themselves.
            let (ticket, found) = target.begin(&key);
            if let Some(v) = found {
                if !how.reload {
                    guard.publish(Outcome::Abandoned);
                    return (Ok(v), Served::Found);
                }
            }
            let Some(init) = init.take() else {
                // Unreachable: a leader always returns. Publish and give up
                // the flight rather than panic.
                guard.publish(Outcome::Abandoned);
                continue;
            };
            let result = {
                // If init panics, the guard publishes Abandoned while
                // unwinding, and `counted` counts the failed load.
                let recorder = target.recorder();
                let counted =
                    InitCount { recorder, start: recorder.start_load(how.kind == Kind::Refresh), armed: true };
                let r = init();
                counted.finish(r.is_ok());
                r
            };
            let outcome = match result {
                Ok(v) => {
                    // Not stored if a write of the key came during `init`;
                    // the callers get the value all the same.
                    guard.flight.settle();
                    target.commit(key.clone(), v.clone(), &ticket);
                    guard.publish(Outcome::Done(v.clone()));
                    Ok(v)
                }
                Err(e) => {
                    let e = Arc::new(e);
                    guard.publish(Outcome::Failed(Arc::clone(&e) as SharedError));
                    Err(LoadError::new(e))
                }
            };
            return (outcome, Served::Led);
        }
    }
}

/// Counts the leader's `init` as finished: by `finish`, or as failed if
/// `init` unwinds.
pub(crate) struct InitCount<'a> {
    pub(crate) recorder: LoadRecorder<'a>,
    pub(crate) start: LoadStart,
    pub(crate) armed: bool,
}

impl InitCount<'_> {
    pub(crate) fn finish(mut self, ok: bool) {
        self.armed = false;
        self.recorder.finish(self.start, ok);
    }
}

impl Drop for InitCount<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.recorder.finish(self.start, false);
        }
    }
}

#[cfg(test)]
#[path = "loader_tests.rs"]
mod tests;
