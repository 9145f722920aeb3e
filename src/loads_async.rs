//! The front-end's load-through calls, async: one flight table with the
//! sync calls, and loads that outlive the callers that started them (see
//! `flight.rs` for how a parked future is shared).

use std::any::Any;
use std::future::Future;
use std::hash::Hash;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::clock::Ticks;
use crate::core::Core;
use crate::entry::{Fetch, Fetched};
use crate::flight::{recheck_after, BoxLoad, Flight, Outcome, Parked, SharedError, Step, Waited};
use crate::frontend::Frontend;
use crate::invalidation::Gate;
use crate::load_error::LoadError;
use crate::load_settings::BackgroundTask;
use crate::loader::{outcome_for, Joined, LeaderGuard, LoadTarget};
use crate::maintenance::{self, Timer};
use crate::sync::Arc;

impl<K, V, C> Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    /// A whole async load-through call: `try_fetch_async` and the forms
    /// built on it.
    // Not an `async fn`: the named `Send` bound spares callers that spawn
    // the future the compiler's higher-ranked lifetime errors.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn try_fetch_async<'a, Fut, E>(
        shared: &'a Arc<Self>,
        key: K,
        init: Fut,
    ) -> impl Future<Output = Result<Fetched<V>, LoadError<E>>> + Send + 'a
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        async move {
            let fe = &**shared;
            let plan = match Self::plan(shared, &key) {
                Ok(answer) => return Ok(answer),
                Err(plan) => plan,
            };
            let mut init = Some(init);
            loop {
                let flight = match fe.loader.join(&key, plan.kind, false) {
                    Joined::Waiter(flight) => {
                        if let Some(v) = plan.current.clone() {
                            return Ok(fe.answer(v, plan.current_is));
                        }
                        if flight.runs_here() {
                            return Err(LoadError::Recursive);
                        }
                        let late = flight.is_settled();
                        match Wait::new(shared, Arc::clone(&flight), &key, fe.load_timeout(), false).await {
                            Waited::TimedOut(waited) => return Err(LoadError::TimedOut { waited }),
                            Waited::Outcome(outcome) => match outcome_for(&flight, late, outcome) {
                                Some(result) => {
                                    fe.recorder().coalesced();
                                    return result.map(|v| Fetched::new(v, Fetch::Coalesced));
                                }
                                None => continue,
                            },
                        }
                    }
                    Joined::Leader(flight) => flight,
                };
                let guard = LeaderGuard::new(&fe.loader, &key, flight);
                // As a sync leader does (see `Loader::load_as`).
                let (ticket, found) = fe.begin_shared(&key);
                if let Some(v) = found {
                    if !plan.reload {
                        guard.publish(Outcome::Abandoned);
                        return Ok(Fetched::new(v, Fetch::Hit));
                    }
                }
                let Some(init) = init.take() else {
                    guard.publish(Outcome::Abandoned);
                    continue;
                };
                let start = fe.recorder().start_load(plan.current.is_some());
                let future: BoxLoad<V> = Box::pin(async move { init.await.map_err(|e| Arc::new(e) as SharedError) });
                let flight = guard.hand_over();
                flight.park(Parked { future, ticket, start });
                if let Some(v) = plan.current.clone() {
                    if fe.drive_in_background(shared, &flight, &key) {
                        return Ok(fe.answer(v, plan.current_is));
                    }
                }
                let outcome = match Wait::new(shared, Arc::clone(&flight), &key, None, true).await {
                    Waited::Outcome(outcome) => outcome,
                    Waited::TimedOut(_) => Outcome::Abandoned,
                };
                return match (outcome, plan.current) {
                    (Outcome::Done(v), _) => Ok(Fetched::new(v, Fetch::Loaded)),
                    // A failed refresh keeps the old value; a failed
                    // revalidation serves the stale one.
                    (Outcome::Failed(_), Some(v)) => Ok(fe.answer(v, plan.current_is)),
                    (Outcome::Failed(e), None) => match e.downcast::<E>() {
                        Ok(e) => Err(LoadError::new(e)),
                        Err(_) => unreachable_outcome(),
                    },
                    (Outcome::Abandoned | Outcome::Running, _) => match flight.take_panic() {
                        Some(panic) => resume_unwind(panic),
                        None => unreachable_outcome(),
                    },
                };
            }
        }
    }

    /// The leader's last lookup, with a ticket that can be parked with its
    /// future (see [`LoadTarget::begin`]).
    pub(crate) fn begin_shared(&self, key: &K) -> (crate::invalidation::LoadTicket<'static>, Option<V>) {
        let hash = self.hash(key);
        let ticket = self.loader.shared_marks().register_shared(hash);
        let now = self.clock.now();
        let found = self.reporting(|out| self.core.read_for_load(hash, key, now, &Gate::arm(&ticket), out));
        (ticket, found)
    }

    /// Hands a parked load nobody will wait for to the spawner (or tokio);
    /// false if there is none.
    fn drive_in_background(&self, shared: &Arc<Self>, flight: &Arc<Flight<V>>, key: &K) -> bool {
        let driver = Driver::new(Arc::downgrade(shared), Arc::clone(flight), key.clone());
        self.spawn(Box::pin(driver))
    }

    /// Runs `task` on the cache's spawner, or (feature `async`) on the
    /// tokio runtime of the calling thread; false if neither is there.
    fn spawn(&self, task: BackgroundTask) -> bool {
        if let Some(spawn) = &self.loads.spawner {
            spawn(task);
            return true;
        }
        #[cfg(feature = "async")]
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(task));
            return true;
        }
        drop(task);
        false
    }

    /// Stores a shared load's value (or not, if a write came meanwhile),
    /// counts it, and publishes its outcome.
    fn complete(&self, key: &K, flight: &Flight<V>, parked: Parked<V>, result: Result<V, SharedError>) {
        self.recorder().finish(parked.start, result.is_ok());
        let outcome = match result {
            Ok(v) => {
                flight.settle();
                self.commit(key.clone(), v.clone(), &parked.ticket);
                Outcome::Done(v)
            }
            Err(e) => Outcome::Failed(e),
        };
        drop(parked);
        self.loader.finish(key, flight, outcome);
    }

    /// A shared load's future panicked: the load is abandoned (its callers
    /// look again) and counted failed; the panic goes to its leader.
    fn abandon(&self, key: &K, flight: &Flight<V>, parked: Parked<V>, panic: Box<dyn Any + Send>, leader: bool) {
        self.recorder().finish(parked.start, false);
        drop(parked);
        if leader {
            self.loader.finish(key, flight, Outcome::Abandoned);
            resume_unwind(panic);
        }
        flight.keep_panic(panic);
        self.loader.finish(key, flight, Outcome::Abandoned);
    }

    /// One poll of the flight by the async caller in `slot`: drives the
    /// parked future if nobody is polling it.
    fn poll_flight(
        &self,
        flight: &Arc<Flight<V>>,
        key: &K,
        slot: u64,
        leader: bool,
        cx: &Context<'_>,
    ) -> Poll<Outcome<V>> {
        loop {
            match flight.step(slot, cx) {
                Step::Finished(outcome) => return Poll::Ready(outcome),
                Step::Pending => return Poll::Pending,
                Step::Drive(mut parked) => match catch_unwind(AssertUnwindSafe(|| flight.poll_parked(&mut parked))) {
                    Ok(Poll::Ready(result)) => self.complete(key, flight, parked, result),
                    Ok(Poll::Pending) => {
                        flight.put_back(parked, slot, cx);
                        return Poll::Pending;
                    }
                    Err(panic) => self.abandon(key, flight, parked, panic, leader),
                },
            }
        }
    }
}

#[cold]
fn unreachable_outcome() -> ! {
    panic!("ttlkit: a load's leader found its own load abandoned without a cause")
}

/// An async caller waiting on (and helping to drive) a flight.
pub(crate) struct Wait<'a, K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    shared: &'a Arc<Frontend<K, V, C>>,
    flight: Arc<Flight<V>>,
    key: &'a K,
    slot: u64,
    leader: bool,
    /// The load timeout, and when this caller began to wait.
    limit: Option<(Duration, Ticks)>,
    timer: Option<Timer>,
}

impl<'a, K, V, C> Wait<'a, K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    pub(crate) fn new(
        shared: &'a Arc<Frontend<K, V, C>>,
        flight: Arc<Flight<V>>,
        key: &'a K,
        limit: Option<Duration>,
        leader: bool,
    ) -> Self {
        let slot = flight.enter();
        let limit = limit.map(|d| (d, shared.clock.now()));
        Wait { shared, flight, key, slot, leader, limit, timer: None }
    }
}

impl<K, V, C> Future for Wait<'_, K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    type Output = Waited<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited<V>> {
        let this = self.get_mut();
        if let Poll::Ready(outcome) = this.shared.poll_flight(&this.flight, this.key, this.slot, this.leader, cx) {
            return Poll::Ready(Waited::Outcome(outcome));
        }
        if let Some((limit, joined)) = this.limit {
            let clock = &this.shared.clock;
            let waited = clock.now().saturating_duration_since(joined);
            if waited >= limit {
                return Poll::Ready(Waited::TimedOut(waited));
            }
            this.timer = maintenance::wake_after(recheck_after(clock, limit - waited), cx.waker().clone());
            if this.timer.is_none() {
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

impl<K, V, C> Drop for Wait<'_, K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn drop(&mut self) {
        // The last async caller of a load still running leaves it parked:
        // hand it to the spawner, if there is one; else it waits for the
        // key's next caller.
        if self.flight.leave(self.slot) {
            self.shared.drive_in_background(self.shared, &self.flight, self.key);
        }
    }
}

/// Drives a parked load to its end on the cache's spawner, holding the
/// cache only weakly: if the cache is dropped meanwhile, so is the load.
struct Driver<K, V, C> {
    cache: Weak<Frontend<K, V, C>>,
    flight: Arc<Flight<V>>,
    /// Boxed so the driver is `Unpin` whatever `K` is.
    key: Box<K>,
    slot: u64,
}

impl<K, V, C> Driver<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn new(cache: Weak<Frontend<K, V, C>>, flight: Arc<Flight<V>>, key: K) -> Self {
        let slot = flight.enter();
        Driver { cache, flight, key: Box::new(key), slot }
    }
}

impl<K, V, C> Future for Driver<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(shared) = this.cache.upgrade() else { return Poll::Ready(()) };
        // A panic of the load is kept for its leader, if it still waits.
        shared.poll_flight(&this.flight, &this.key, this.slot, false, cx).map(drop)
    }
}

impl<K, V, C> Drop for Driver<K, V, C> {
    fn drop(&mut self) {
        // Not handed on again: a spawner that drops its tasks leaves the
        // load parked for the key's next caller.
        let _ = self.flight.leave(self.slot);
    }
}
