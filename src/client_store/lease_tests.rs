//! Leases and releases, the breaker and the retries through a store, on
//! every backend, with a mock clock.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::client_store::{
    ApiKey, BreakerSettings, BreakerState, BudgetSettings, ClientStore, ClientStoreBuilder, GiveUp, JitterRng, Lease,
    Open, Outcome, RetryDecision, RetryPolicy,
};
use crate::clock::MockClock;
use crate::kind::BackendKind;

/// A client that knows whether it was released.
struct Client {
    id: usize,
    released: AtomicBool,
}

/// What the hooks saw, in order: ("leave" | "release", client id).
type Log = Arc<Mutex<Vec<(&'static str, usize)>>>;

struct Fixture {
    store: ClientStore<Client>,
    clock: MockClock,
    log: Log,
    made: Arc<AtomicUsize>,
}

impl Fixture {
    fn new(
        backend: BackendKind,
        tune: impl FnOnce(ClientStoreBuilder<Client>) -> ClientStoreBuilder<Client>,
    ) -> Fixture {
        let (clock, log) = (MockClock::new(), Log::default());
        let (leave_log, release_log) = (Arc::clone(&log), Arc::clone(&log));
        let builder = ClientStore::builder()
            .clock(clock.clone())
            .no_sweeper()
            .on_leave(move |_, c: Arc<Client>, _| leave_log.lock().unwrap().push(("leave", c.id)))
            .on_release(move |_, c: Arc<Client>| {
                assert!(!c.released.swap(true, Ordering::SeqCst), "client {} released twice", c.id);
                release_log.lock().unwrap().push(("release", c.id));
            });
        let store = tune(builder).build_backend(backend).unwrap();
        Fixture { store, clock, log, made: Arc::default() }
    }

    fn lease(&self, key: &str) -> Lease<Client> {
        let made = Arc::clone(&self.made);
        let create = move |_: &ApiKey| {
            Ok::<_, Infallible>(Client { id: made.fetch_add(1, Ordering::SeqCst), released: AtomicBool::new(false) })
        };
        self.store.get_or_create(&ApiKey::new(key).unwrap(), create).unwrap()
    }

    fn log(&self) -> Vec<(&'static str, usize)> {
        self.log.lock().unwrap().clone()
    }
}

fn key(k: &str) -> ApiKey {
    ApiKey::new(k).unwrap()
}

#[test]
fn released_once_after_it_left_and_its_last_lease_went() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b);
        let (first, second) = (f.lease("sk-a"), f.lease("sk-a"));
        let third = second.clone();
        assert_eq!(f.store.stats().leases, 3);
        drop(first);
        assert!(f.store.remove(&key("sk-a")).is_some());
        assert_eq!(f.log(), [("leave", 0)], "{backend}: leases remain: not released");
        drop(second);
        assert!(!third.released.load(Ordering::SeqCst));
        drop(third);
        assert_eq!(f.log(), [("leave", 0), ("release", 0)], "{backend}");
        let stats = f.store.stats();
        assert_eq!((stats.leases, stats.released), (0, 1), "{backend}");
        // Idle clients are released as they leave.
        drop(f.lease("sk-b"));
        f.clock.advance(Duration::from_secs(3601));
        f.store.purge_expired();
        assert_eq!(f.log()[2..], [("leave", 1), ("release", 1)], "{backend}");
    }
}

#[test]
fn a_lease_outlives_an_eviction() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b.max_clients(1));
        let busy = f.lease("sk-busy");
        for i in 0..20 {
            drop(f.lease(&format!("sk-other-{i}")));
            f.store.purge_expired(); // runs pending evictions (moka, sharded)
        }
        assert!(!f.store.contains(&key("sk-busy")), "{backend}: crowded out");
        assert!(f.log().contains(&("leave", 0)), "{backend}");
        assert!(!busy.released.load(Ordering::SeqCst), "{backend}: released under a live lease");
        drop(busy);
        assert!(f.log().ends_with(&[("release", 0)]) || f.log().contains(&("release", 0)), "{backend}");
        assert_eq!(f.store.stats().released as usize, f.log().iter().filter(|(e, _)| *e == "release").count());
    }
}

#[test]
fn the_grace_window_delays_the_release() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b.release_grace(Duration::from_secs(30)));
        drop(f.lease("sk-a"));
        f.store.remove(&key("sk-a"));
        assert_eq!(f.store.stats().awaiting_release, 1);
        f.clock.advance(Duration::from_secs(29));
        assert_eq!(f.store.release_due(), 0);
        f.clock.advance(Duration::from_secs(1));
        assert_eq!(f.store.release_due(), 1);
        assert_eq!(f.log(), [("leave", 0), ("release", 0)], "{backend}");
        assert_eq!(f.store.stats().awaiting_release, 0);
    }
}

#[test]
fn adopted_clients_are_never_released() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b);
        let mine = Arc::new(Client { id: 99, released: AtomicBool::new(false) });
        let lease = f.store.adopt(&key("sk-a"), Arc::clone(&mine));
        assert!(Lease::ptr_eq(&lease, &f.lease("sk-a")), "{backend}: leased like any other");
        drop(lease);
        f.store.remove(&key("sk-a"));
        assert_eq!(f.log(), [("leave", 99)], "{backend}: the app closes what it made");
        assert_eq!(f.made.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn a_client_never_stored_is_released_with_its_last_lease() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b);
        let (s, k) = (f.store.clone(), key("sk-a"));
        let create = move |_: &ApiKey| {
            s.remove(&k); // the key is revoked while its client is made
            Ok::<_, Infallible>(Client { id: 5, released: AtomicBool::new(false) })
        };
        let lease = f.store.get_or_create(&key("sk-a"), create).unwrap();
        assert!(!f.store.contains(&key("sk-a")), "{backend}");
        assert!(f.log().is_empty());
        drop(lease);
        assert_eq!(f.log(), [("release", 5)], "{backend}: no leave (it never entered), but released");
    }
}

#[test]
fn dropping_the_store_releases_what_it_held() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b);
        drop(f.lease("sk-idle"));
        let busy = f.lease("sk-busy");
        let Fixture { store, log, .. } = f;
        drop(store);
        let released = |log: &Log| log.lock().unwrap().iter().filter(|(e, _)| *e == "release").count();
        assert_eq!(released(&log), 1, "{backend}: the idle one at once");
        drop(busy);
        assert_eq!(released(&log), 2, "{backend}: the busy one with its lease");
    }
}

#[test]
fn waiting_releases_run_when_the_store_and_its_leases_are_gone() {
    let f = Fixture::new(BackendKind::Mutex, |b| b.release_grace(Duration::from_secs(3600)));
    drop(f.lease("sk-a"));
    f.store.remove(&key("sk-a"));
    let Fixture { store, log, .. } = f;
    drop(store);
    assert_eq!(*log.lock().unwrap(), [("leave", 0), ("release", 0)], "nothing would run the queue later");
}

#[test]
fn a_panicking_release_hook_is_contained() {
    let store = ClientStore::<u8>::builder()
        .no_sweeper()
        .on_release(|_, _| panic!("close failed"))
        .build_backend(BackendKind::Mutex)
        .unwrap();
    drop(store.get_or_create(&key("sk-a"), |_| Ok::<_, Infallible>(1)).unwrap());
    store.remove(&key("sk-a"));
    let stats = store.stats();
    assert_eq!((stats.hook_panics, stats.released), (1, 1));
}

/// Threads lease and drop clients of a few keys while the store evicts
/// them (two slots for four keys): no client is released while a lease
/// holds it, and every client made is released exactly once in the end.
#[test]
fn racing_leases_and_evictions_release_each_client_once() {
    for &backend in BackendKind::ALL {
        let f = Fixture::new(backend, |b| b.max_clients(2));
        std::thread::scope(|s| {
            for t in 0..4 {
                let f = &f;
                s.spawn(move || {
                    for i in 0..300 {
                        let lease = f.lease(&format!("sk-{}", (t + i) % 4));
                        assert!(!lease.released.load(Ordering::SeqCst), "{backend}: a released client was leased");
                        if i % 7 == 0 {
                            f.store.purge_expired();
                        }
                        assert!(!lease.released.load(Ordering::SeqCst), "{backend}: released under a lease");
                    }
                });
            }
        });
        f.store.clear();
        let made = f.made.load(Ordering::SeqCst);
        let stats = f.store.stats();
        assert_eq!((stats.leases, stats.released as usize), (0, made), "{backend}: {stats}");
    }
}

fn breaker_fixture(backend: BackendKind) -> Fixture {
    let settings = BreakerSettings::new().consecutive_failures(3).cooldown(Duration::from_secs(10));
    Fixture::new(backend, |b| b.circuit_breaker(settings))
}

#[test]
fn the_breaker_opens_refuses_probes_once_and_closes() {
    for &backend in BackendKind::ALL {
        let f = breaker_fixture(backend);
        let lease = f.lease("sk-a");
        for _ in 0..3 {
            assert_eq!(lease.permit(), Ok(()));
            lease.record(Outcome::from_http_status(503, None));
        }
        assert_eq!(f.lease("sk-a").permit(), Err(Open { retry_in: Duration::from_secs(10) }), "{backend}");
        assert_eq!(f.store.breaker_state(&key("sk-a")), Some(BreakerState::Open { retry_in: Duration::from_secs(10) }));
        assert_eq!(f.lease("sk-b").permit(), Ok(()), "{backend}: per key");
        f.clock.advance(Duration::from_secs(10));
        let (probe, other) = (f.lease("sk-a"), f.lease("sk-a"));
        assert_eq!(probe.permit(), Ok(()));
        assert_eq!(probe.permit(), Ok(()), "asking again is still the probe");
        assert!(other.permit().is_err(), "{backend}: one probe at a time");
        assert_eq!(other.breaker_state(), Some(BreakerState::HalfOpen));
        probe.record(Outcome::Success);
        assert_eq!(other.permit(), Ok(()), "{backend}: closed");
        let s = f.store.stats();
        assert_eq!(
            (s.breaker_opened, s.breaker_half_opened, s.breaker_closed, s.breaker_rejected, s.breakers_tripped),
            (1, 1, 1, 2, 0),
            "{backend}: {s}"
        );
    }
}

#[test]
fn a_dropped_probe_passes_the_turn_and_the_state_leaves_with_the_client() {
    for &backend in BackendKind::ALL {
        let f = breaker_fixture(backend);
        let lease = f.lease("sk-a");
        (0..3).for_each(|_| lease.record(Outcome::CONNECTION_FAILED));
        assert_eq!(f.store.stats().breakers_tripped, 1);
        f.clock.advance(Duration::from_secs(10));
        let probe = f.lease("sk-a");
        assert_eq!(probe.permit(), Ok(()));
        drop(probe);
        assert_eq!(f.lease("sk-a").permit(), Ok(()), "{backend}: the next caller probes");
        f.store.remove(&key("sk-a"));
        assert_eq!(f.store.stats().breakers_tripped, 0, "{backend}: gone with its client");
        assert_eq!(
            lease.breaker_state(),
            Some(BreakerState::HalfOpen),
            "a lease on the old client still sees its breaker"
        );
        assert_eq!(f.lease("sk-a").permit(), Ok(()), "{backend}: the new client's breaker is closed");
        assert_eq!(f.store.breaker_state(&key("sk-a")), Some(BreakerState::Closed));
    }
}

#[test]
fn retries_follow_the_policy_within_the_budgets() {
    for &backend in BackendKind::ALL {
        let budget = BudgetSettings::new(Duration::from_secs(10), 0.5, 0).unwrap();
        let policy = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(5));
        let f = Fixture::new(backend, |b| b.retry(policy).retry_budget(budget));
        let mut rng = JitterRng::seeded(1);
        let leases: Vec<_> = (0..4).map(|_| f.lease("sk-a")).collect();
        // Four requests (their first attempts) allow two retries.
        leases.iter().for_each(|l| l.record(Outcome::CONNECTION_FAILED));
        let asked = Some(Duration::from_secs(2));
        assert_eq!(leases[0].retry(1, asked, &mut rng), RetryDecision::Retry(Duration::from_secs(2)));
        assert!(matches!(leases[1].retry(1, None, &mut rng), RetryDecision::Retry(_)));
        assert_eq!(leases[2].retry(1, None, &mut rng), RetryDecision::GiveUp(GiveUp::Budget), "{backend}");
        assert_eq!(leases[3].retry(3, None, &mut rng), RetryDecision::GiveUp(GiveUp::Attempts));
        let s = f.store.stats();
        assert_eq!((s.retries, s.retry_budget_exhausted), (2, 1), "{backend}");
        let plain = Fixture::new(backend, |b| b);
        assert_eq!(plain.lease("sk-a").retry(1, None, &mut rng), RetryDecision::GiveUp(GiveUp::Attempts), "no policy");
    }
}

#[test]
fn the_store_budget_spans_keys() {
    // Every key may retry once however few its requests; so may the store.
    let budget = BudgetSettings::new(Duration::from_secs(10), 0.0, 1).unwrap();
    let f = Fixture::new(BackendKind::Mutex, |b| b.retry(RetryPolicy::default()).retry_budget(budget));
    let mut rng = JitterRng::seeded(1);
    assert!(matches!(f.lease("sk-a").retry(1, None, &mut rng), RetryDecision::Retry(_)));
    let b = f.lease("sk-b");
    assert_eq!(b.retry(1, None, &mut rng), RetryDecision::GiveUp(GiveUp::Budget), "the store's one retry is spent");
    f.clock.advance(Duration::from_secs(10));
    assert!(matches!(b.retry(1, None, &mut rng), RetryDecision::Retry(_)), "sk-b's own budget was refunded");
}
