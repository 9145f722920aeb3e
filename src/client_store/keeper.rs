//! [`Keeper`]: what all the clients of one store share: the leave and
//! release hooks, the queue of releases waiting out their grace window,
//! the breaker and retry settings, and the store's event counters.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::cache::RemovalCause;
use crate::client_store::breaker::{BreakerSettings, Transition};
use crate::client_store::builder::LeaveHook;
use crate::client_store::fingerprint::Fingerprint;
use crate::client_store::lease::StoredClient;
use crate::client_store::retry::RetryPolicy;
use crate::client_store::retry_budget::{BudgetSettings, RetryBudget};
use crate::clock::{ClockSource, Ticks};

/// Called once with each client the store created, when it has left the
/// store and its last [`Lease`](crate::client_store::Lease) is gone (and
/// the grace window, if any, has passed): close it here.
///
/// ```
/// use std::sync::Arc;
/// use ttlkit::client_store::{Fingerprint, ReleaseHook};
///
/// struct Client;
/// let hook: ReleaseHook<Client> = Arc::new(|fingerprint: &Fingerprint, _client: Arc<Client>| {
///     eprintln!("client {fingerprint} closed");
/// });
/// # let _ = hook;
/// ```
pub type ReleaseHook<C> = Arc<dyn Fn(&Fingerprint, Arc<C>) + Send + Sync + 'static>;

/// The store's event counters (gauges where so named).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Gauge: leases alive now.
    pub(crate) leases: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) hook_panics: AtomicU64,
    /// Gauge: breakers of held clients that are not closed.
    pub(crate) breakers_tripped: AtomicU64,
    pub(crate) breaker_opened: AtomicU64,
    pub(crate) breaker_half_opened: AtomicU64,
    pub(crate) breaker_closed: AtomicU64,
    pub(crate) breaker_rejected: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) retry_budget_exhausted: AtomicU64,
}

/// A release waiting out the grace window.
struct Pending<C> {
    due: Ticks,
    fingerprint: Fingerprint,
    client: Arc<C>,
}

/// Settings and state shared by a store and every client it holds.
pub(crate) struct Keeper<C> {
    pub(crate) clock: ClockSource,
    on_leave: Option<LeaveHook<C>>,
    on_release: Option<ReleaseHook<C>>,
    grace: Option<Duration>,
    /// In due order: every release waits the same grace on a monotonic clock.
    pending: Mutex<VecDeque<Pending<C>>>,
    pub(crate) breaker: Option<BreakerSettings>,
    pub(crate) retry: Option<RetryPolicy>,
    /// The store-wide retry budget.
    pub(crate) store_budget: Option<RetryBudget>,
    /// Each key's retry budget, made when its client is.
    pub(crate) key_budget: Option<BudgetSettings>,
    pub(crate) counters: Counters,
}

/// What a store is built with, for its [`Keeper`].
pub(crate) struct KeeperSettings<C> {
    pub(crate) clock: ClockSource,
    pub(crate) on_leave: Option<LeaveHook<C>>,
    pub(crate) on_release: Option<ReleaseHook<C>>,
    pub(crate) grace: Option<Duration>,
    pub(crate) breaker: Option<BreakerSettings>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) budget: Option<BudgetSettings>,
}

impl<C> Keeper<C> {
    pub(crate) fn new(s: KeeperSettings<C>) -> Keeper<C> {
        Keeper {
            store_budget: s.budget.map(|b| RetryBudget::from_source(b, s.clock.clone())),
            clock: s.clock,
            on_leave: s.on_leave,
            on_release: s.on_release,
            grace: s.grace,
            pending: Mutex::new(VecDeque::new()),
            breaker: s.breaker,
            retry: s.retry,
            key_budget: s.budget,
            counters: Counters::default(),
        }
    }

    /// A client left the store (the cache's removal listener): the leave
    /// hook sees it, then it is released if no lease holds it.
    pub(crate) fn left(&self, stored: &StoredClient<C>, cause: RemovalCause) {
        stored.retire_breaker();
        if let Some(hook) = &self.on_leave {
            let client = Arc::clone(stored.client());
            self.contain(|| hook(stored.fingerprint(), client, cause));
        }
        stored.mark_left();
    }

    /// Releases a client whose last holder is gone: now, or after the grace
    /// window. Only for clients the store created.
    pub(crate) fn release(&self, fingerprint: Fingerprint, client: Arc<C>, created: bool) {
        if !created {
            return;
        }
        match self.grace {
            Some(grace) => {
                let due = self.clock.now().saturating_add(grace);
                self.pending.lock().push_back(Pending { due, fingerprint, client });
            }
            None => self.run_hook(&fingerprint, client),
        }
    }

    /// Runs the releases whose grace window has passed; returns how many.
    pub(crate) fn run_due_releases(&self) -> usize {
        let now = self.clock.now();
        let due: Vec<Pending<C>> = {
            let mut pending = self.pending.lock();
            let n = pending.iter().take_while(|p| p.due <= now).count();
            pending.drain(..n).collect()
        };
        let n = due.len();
        due.into_iter().for_each(|p| self.run_hook(&p.fingerprint, p.client));
        n
    }

    /// Releases waiting out their grace window.
    pub(crate) fn awaiting_release(&self) -> usize {
        self.pending.lock().len()
    }

    /// Counts a breaker's state change; `held` is whether its client is
    /// still in the store (a retired breaker leaves the gauge alone).
    pub(crate) fn count_transition(&self, t: Transition, was_tripped: bool, held: bool) {
        let c = &self.counters;
        match t {
            Transition::Opened => c.breaker_opened.fetch_add(1, Relaxed),
            Transition::HalfOpened => c.breaker_half_opened.fetch_add(1, Relaxed),
            Transition::Closed => c.breaker_closed.fetch_add(1, Relaxed),
        };
        if held {
            match (was_tripped, t == Transition::Closed) {
                (false, false) => c.breakers_tripped.fetch_add(1, Relaxed),
                (true, true) => c.breakers_tripped.fetch_sub(1, Relaxed),
                _ => 0,
            };
        }
    }

    fn run_hook(&self, fingerprint: &Fingerprint, client: Arc<C>) {
        self.counters.released.fetch_add(1, Relaxed);
        if let Some(hook) = &self.on_release {
            self.contain(|| hook(fingerprint, client));
        }
    }

    /// Runs a user hook; a panic in it is counted, not spread.
    fn contain(&self, hook: impl FnOnce()) {
        if catch_unwind(AssertUnwindSafe(hook)).is_err() {
            self.counters.hook_panics.fetch_add(1, Relaxed);
        }
    }
}

impl<C> Drop for Keeper<C> {
    /// The store and every lease are gone: nothing will run the queue
    /// later, so the releases still waiting run now.
    fn drop(&mut self) {
        let pending = std::mem::take(&mut *self.pending.lock());
        pending.into_iter().for_each(|p| self.run_hook(&p.fingerprint, p.client));
    }
}
