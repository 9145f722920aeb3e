//! [`Lease`]: a caller's hold on a stored client, and [`StoredClient`]:
//! what the store keeps per key (the client, its lease count, its breaker,
//! its retry budget).
//!
//! A client is released once it has left the store **and** its last lease
//! is gone. One atomic word decides that: the count of live leases, with a
//! flag bit for "left". The client is released by whoever moves the word to
//! exactly "left, no lease" (the removal listener setting the flag on a
//! count of zero, or the last lease dropping after it was set), which
//! happens once: from that state no lease can be taken any more.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::client_store::breaker::{Breaker, BreakerState, Open, Outcome, Permit, Transition};
use crate::client_store::fingerprint::Fingerprint;
use crate::client_store::keeper::Keeper;
use crate::client_store::retry::{GiveUp, JitterRng, RetryDecision};
use crate::client_store::retry_budget::RetryBudget;

/// The "left the store" flag in [`Held::leases`]; the bits below count leases.
const LEFT: usize = 1 << (usize::BITS - 1);

/// What a [`ClientStore`](crate::client_store::ClientStore) holds per key:
/// the client, how many leases hold it, and its key's circuit breaker and
/// retry budget. Opaque; named only to pick a backend type for
/// [`ClientStoreBuilder::build`](crate::client_store::ClientStoreBuilder::build).
///
/// ```
/// use ttlkit::client_store::{ClientStore, Fingerprint, StoredClient};
/// use ttlkit::MutexCache;
///
/// struct Client;
/// let store: ClientStore<Client, MutexCache<Fingerprint, StoredClient<Client>>> =
///     ClientStore::builder().build()?;
/// assert_eq!(store.backend_name(), "mutex");
/// # Ok::<(), ttlkit::client_store::StoreBuildError>(())
/// ```
pub struct StoredClient<C> {
    held: Arc<Held<C>>,
}

struct Held<C> {
    client: Arc<C>,
    fingerprint: Fingerprint,
    /// Made by the store's factory (released at the end), not adopted.
    created: bool,
    /// Live leases, plus [`LEFT`] once the client has left the store.
    leases: AtomicUsize,
    breaker: Option<Mutex<KeyBreaker>>,
    budget: Option<RetryBudget>,
    keeper: Arc<Keeper<C>>,
}

struct KeyBreaker {
    breaker: Breaker,
    /// Its client left the store: its state no longer counts in the gauge.
    retired: bool,
}

impl<C> Clone for StoredClient<C> {
    fn clone(&self) -> Self {
        StoredClient { held: Arc::clone(&self.held) }
    }
}

impl<C> fmt::Debug for StoredClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.held.leases.load(Ordering::Relaxed);
        f.debug_struct("StoredClient")
            .field("fingerprint", &self.held.fingerprint)
            .field("leases", &(word & !LEFT))
            .field("left", &(word & LEFT != 0))
            .finish_non_exhaustive()
    }
}

impl<C> StoredClient<C> {
    /// Files `client` under `fingerprint`, with one lease on it for the
    /// caller (so it cannot be released before that caller has it).
    pub(crate) fn file(keeper: &Arc<Keeper<C>>, fingerprint: Fingerprint, client: Arc<C>, created: bool) -> Lease<C> {
        let breaker = keeper.breaker.map(|s| Mutex::new(KeyBreaker { breaker: Breaker::new(&s), retired: false }));
        let budget = keeper.key_budget.map(|b| RetryBudget::from_source(b, keeper.clock.clone()));
        let held = Held {
            client,
            fingerprint,
            created,
            leases: AtomicUsize::new(1),
            breaker,
            budget,
            keeper: Arc::clone(keeper),
        };
        keeper.counters.leases.fetch_add(1, Ordering::Relaxed);
        Lease::holding(StoredClient { held: Arc::new(held) })
    }

    pub(crate) fn client(&self) -> &Arc<C> {
        &self.held.client
    }

    pub(crate) fn fingerprint(&self) -> &Fingerprint {
        &self.held.fingerprint
    }

    pub(crate) fn ptr_eq(a: &StoredClient<C>, b: &StoredClient<C>) -> bool {
        Arc::ptr_eq(&a.held, &b.held)
    }

    /// A new lease, unless the client has already been released (it left
    /// the store and its last lease went while the caller looked it up).
    pub(crate) fn try_lease(&self) -> Option<Lease<C>> {
        let leases = &self.held.leases;
        let mut word = leases.load(Ordering::Acquire);
        loop {
            if word == LEFT {
                return None;
            }
            match leases.compare_exchange_weak(word, word + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        self.held.keeper.counters.leases.fetch_add(1, Ordering::Relaxed);
        Some(Lease::holding(self.clone()))
    }

    /// Marks the client as out of the store; releases it if no lease holds
    /// it. Idempotent.
    pub(crate) fn mark_left(&self) {
        if self.held.leases.fetch_or(LEFT, Ordering::AcqRel) == 0 {
            self.release();
        }
    }

    /// Marks the client as out of the store without telling the leave hook
    /// (it never entered the store, or the store itself is gone).
    pub(crate) fn leave_silently(&self) {
        self.retire_breaker();
        self.mark_left();
    }

    /// Takes the breaker out of the store's gauge of tripped breakers.
    pub(crate) fn retire_breaker(&self) {
        let Some(slot) = &self.held.breaker else { return };
        let mut b = slot.lock();
        if !b.retired {
            b.retired = true;
            if b.breaker.is_tripped() {
                self.held.keeper.counters.breakers_tripped.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// The key's breaker state now, if the store runs breakers.
    pub(crate) fn breaker_state(&self) -> Option<BreakerState> {
        let slot = self.held.breaker.as_ref()?;
        let now = self.held.keeper.clock.now();
        Some(slot.lock().breaker.state(now))
    }

    fn release(&self) {
        let h = &self.held;
        h.keeper.release(h.fingerprint, Arc::clone(&h.client), h.created);
    }
}

/// A caller's hold on a stored client: derefs to the client, and while any
/// lease on it lives, the client is not released (the
/// [`on_release`](crate::client_store::ClientStoreBuilder::on_release) hook
/// waits), even after it left the store. Hold it for as long as the client
/// is in use: a streamed response included.
///
/// Through it the caller also asks the key's circuit breaker
/// ([`permit`](Self::permit)), reports what each request came to
/// ([`record`](Self::record)), and asks whether to retry
/// ([`retry`](Self::retry)). A lease stands for one request (and its
/// retries) in the retry budgets; clone it for another.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::{Arc, Mutex};
/// use ttlkit::client_store::{ApiKey, ClientStore, Lease};
/// use ttlkit::BackendKind;
///
/// struct Client { id: u32 }
///
/// let closed = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&closed);
/// let store = ClientStore::<Client>::builder()
///     .on_release(move |_fingerprint, client| log.lock().unwrap().push(client.id))
///     .build_backend(BackendKind::Mutex)?;
/// let key = ApiKey::new("sk-demo-1")?;
/// let lease: Lease<Client> = store.get_or_create(&key, |_| Ok::<_, Infallible>(Client { id: 7 }))?;
/// store.remove(&key); // it left the store...
/// assert_eq!(lease.id, 7, "...but the lease still uses it");
/// assert!(closed.lock().unwrap().is_empty());
/// drop(lease);
/// assert_eq!(*closed.lock().unwrap(), [7], "released with its last lease");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lease<C> {
    stored: StoredClient<C>,
    /// The number of the breaker probe this lease was let through as (0: none).
    probe: AtomicU64,
    /// Whether this lease's request is counted in the retry budgets.
    counted: AtomicBool,
}

impl<C> Lease<C> {
    /// A lease over one count already taken on `stored`.
    fn holding(stored: StoredClient<C>) -> Lease<C> {
        Lease { stored, probe: AtomicU64::new(0), counted: AtomicBool::new(false) }
    }

    pub(crate) fn stored(&self) -> &StoredClient<C> {
        &self.stored
    }

    /// The fingerprint of the key the client is filed under.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.stored.held.fingerprint
    }

    /// Whether two leases hold the same client.
    pub fn ptr_eq(a: &Lease<C>, b: &Lease<C>) -> bool {
        StoredClient::ptr_eq(&a.stored, &b.stored)
    }

    /// Whether a request may go upstream now under the key's circuit
    /// breaker ([`ClientStoreBuilder::circuit_breaker`](crate::client_store::ClientStoreBuilder::circuit_breaker));
    /// always `Ok` without one. Closed, it passes; open, it refuses with the
    /// time left; half-open, it lets exactly one caller through as the
    /// probe (this lease, until it [`record`](Self::record)s or drops) and
    /// refuses the others. A refusal is counted in
    /// [`ClientStoreStats::breaker_rejected`](crate::client_store::ClientStoreStats::breaker_rejected).
    pub fn permit(&self) -> Result<(), Open> {
        let held = &self.stored.held;
        let (Some(slot), Some(settings)) = (&held.breaker, &held.keeper.breaker) else { return Ok(()) };
        let now = held.keeper.clock.now();
        let mut b = slot.lock();
        let mine = self.probe.load(Ordering::Relaxed);
        if mine != 0 && b.breaker.is_probe(mine) {
            return Ok(()); // asked again before reporting: still the probe
        }
        match b.breaker.permit(now, settings) {
            Permit::Pass => Ok(()),
            Permit::Probe { id, opened_half } => {
                self.probe.store(id, Ordering::Relaxed);
                if opened_half {
                    held.keeper.count_transition(Transition::HalfOpened, true, !b.retired);
                }
                Ok(())
            }
            Permit::Refused(retry_in) => {
                held.keeper.counters.breaker_rejected.fetch_add(1, Ordering::Relaxed);
                Err(Open { retry_in })
            }
        }
    }

    /// Reports what a request sent with this client came to, to the key's
    /// circuit breaker (a no-op without one). Use
    /// [`Outcome::from_http_status`] for an HTTP answer and
    /// [`Outcome::CONNECTION_FAILED`] when none came.
    pub fn record(&self, outcome: Outcome) {
        self.count_request();
        let held = &self.stored.held;
        let (Some(slot), Some(settings)) = (&held.breaker, &held.keeper.breaker) else { return };
        let probe = match self.probe.swap(0, Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        };
        let now = held.keeper.clock.now();
        let mut b = slot.lock();
        let was_tripped = b.breaker.is_tripped();
        if let Some(t) = b.breaker.record(now, settings, outcome, probe) {
            held.keeper.count_transition(t, was_tripped, !b.retired);
        }
    }

    /// Whether to retry after `attempts` attempts of this lease's request
    /// failed, by the store's [`RetryPolicy`](crate::client_store::RetryPolicy)
    /// ([`ClientStoreBuilder::retry`](crate::client_store::ClientStoreBuilder::retry)),
    /// honouring the upstream's `retry_after`, within the key's and the
    /// store's retry budgets. Without a policy, never. A retry is counted in
    /// [`ClientStoreStats::retries`](crate::client_store::ClientStoreStats::retries),
    /// a refusal by a budget in `retry_budget_exhausted`.
    pub fn retry(&self, attempts: u32, retry_after: Option<Duration>, rng: &mut JitterRng) -> RetryDecision {
        self.count_request();
        let keeper = &self.stored.held.keeper;
        let Some(policy) = keeper.retry else { return RetryDecision::GiveUp(GiveUp::Attempts) };
        let decision = match (&self.stored.held.budget, &keeper.store_budget) {
            (Some(key), Some(store)) => policy.decide(attempts, retry_after, &[key, store], rng),
            (Some(one), None) | (None, Some(one)) => policy.decide(attempts, retry_after, &[one], rng),
            (None, None) => policy.decide(attempts, retry_after, &[], rng),
        };
        let counters = &keeper.counters;
        match decision {
            RetryDecision::Retry(_) => counters.retries.fetch_add(1, Ordering::Relaxed),
            RetryDecision::GiveUp(GiveUp::Budget) => counters.retry_budget_exhausted.fetch_add(1, Ordering::Relaxed),
            RetryDecision::GiveUp(_) => 0,
        };
        decision
    }

    /// The key's circuit breaker now, if the store runs breakers.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.stored.breaker_state()
    }

    /// Counts this lease's request in the retry budgets, once.
    fn count_request(&self) {
        if self.counted.swap(true, Ordering::Relaxed) {
            return;
        }
        let held = &self.stored.held;
        held.budget.iter().chain(held.keeper.store_budget.iter()).for_each(RetryBudget::record_request);
    }
}

impl<C> Deref for Lease<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.stored.held.client
    }
}

impl<C> Clone for Lease<C> {
    /// Another lease on the same client (with no probe turn and its own
    /// request in the budgets).
    fn clone(&self) -> Self {
        let held = &self.stored.held;
        // This lease holds a count, so the word is not "left, no lease".
        held.leases.fetch_add(1, Ordering::AcqRel);
        held.keeper.counters.leases.fetch_add(1, Ordering::Relaxed);
        Lease::holding(self.stored.clone())
    }
}

impl<C> Drop for Lease<C> {
    fn drop(&mut self) {
        let held = &self.stored.held;
        let probe = *self.probe.get_mut();
        if let (true, Some(slot)) = (probe != 0, &held.breaker) {
            slot.lock().breaker.abandon(probe);
        }
        held.keeper.counters.leases.fetch_sub(1, Ordering::Relaxed);
        if held.leases.fetch_sub(1, Ordering::AcqRel) == LEFT | 1 {
            self.stored.release();
        }
    }
}

impl<C> fmt::Debug for Lease<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease").field("client", &self.stored).finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
