//! Background reloads by the builder's
//! [`reloader`](crate::CacheBuilder::reloader): the caller that finds a
//! value due for refresh (or a stale one) is served it at once, and the
//! reload runs on the reload pool (`maintenance/reloads.rs`).
//!
//! The reload is a flight in the cache's one flight table, led by the
//! caller that found the value due and run by the pool: the caller
//! registers the flight and takes the load's ticket (so a write of the key
//! from then on wins over the reloaded value), and the pool thread runs the
//! reloader, stores, and publishes, as any leader does. Other callers of
//! the key meanwhile find the flight: those with a value to serve are
//! served it, the others wait for the outcome.
//!
//! The job holds its cache weakly, and not at all while the reloader runs:
//! a cache dropped meanwhile goes at once (its flights end with it) and the
//! reloaded value is dropped.

use std::hash::Hash;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::core::Core;
use crate::entry::{Fetch, Fetched};
use crate::flight::{Flight, Kind, Outcome, Polling};
use crate::frontend::Frontend;
use crate::invalidation::LoadTicket;
use crate::loader::{Joined, LeaderGuard, LoadTarget};
use crate::loads::Plan;
use crate::maintenance::reloads;
use crate::stats::LoadStart;
use crate::sync::{Arc, Weak};

impl<K, V, C> Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    /// Serves `current` (as `plan` says) and has the reloader reload `key`
    /// on the reload pool, unless a load of the key is already in flight.
    pub(crate) fn serve_and_reload(shared: &Arc<Self>, key: &K, plan: Plan<V>, current: V) -> Fetched<V> {
        let fe = &**shared;
        let flight = match fe.loader.join(key, Kind::Refresh, false) {
            Joined::Waiter(_) => return fe.answer(current, plan.current_is),
            Joined::Leader(flight) => flight,
        };
        let guard = LeaderGuard::new(&fe.loader, key, flight);
        // As any leader does (see `Loader::load_as`): a stale value's
        // reload is not needed if a value was stored meanwhile.
        let (ticket, found) = fe.begin_shared(key);
        if let Some(v) = found {
            if !plan.reload {
                guard.publish(Outcome::Abandoned);
                return Fetched::new(v, Fetch::Hit);
            }
        }
        let flight = guard.hand_over();
        let job = Reload { cache: Arc::downgrade(shared), key: key.clone(), flight, ticket: Some(ticket), start: None };
        if let Err(job) = reloads::submit(Box::new(move || job.run())) {
            // No thread could be started for it: reload here, as a caller
            // without a reloader would.
            job();
        }
        fe.answer(current, plan.current_is)
    }
}

/// One reload on the pool; publishes its flight's outcome however it ends.
struct Reload<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    cache: Weak<Frontend<K, V, C>>,
    key: K,
    flight: Arc<Flight<V>>,
    /// Taken before the leader's last lookup; `None` once the load ended.
    ticket: Option<LoadTicket<'static>>,
    /// Set once the reloader was started (and counted).
    start: Option<LoadStart>,
}

impl<K, V, C> Reload<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    fn run(mut self) {
        // A cache already gone ended its flights as it went.
        let Some(fe) = self.cache.upgrade() else { return };
        let Some(reload) = fe.loads.reloader.clone() else { return };
        self.start = Some(fe.recorder().start_load(true));
        drop(fe);
        let result = {
            // So the reloader's own loads of this key are caught as
            // recursive rather than waiting on themselves.
            let _polling = Polling::enter(self.flight.id);
            catch_unwind(AssertUnwindSafe(|| reload(&self.key)))
        };
        let Some(fe) = self.cache.upgrade() else { return };
        let outcome = match result {
            Ok(Ok(v)) => {
                // Not stored if a write of the key came since the ticket.
                // If the store unwinds (a weigher's panic), `drop` ends
                // the load.
                self.flight.settle();
                if let Some(ticket) = &self.ticket {
                    fe.commit(self.key.clone(), v.clone(), ticket);
                }
                Outcome::Done(v)
            }
            Ok(Err(e)) => Outcome::Failed(e),
            // Contained and counted; callers waiting on it look again.
            Err(_panic) => Outcome::Abandoned,
        };
        self.end(&fe, outcome);
    }

    /// Publishes the outcome, then counts the reload: whoever sees the
    /// count sees its effect.
    fn end(&mut self, fe: &Frontend<K, V, C>, outcome: Outcome<V>) {
        let ok = matches!(outcome, Outcome::Done(_));
        fe.loader.finish(&self.key, &self.flight, outcome);
        self.ticket = None;
        if let Some(start) = self.start.take() {
            fe.recorder().finish(start, ok);
        }
    }
}

impl<K, V, C> Drop for Reload<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    /// A reload that did not end (its job dropped unrun, its store
    /// unwound) gives its flight up, so its callers look again, and counts
    /// as failed if it ran.
    fn drop(&mut self) {
        if self.ticket.is_some() {
            if let Some(fe) = self.cache.upgrade() {
                self.end(&fe, Outcome::Abandoned);
            }
        }
    }
}
