//! Single-flight loading for async code: one `init` future per missing key,
//! however many tasks ask, over any [`SlidingTtlCache`].
//!
//! The first task to miss a key becomes the *leader*: it registers a flight
//! for the key and awaits `init`. Tasks that miss while the flight is
//! registered become *followers* and wait on a [`tokio::sync::watch`] channel
//! whose only sender the leader holds. When `init` finishes, the leader
//! stores the value in the cache, unregisters the flight and publishes the
//! outcome.
//!
//! Writes win: the leader takes the cache's load ticket
//! ([`SlidingTtlCache::begin_load`]) before its last lookup and stores with
//! [`SlidingTtlCache::commit_load`], so an `insert`, `remove` or `clear` of
//! the key made while `init` runs keeps its effect; the loaded value still
//! goes to the leader and its followers.
//!
//! Recursion: a leader's `init` future that awaits a load of its own key
//! through the same flight would wait for itself. While the leader polls
//! `init`, the flight's id is on a thread-local stack; a task that finds
//! the flight while its id is on that stack is inside that very poll, and
//! panics instead of waiting forever. (An `init` that spawns another task
//! for the key and awaits it is an ordinary wait, and is not detected.)
//!
//! Cancellation safety: the sender and the flight's registration live in a
//! guard inside the leader's future. If that future is dropped (the task
//! was aborted, a `select!` took another branch, a timeout fired) or `init`
//! panics, the guard unregisters the flight and drops the sender; every
//! follower wakes, sees a closed channel and retries, and one of them leads
//! a new attempt. No caller can be left waiting on a load nobody runs.
//!
//! Stats go to the cache's counters through its
//! [`SlidingTtlCache::load_recorder`]: the leader's `init` is counted
//! started, then succeeded or failed (a panic is a failure; a cancellation
//! is neither) with its time on the cache's clock; a follower handed the
//! leader's outcome counts as coalesced instead of as the miss its lookup
//! counted.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hashbrown::HashMap;
use tokio::sync::watch;

use crate::cache::SlidingTtlCache;
use crate::load_error::LoadError;
use crate::loader::RECURSIVE_LOAD;
use crate::stats::{LoadRecorder, LoadStart};
// Not a loom target: parking_lot directly, whatever `crate::sync` maps to.
use parking_lot::Mutex;

type SharedError = Arc<dyn Any + Send + Sync>;

/// Flight ids, unique across loaders so the recursion check never mistakes
/// one loader's flight for another's.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The flights whose `init` this thread is polling, innermost last.
    static POLLING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A leader's `init` future, polled with its flight's id on [`POLLING`].
struct Leading<F> {
    id: u64,
    init: Pin<Box<F>>,
}

/// Pops the id pushed for one poll, also if the poll panics.
struct Polled;

impl Drop for Polled {
    fn drop(&mut self) {
        POLLING.with(|p| p.borrow_mut().pop());
    }
}

impl<F: Future> Future for Leading<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        POLLING.with(|p| p.borrow_mut().push(this.id));
        let _polled = Polled;
        this.init.as_mut().poll(cx)
    }
}

/// What followers see on the channel.
#[derive(Clone)]
enum Outcome<V> {
    Running,
    Done(V),
    Failed(SharedError),
}

/// A registered load: its id (so a stale registration never unregisters a newer
/// flight) and a receiver that followers clone to wait on.
struct Flight<V> {
    id: u64,
    outcome: watch::Receiver<Outcome<V>>,
    /// Set just before the leader stores its value (see `Lead::settled`).
    settled: Arc<AtomicBool>,
}

/// Async single-flight loads in front of any [`SlidingTtlCache`].
///
/// Keep one `AsyncLoader` per cache (for example next to it in a struct) and
/// load through it: concurrent tasks asking for the same missing key share
/// one `init` future; an error is shared with the waiters but never cached;
/// a leader that is cancelled or panics wedges no one.
///
/// Sync loads through the cache's own [`SlidingTtlCache::get_or_insert_with`]
/// are single-flight among themselves; the two are not coordinated, so a sync
/// and an async load of the same key at the same instant may both run, and
/// the later store is reported to the removal listener as `Replaced`. Both
/// kinds yield to writes: an `insert`, `remove` or `clear` of the key made
/// while `init` runs wins, and the loaded value is returned but not stored
/// (on backends that track loads; see [`SlidingTtlCache::begin_load`]).
///
/// An `init` future that awaits a load of its own key through the same
/// loader panics ("recursive load of the same key") rather than wait for
/// itself forever.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ttlkit::{AsyncLoader, CacheBuilder, MutexCache, SlidingTtlCache};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache: MutexCache<u32, String> = CacheBuilder::new().time_to_idle(Duration::from_secs(60)).build()?;
/// let loader = Arc::new(AsyncLoader::new());
///
/// let mut tasks = Vec::new();
/// for _ in 0..8 {
///     let (cache, loader) = (cache.clone(), Arc::clone(&loader));
///     tasks.push(tokio::spawn(async move {
///         loader.get_or_insert_with(&cache, 7, || async { "seven".to_string() }).await
///     }));
/// }
/// for task in tasks {
///     assert_eq!(task.await?, "seven");
/// }
/// assert_eq!(cache.stats().inserts, 1, "one init for eight tasks");
///
/// // An error is returned, not cached: the next call runs its init.
/// let failed = loader.try_get_or_insert_with(&cache, 8, || async { Err::<String, _>("upstream down") }).await;
/// assert_eq!(failed.err().as_deref(), Some(&"upstream down"));
/// assert_eq!((cache.stats().loads_started, cache.stats().loads_failed), (2, 1));
/// let ok = loader.try_get_or_insert_with(&cache, 8, || async { Ok::<_, &str>("eight".to_string()) }).await;
/// assert_eq!(ok.ok().as_deref(), Some("eight"));
/// # Ok(())
/// # }
/// ```
pub struct AsyncLoader<K, V> {
    flights: Mutex<HashMap<K, Flight<V>, foldhash::fast::RandomState>>,
}

impl<K, V> Default for AsyncLoader<K, V> {
    fn default() -> Self {
        AsyncLoader { flights: Mutex::new(HashMap::default()) }
    }
}

impl<K, V> std::fmt::Debug for AsyncLoader<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncLoader").field("in_flight", &self.flights.lock().len()).finish()
    }
}

/// Counts the leader's `init` as finished: by `finish`, or as failed if
/// `init` panics. A future dropped mid-load (cancelled) is left counted as
/// started only: it neither succeeded nor failed.
struct Timing<'a> {
    recorder: LoadRecorder<'a>,
    start: LoadStart,
    armed: bool,
}

impl Timing<'_> {
    fn finish(mut self, ok: bool) {
        self.armed = false;
        self.recorder.finish(self.start, ok);
    }
}

impl Drop for Timing<'_> {
    fn drop(&mut self) {
        // Unwinding from `init`'s poll, not a cancellation.
        if self.armed && std::thread::panicking() {
            self.recorder.finish(self.start, false);
        }
    }
}

/// This task's part in a load.
enum Role<V> {
    Leader(Lead<V>),
    /// The channel, and whether the leader had begun to store its value
    /// when this follower joined.
    Follower(watch::Receiver<Outcome<V>>, bool),
}

/// The leader's side of a flight: its id and the channel's only sender.
struct Lead<V> {
    id: u64,
    sender: watch::Sender<Outcome<V>>,
    /// Set just before the value is stored: a follower that finds it set
    /// may have missed the stored value because a write removed it since,
    /// so it is not handed the value and looks again instead.
    settled: Arc<AtomicBool>,
}

/// Held by the leader's future while it loads. Publishing consumes it;
/// dropping it unpublished (the future was cancelled, or `init` panicked)
/// unregisters the flight and drops the sender, closing the channel, which
/// wakes the followers to retry.
struct Registration<'a, K: Hash + Eq, V> {
    loader: &'a AsyncLoader<K, V>,
    key: &'a K,
    lead: Option<Lead<V>>,
}

impl<K: Hash + Eq, V> Registration<'_, K, V> {
    fn unregister(&self, id: u64) {
        let mut flights = self.loader.flights.lock();
        if flights.get(self.key).is_some_and(|f| f.id == id) {
            flights.remove(self.key);
        }
    }

    /// Unregisters first (so a task arriving later starts afresh or finds
    /// the stored value), then wakes the followers with `outcome`.
    fn publish(mut self, outcome: Outcome<V>) {
        if let Some(lead) = self.lead.take() {
            self.unregister(lead.id);
            lead.sender.send_replace(outcome);
        }
    }
}

impl<K: Hash + Eq, V> Drop for Registration<'_, K, V> {
    fn drop(&mut self) {
        if let Some(lead) = self.lead.take() {
            self.unregister(lead.id);
            // Dropping the only sender closes the channel: followers retry.
            drop(lead);
        }
    }
}

impl<K, V> AsyncLoader<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A loader with no load in flight.
    pub fn new() -> Self {
        AsyncLoader::default()
    }

    /// How many keys have a load in flight right now.
    pub fn in_flight(&self) -> usize {
        self.flights.lock().len()
    }

    /// Returns the live value for `key` from `cache`, or awaits `init` (once
    /// for all concurrent callers), stores its value with
    /// [`SlidingTtlCache::commit_load`] and returns it. A write of the key
    /// made while `init` runs wins: the value is returned, not stored.
    ///
    /// Cancellation-safe: dropping this future at any await point leaves no
    /// flight registered and no follower waiting forever.
    ///
    /// # Panics
    ///
    /// If `init` awaits a load of the same key through this loader (a
    /// recursive load), that inner load panics instead of waiting forever.
    pub async fn get_or_insert_with<C, F, Fut>(&self, cache: &C, key: K, init: F) -> V
    where
        C: SlidingTtlCache<K, V>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let loaded =
            self.try_get_or_insert_with(cache, key, || async { Ok::<V, std::convert::Infallible>(init().await) });
        match loaded.await {
            Ok(v) => v,
            Err(never) => match *never.get() {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) with a fallible
    /// `init`. An error is not cached: it is returned (as a [`LoadError`],
    /// one `Arc<E>` shared by all of them) to this caller and to every
    /// follower of the same load, and the next caller runs its own `init`. A follower whose leader failed with an error of
    /// another type retries with its own `init`.
    pub async fn try_get_or_insert_with<C, F, Fut, E>(&self, cache: &C, key: K, init: F) -> Result<V, LoadError<E>>
    where
        C: SlidingTtlCache<K, V>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        let mut init = Some(init);
        loop {
            if let Some(v) = cache.get(&key) {
                return Ok(v);
            }
            match self.join(&key) {
                Role::Follower(mut outcome, late) => {
                    let seen = outcome.wait_for(|o| !matches!(o, Outcome::Running)).await.map(|o| o.clone());
                    match seen {
                        // Look again: the loop re-checks the cache first.
                        Ok(Outcome::Done(_)) if late => {}
                        Ok(Outcome::Done(v)) => {
                            cache.load_recorder().coalesced();
                            return Ok(v);
                        }
                        Ok(Outcome::Failed(e)) => {
                            if let Ok(e) = e.downcast::<E>() {
                                cache.load_recorder().coalesced();
                                return Err(LoadError::new(e));
                            }
                        }
                        // The leader was cancelled or panicked: try again.
                        Ok(Outcome::Running) | Err(_) => {}
                    }
                }
                Role::Leader(lead) => {
                    let id = lead.id;
                    let settled = Arc::clone(&lead.settled);
                    let registration = Registration { loader: self, key: &key, lead: Some(lead) };
                    // A load that finished between our miss and our
                    // registration has stored its value already. It is only
                    // read, not loaded: followers that joined after a write
                    // or remove of it must not be handed it, so dropping the
                    // registration sends them to look again themselves.
                    let (ticket, found) = cache.begin_load(&key);
                    if let Some(v) = found {
                        drop(registration);
                        return Ok(v);
                    }
                    let Some(init) = init.take() else {
                        // Unreachable (a leader always returns); dropping
                        // the registration releases any follower.
                        continue;
                    };
                    // The only await of a leader: if this future is dropped
                    // here, `registration` is dropped with it.
                    let recorder = cache.load_recorder();
                    let timing = Timing { recorder, start: recorder.start(), armed: true };
                    let result = Leading { id, init: Box::pin(init()) }.await;
                    timing.finish(result.is_ok());
                    return match result {
                        Ok(v) => {
                            // Not stored if a write of the key came during
                            // `init`; the callers get the value all the same.
                            settled.store(true, Ordering::SeqCst);
                            cache.commit_load(key.clone(), v.clone(), &ticket);
                            registration.publish(Outcome::Done(v.clone()));
                            Ok(v)
                        }
                        Err(e) => {
                            let e = Arc::new(e);
                            registration.publish(Outcome::Failed(Arc::clone(&e) as SharedError));
                            Err(LoadError::new(e))
                        }
                    };
                }
            }
        }
    }

    /// Joins the flight for `key`, registering a new one (as its leader) if
    /// there is none.
    ///
    /// # Panics
    ///
    /// If the flight's own `init` is being polled on this thread.
    fn join(&self, key: &K) -> Role<V> {
        let mut flights = self.flights.lock();
        if let Some(flight) = flights.get(key) {
            let id = flight.id;
            let outcome = flight.outcome.clone();
            let late = flight.settled.load(Ordering::SeqCst);
            drop(flights);
            if POLLING.with(|p| p.borrow().contains(&id)) {
                panic!("{RECURSIVE_LOAD}");
            }
            return Role::Follower(outcome, late);
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (sender, outcome) = watch::channel(Outcome::Running);
        let settled = Arc::new(AtomicBool::new(false));
        flights.insert(key.clone(), Flight { id, outcome, settled: Arc::clone(&settled) });
        Role::Leader(Lead { id, sender, settled })
    }
}

#[cfg(test)]
#[path = "async_loader_tests.rs"]
mod tests;
