//! The store directly (a `PlainClient` per key) against the upstream.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use ttlkit::client_store::{
    ApiKey, BreakerSettings, BudgetSettings, ClientStore, ClientStoreBuilder, JitterRng, Open, RetryPolicy,
};
use ttlkit::clock::MockClock;
use ttlkit::BackendKind;

use crate::gateway::clients::{PlainClient, Sent, UpstreamClient};
use crate::gateway::{forward, Forwarded};
use crate::upstream::{Fault, Plan, Upstream};

const BODY: &str = r#"{"model":"fake-model","messages":[{"role":"user","content":"hi"}]}"#;

pub struct Fixture {
    pub upstream: Upstream,
    pub store: ClientStore<PlainClient>,
    pub clock: MockClock,
    /// Every wait the retry loop asked for.
    pub waits: Mutex<Vec<Duration>>,
}

/// What one request came to: the upstream's status (0: no answer), or a
/// refusal by the key's breaker.
pub type Called = Result<u16, Open>;

impl Fixture {
    pub async fn new(
        backend: BackendKind,
        plan: Plan,
        tune: impl FnOnce(ClientStoreBuilder<PlainClient>) -> ClientStoreBuilder<PlainClient>,
    ) -> Fixture {
        let upstream = Upstream::local(plan).await;
        let clock = MockClock::new();
        let store = tune(ClientStore::builder().clock(clock.clone()).no_sweeper()).build_backend(backend).unwrap();
        Fixture { upstream, store, clock, waits: Mutex::default() }
    }

    /// One request for `key`, with the store's retries; waits advance the clock.
    pub async fn call(&self, key: &str) -> Called {
        let base = self.upstream.base.clone();
        let lease = self
            .store
            .get_or_create_async(&ApiKey::new(key).unwrap(), |k| async move { PlainClient::create(&k, &base) })
            .await
            .unwrap();
        let send = || async {
            let sent = lease.send(Bytes::from_static(BODY.as_bytes()), false).await;
            (sent.outcome(), sent)
        };
        let wait = |d: Duration| {
            self.waits.lock().unwrap().push(d);
            self.clock.advance(d);
            std::future::ready(())
        };
        match forward(&lease, &mut JitterRng::seeded(7), send, wait).await {
            Forwarded::Done(Sent::Answer { status, .. }) => Ok(status),
            Forwarded::Done(Sent::NoAnswer(_)) => Ok(0),
            Forwarded::Open(open, _) => Err(open),
        }
    }
}

fn breaker(n: u32) -> BreakerSettings {
    BreakerSettings::new().consecutive_failures(n).cooldown(Duration::from_secs(10))
}

pub async fn breaker_opens_after_n_5xx_and_stops_calling_the_upstream(backend: BackendKind) {
    let f = Fixture::new(backend, Plan::always(Fault::Status { code: 500, retry_after: None }), |b| {
        b.circuit_breaker(breaker(3))
    })
    .await;
    let mut answers = Vec::new();
    for _ in 0..20 {
        answers.push(f.call("sk-test-failing").await);
    }
    println!("{backend}: 20 requests, always 500, breaker at 3: upstream saw {}", f.upstream.requests());
    assert_eq!(answers[..3], [Ok(500), Ok(500), Ok(500)]);
    assert!(answers[3..].iter().all(|a| *a == Err(Open { retry_in: Duration::from_secs(10) })), "{answers:?}");
    assert_eq!(f.upstream.requests(), 3, "the open breaker sends nothing upstream");
    assert_eq!(f.call("sk-test-other").await, Ok(500), "another key has its own breaker");
    let s = f.store.stats();
    assert_eq!((s.breaker_opened, s.breaker_rejected, s.breakers_tripped), (1, 17, 1));
}

pub async fn breaker_probes_once_and_closes_or_opens_again(backend: BackendKind) {
    let f = Fixture::new(backend, Plan::always(Fault::Status { code: 503, retry_after: None }), |b| {
        b.circuit_breaker(breaker(2))
    })
    .await;
    for _ in 0..2 {
        f.call("sk-test-probe").await.unwrap();
    }
    f.clock.advance(Duration::from_secs(10));
    assert_eq!(f.call("sk-test-probe").await, Ok(503), "the probe goes through, and fails");
    assert!(f.call("sk-test-probe").await.is_err(), "open again at once");
    assert_eq!(f.upstream.requests(), 3);
    f.upstream.set_plan(Plan::always(Fault::Slow { millis: 300 }));
    f.clock.advance(Duration::from_secs(10));
    // Two callers at the half-open breaker: one probe, one refusal.
    let (first, second) = tokio::join!(f.call("sk-test-probe"), async {
        // Until the probe is in flight at the upstream (a slow answer).
        let start = std::time::Instant::now();
        while f.upstream.requests() < 4 && start.elapsed() < Duration::from_secs(10) {
            tokio::task::yield_now().await;
        }
        f.call("sk-test-probe").await
    });
    assert_eq!((first, second.is_err()), (Ok(200), true), "{backend}");
    assert_eq!(f.upstream.requests(), 4, "one probe reached the upstream");
    f.upstream.set_plan(Plan::HEALTHY);
    for _ in 0..5 {
        assert_eq!(f.call("sk-test-probe").await, Ok(200), "closed");
    }
    assert_eq!(f.upstream.requests(), 9);
    let s = f.store.stats();
    assert_eq!((s.breaker_opened, s.breaker_half_opened, s.breaker_closed, s.breakers_tripped), (2, 2, 1, 0), "{s}");
}

pub async fn dropped_connections_are_failures(backend: BackendKind) {
    let f = Fixture::new(backend, Plan::always(Fault::Drop), |b| b.circuit_breaker(breaker(2))).await;
    assert_eq!(f.call("sk-test-cut").await, Ok(0), "no answer");
    assert_eq!(f.call("sk-test-cut").await, Ok(0));
    assert!(f.call("sk-test-cut").await.is_err(), "{backend}: two cuts opened it");
    assert_eq!(f.upstream.requests(), 2);
}

pub async fn retry_after_of_a_429_is_honoured(backend: BackendKind) {
    let throttled = Plan::always(Fault::Status { code: 429, retry_after: Some(7) });
    let policy = RetryPolicy::new(2, Duration::from_millis(100), Duration::from_secs(30));
    let f = Fixture::new(backend, throttled, |b| b.retry(policy).circuit_breaker(breaker(2))).await;
    assert_eq!(f.call("sk-test-throttled").await, Ok(429), "two attempts, both 429");
    assert_eq!(*f.waits.lock().unwrap(), [Duration::from_secs(7)], "the retry waited the Retry-After, not 100 ms");
    assert_eq!(f.upstream.requests(), 2);
    // The second 429 opened the breaker, for its Retry-After rather than the 10 s cooldown.
    assert_eq!(f.call("sk-test-throttled").await, Err(Open { retry_in: Duration::from_secs(7) }));
    f.upstream.set_plan(Plan::HEALTHY);
    f.clock.advance(Duration::from_secs(7));
    assert_eq!(f.call("sk-test-throttled").await, Ok(200), "{backend}: probed after 7 s, and closed");
    assert_eq!(f.upstream.requests(), 3);
}

pub async fn retry_budget_caps_the_upstream_load(backend: BackendKind) {
    let always_500 = Plan::always(Fault::Status { code: 500, retry_after: None });
    let policy = RetryPolicy::new(4, Duration::from_millis(1), Duration::from_millis(1));
    let budget = BudgetSettings::new(Duration::from_secs(60), 0.2, 0).unwrap();
    let unbudgeted = Fixture::new(backend, always_500, |b| b.retry(policy)).await;
    let budgeted = Fixture::new(backend, always_500, |b| b.retry(policy).retry_budget(budget)).await;
    for _ in 0..50 {
        assert_eq!(unbudgeted.call("sk-test-load").await, Ok(500));
        assert_eq!(budgeted.call("sk-test-load").await, Ok(500));
    }
    let (without, with) = (unbudgeted.upstream.requests(), budgeted.upstream.requests());
    println!(
        "{backend}: 50 requests, always 500, 4 attempts: upstream saw {without} without a budget, {with} with 20 %"
    );
    assert_eq!(without, 200, "every request tried 4 times");
    assert_eq!(with, 60, "50 requests and 20 % of them in retries");
    let s = budgeted.store.stats();
    assert_eq!((s.retries, s.retry_budget_exhausted), (10, 50), "each retried request was refused its second retry");
}
