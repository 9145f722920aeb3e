//! Single-flight loading: one `init` per missing key, however many callers.
//!
//! The first caller to miss a key becomes the *leader*: it registers a
//! [`Flight`] for the key, runs `init` with no cache lock held, stores the
//! value, then publishes the outcome to the *followers* that found the flight
//! and waited on it. A leader that panics publishes `Abandoned` from a drop
//! guard, so followers wake and one of them leads a new attempt; a leader's
//! error is shared with the followers (one `Arc<E>` in a [`LoadError`]) and
//! is not cached.
//!
//! Stats: the leader counts its `init` (started, then succeeded or failed,
//! and its time on the cache's clock); a follower handed the leader's
//! outcome counts as coalesced, which takes back the miss its lookup
//! counted (see [`LoadRecorder`]).
//!
//! The leader holds a [`LoadTicket`] from before its last lookup until it
//! has stored: a write, remove or clear of the key meanwhile wins, and the
//! loaded value goes to the callers without being stored (see
//! `invalidation.rs`).
//!
//! A caller on the leader's own thread that finds the flight can only be
//! `init` asking for its own key: waiting would never end, so it panics.

use std::any::Any;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::invalidation::{LoadTicket, Marks};
use crate::load_error::LoadError;
use crate::stats::{LoadRecorder, LoadStart, StatsCounter};
use crate::sync::{thread, AtomicU8, Condvar, Mutex};

#[cfg(ttlkit_loom)]
type ThreadId = loom::thread::ThreadId;
#[cfg(not(ttlkit_loom))]
type ThreadId = std::thread::ThreadId;

/// The panic of a load that would wait for itself.
pub(crate) const RECURSIVE_LOAD: &str = "ttlkit: recursive load of the same key on the loading thread \
     (`init` asked the cache for the key it is loading; it would wait for itself forever)";

type SharedError = Arc<dyn Any + Send + Sync>;

enum Outcome<V> {
    Running,
    Done(V),
    Failed(SharedError),
    Abandoned,
}

struct Flight<V> {
    outcome: Mutex<Outcome<V>>,
    done: Condvar,
    /// The thread running `init`.
    leader: ThreadId,
    /// Set (1) just before the leader stores its value: a caller that
    /// finds it set may have missed the stored value because a write
    /// removed it since, so it must not be handed it (it looks again). One
    /// that finds it clear missed before the store, so the store falls
    /// within its call.
    settled: AtomicU8,
}

impl<V: Clone> Flight<V> {
    fn new(leader: ThreadId) -> Self {
        Flight { outcome: Mutex::new(Outcome::Running), done: Condvar::new(), leader, settled: AtomicU8::new(0) }
    }

    /// Blocks until the leader publishes, then returns a copy of the outcome.
    fn wait(&self) -> Outcome<V> {
        let mut outcome = self.outcome.lock();
        while matches!(*outcome, Outcome::Running) {
            self.done.wait(&mut outcome);
        }
        match &*outcome {
            Outcome::Done(v) => Outcome::Done(v.clone()),
            Outcome::Failed(e) => Outcome::Failed(Arc::clone(e)),
            Outcome::Abandoned | Outcome::Running => Outcome::Abandoned,
        }
    }
}

/// The in-flight loads of one cache, keyed by the cache's keys.
pub(crate) struct Loader<K, V> {
    flights: Mutex<HashMap<K, Arc<Flight<V>>, crate::sync::RandomState>>,
    /// The tickets of loads in flight, which the cache's writes mark.
    marks: Marks,
}

impl<K, V> Default for Loader<K, V> {
    fn default() -> Self {
        Loader { flights: Mutex::new(HashMap::default()), marks: Marks::default() }
    }
}

impl<K, V> Loader<K, V> {
    /// The tickets the cache's writes mark and its loads register with.
    pub(crate) fn marks(&self) -> &Marks {
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

/// What the cache lends the loader: a lookup, a ticket and a store, each of
/// which takes and releases the cache's own locks.
pub(crate) trait LoadTarget<K, V> {
    /// Looks the key up as a hit would (refreshing it), without counting stats.
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

/// Publishes `Abandoned` if the leader unwinds before publishing.
struct LeaderGuard<'a, K: Hash + Eq, V> {
    loader: &'a Loader<K, V>,
    key: &'a K,
    flight: Arc<Flight<V>>,
    published: bool,
}

impl<K: Hash + Eq, V> LeaderGuard<'_, K, V> {
    fn publish(mut self, outcome: Outcome<V>) {
        self.finish(outcome);
        self.published = true;
    }

    fn finish(&mut self, outcome: Outcome<V>) {
        // Unregister first so a caller arriving after this point starts a
        // new flight (after finding the value, if one was stored).
        self.loader.flights.lock().remove(self.key);
        *self.flight.outcome.lock() = outcome;
        self.flight.done.notify_all();
    }
}

impl<K: Hash + Eq, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if !self.published {
            self.finish(Outcome::Abandoned);
        }
    }
}

impl<K, V> Loader<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    /// A whole `try_get_or_insert_with`: a lookup counted as a hit or a
    /// miss in `stats`, then, on a miss, [`load`](Self::load).
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
    ///
    /// # Panics
    ///
    /// With [`RECURSIVE_LOAD`] if this thread is the one loading `key`.
    pub(crate) fn load<T, F, E>(&self, target: &T, key: K, init: F) -> (Result<V, LoadError<E>>, bool)
    where
        T: LoadTarget<K, V>,
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let mut init = Some(init);
        loop {
            let me = thread::current().id();
            let (flight, leader) = {
                let mut flights = self.flights.lock();
                match flights.get(&key) {
                    Some(flight) => (Arc::clone(flight), false),
                    None => {
                        let flight = Arc::new(Flight::new(me));
                        flights.insert(key.clone(), Arc::clone(&flight));
                        (flight, true)
                    }
                }
            };
            if !leader {
                if flight.leader == me {
                    panic!("{RECURSIVE_LOAD}");
                }
                // Read after our own miss: if the value was stored before
                // this, that miss means a write removed it since.
                let late = flight.settled.load(Ordering::SeqCst) != 0;
                match flight.wait() {
                    // Look again (a retry re-checks the cache first).
                    Outcome::Done(_) if late => continue,
                    Outcome::Done(v) => {
                        target.recorder().coalesced();
                        return (Ok(v), true);
                    }
                    Outcome::Failed(e) => match e.downcast::<E>() {
                        Ok(e) => {
                            target.recorder().coalesced();
                            return (Err(LoadError::new(e)), true);
                        }
                        // The leader's error is of another type (another
                        // call site): this caller tries its own init.
                        Err(_) => continue,
                    },
                    Outcome::Abandoned | Outcome::Running => continue,
                }
            }
            let guard = LeaderGuard { loader: self, key: &key, flight, published: false };
            // A flight that finished between our miss and our registration
            // may have stored the value already. That value is only read,
            // not loaded: a follower that joined after a write or remove of
            // it must not be handed it, so followers look again themselves.
            let (ticket, found) = target.begin(&key);
            if let Some(v) = found {
                guard.publish(Outcome::Abandoned);
                return (Ok(v), false);
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
                let counted = InitCount { recorder, start: recorder.start(), armed: true };
                let r = init();
                counted.finish(r.is_ok());
                r
            };
            let outcome = match result {
                Ok(v) => {
                    // Not stored if a write of the key came during `init`;
                    // the callers get the value all the same.
                    guard.flight.settled.store(1, Ordering::SeqCst);
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
            return (outcome, false);
        }
    }
}

/// Counts the leader's `init` as finished: by `finish`, or as failed if
/// `init` unwinds.
struct InitCount<'a> {
    recorder: LoadRecorder<'a>,
    start: LoadStart,
    armed: bool,
}

impl InitCount<'_> {
    fn finish(mut self, ok: bool) {
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
