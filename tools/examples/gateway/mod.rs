//! The LLM gateway behind `examples/llm_gateway.rs`, shared with the HTTP
//! tests: an OpenAI-compatible proxy that keeps one upstream client per
//! caller key in a `ClientStore`, limits each key, breaks the circuit of a
//! failing key, owns the retries (within budgets), and serves its metrics.
//!
//! * `POST /v1/chat/completions` with `Authorization: Bearer <key>`: the
//!   body goes upstream with that key; the answer (or stream) is relayed,
//!   the lease on the key's client held until its last byte.
//! * `GET /stats`: the store's counters as JSON (no key material).
//! * `GET /metrics`: the Prometheus text format, when a recorder is set.

#![allow(dead_code)] // each user takes the parts it needs

pub mod clients;
pub mod demo;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::StreamExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use ttlkit::client_store::{
    ApiKey, BreakerSettings, BudgetSettings, ClientStore, JitterRng, Lease, Open, Quota, RetryDecision, RetryPolicy,
    StoreBuildError,
};
use ttlkit::clock::MockClock;
use ttlkit::BackendKind;

use clients::{error_json, Relay, Sent, UpstreamClient};

/// How the gateway is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The upstream's base URL (`http://127.0.0.1:9090`).
    pub upstream: String,
    pub backend: BackendKind,
    pub idle: Duration,
    pub max_lifetime: Duration,
    pub max_clients: u64,
    /// Attempts per request, the first included (1: no retries).
    pub attempts: u32,
    pub breaker: Option<BreakerSettings>,
    pub budget: Option<BudgetSettings>,
    pub rate_limit: Option<Quota>,
    /// The store's clock; with one, retry waits advance it instead of sleeping.
    pub clock: Option<MockClock>,
    /// The name the store publishes its metrics under.
    pub name: String,
}

impl Config {
    /// Defaults for the upstream at `upstream`: no breaker, budget or limit,
    /// 3 attempts.
    pub fn new(upstream: impl Into<String>) -> Config {
        Config {
            upstream: upstream.into(),
            backend: BackendKind::Mutex,
            idle: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(86_400),
            max_clients: 10_000,
            attempts: 3,
            breaker: None,
            budget: None,
            rate_limit: None,
            clock: None,
            name: "gateway".into(),
        }
    }

    /// The breaker and budget the fault demo and `--protect` use: open a
    /// key's circuit when half of its last 20+ requests over 10 s failed
    /// (or 5 in a row), for 5 s; retries up to 10 % of requests.
    pub fn protected(mut self) -> Config {
        let breaker =
            BreakerSettings::new().failure_rate(0.5, 20, Duration::from_secs(10)).cooldown(Duration::from_secs(5));
        self.breaker = Some(breaker);
        self.budget = BudgetSettings::new(Duration::from_secs(10), 0.1, 0).ok();
        self
    }
}

/// The gateway's shared state.
pub struct App<U: UpstreamClient> {
    pub store: ClientStore<U>,
    upstream: String,
    clock: Option<MockClock>,
    prometheus: Option<PrometheusHandle>,
    seeds: AtomicU64,
    pub requests: AtomicU64,
    pub upstream_errors: AtomicU64,
}

/// The process's Prometheus recorder (one per process: the facade has one
/// global recorder), installed on first use.
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.000_1, 0.001, 0.01, 0.1, 1.0, 10.0];
            let builder = PrometheusBuilder::new().set_buckets(&buckets).ok()?;
            builder.install_recorder().ok()
        })
        .clone()
}

/// The gateway's routes on `config`, and its state (for tests and demos).
pub fn router<U: UpstreamClient>(
    config: Config,
    prometheus: Option<PrometheusHandle>,
) -> Result<(Router, Arc<App<U>>), StoreBuildError> {
    let mut b = ClientStore::builder()
        .idle_timeout(config.idle)
        .max_lifetime(config.max_lifetime)
        .max_clients(config.max_clients)
        .retry(RetryPolicy::new(config.attempts, Duration::from_millis(100), Duration::from_secs(10)))
        .metrics(config.name.clone())
        .on_leave(|fingerprint, _client, cause| eprintln!("gateway: client {fingerprint} left ({cause})"))
        .on_release(|fingerprint, _client| eprintln!("gateway: client {fingerprint} released"));
    if let Some(breaker) = config.breaker {
        b = b.circuit_breaker(breaker);
    }
    if let Some(budget) = config.budget {
        b = b.retry_budget(budget);
    }
    if let Some(quota) = config.rate_limit {
        b = b.rate_limit(quota);
    }
    if let Some(clock) = &config.clock {
        b = b.clock(clock.clone());
    }
    let app = Arc::new(App {
        store: b.build_backend(config.backend)?,
        upstream: config.upstream,
        clock: config.clock,
        prometheus,
        seeds: AtomicU64::new(1),
        requests: AtomicU64::new(0),
        upstream_errors: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/v1/chat/completions", post(completions::<U>))
        .route("/stats", get(stats::<U>))
        .route("/metrics", get(metrics::<U>))
        .with_state(Arc::clone(&app));
    Ok((router, app))
}

/// Serves `router` on a free port of 127.0.0.1; returns its base URL.
pub async fn serve_local(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// What [`forward`] came to.
pub enum Forwarded<T> {
    /// The last attempt's result (a success, or the failure it gave up on).
    Done(T),
    /// The key's circuit is open: nothing (more) was sent.
    Open(Open, Option<T>),
}

/// Sends through `lease` until an attempt succeeds, the store's retry
/// policy or budgets give up, or the key's breaker refuses: the one retry
/// loop, shared by the gateway and the tests. `wait` sleeps (or advances a
/// mock clock).
pub async fn forward<C, T, S, SF, W, WF>(
    lease: &Lease<C>,
    rng: &mut JitterRng,
    mut send: S,
    mut wait: W,
) -> Forwarded<T>
where
    S: FnMut() -> SF,
    SF: Future<Output = (ttlkit::client_store::Outcome, T)>,
    W: FnMut(Duration) -> WF,
    WF: Future<Output = ()>,
{
    let mut last = None;
    let mut attempts = 0;
    loop {
        if let Err(open) = lease.permit() {
            return Forwarded::Open(open, last);
        }
        attempts += 1;
        let (outcome, value) = send().await;
        lease.record(outcome);
        if !outcome.is_failure() {
            return Forwarded::Done(value);
        }
        match lease.retry(attempts, outcome.retry_after(), rng) {
            RetryDecision::Retry(delay) => {
                last = Some(value);
                wait(delay).await;
            }
            RetryDecision::GiveUp(_) => return Forwarded::Done(value),
        }
    }
}

fn error(status: StatusCode, message: &str, retry_in: Option<Duration>) -> Response {
    let mut response = (status, [(CONTENT_TYPE, "application/json")], error_json(message)).into_response();
    if let Some(d) = retry_in {
        // Whole seconds, rounded up: never invite a retry too early.
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

async fn completions<U: UpstreamClient>(State(app): State<Arc<App<U>>>, headers: HeaderMap, body: Bytes) -> Response {
    app.requests.fetch_add(1, Relaxed);
    let Some(auth) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return error(StatusCode::UNAUTHORIZED, "missing Authorization: Bearer <key>", None);
    };
    let key = match ApiKey::from_bearer(auth) {
        Ok(key) => key,
        Err(e) => return error(StatusCode::UNAUTHORIZED, &e.to_string(), None),
    };
    if let Err(limited) = app.store.admit(&key) {
        return error(StatusCode::TOO_MANY_REQUESTS, &limited.to_string(), Some(limited.retry_in));
    }
    let base = app.upstream.clone();
    let lease = match app.store.get_or_create_async(&key, |key| async move { U::create(&key, &base) }).await {
        Ok(lease) => lease,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string(), None),
    };
    let stream = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["stream"] == true);
    let mut rng = JitterRng::seeded(app.seeds.fetch_add(1, Relaxed));
    let send = || {
        let (lease, body) = (&lease, body.clone());
        async move {
            let sent = lease.send(body, stream).await;
            (sent.outcome(), sent)
        }
    };
    let wait = |d: Duration| {
        let clock = app.clock.clone();
        async move {
            match clock {
                Some(clock) => clock.advance(d),
                None => tokio::time::sleep(d).await,
            }
        }
    };
    let sent = match forward(&lease, &mut rng, send, wait).await {
        Forwarded::Done(sent) => sent,
        Forwarded::Open(open, _) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, &open.to_string(), Some(open.retry_in));
        }
    };
    match sent {
        Sent::NoAnswer(why) => {
            app.upstream_errors.fetch_add(1, Relaxed);
            eprintln!("gateway: upstream request for {} failed: {why}", lease.fingerprint());
            error(StatusCode::BAD_GATEWAY, "upstream request failed", None)
        }
        Sent::Answer { status, retry_after, content_type, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let body = match body {
                Relay::Full(bytes) => Body::from(bytes),
                // The lease rides with the stream: the client is not
                // released before its last byte is relayed.
                Relay::Stream(chunks) => Body::from_stream(chunks.map(move |c| {
                    let _held = &lease;
                    c
                })),
            };
            let mut response = (status, body).into_response();
            if let Some(ct) = content_type {
                response.headers_mut().insert(CONTENT_TYPE, ct);
            }
            if let Some(d) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(d.as_secs()));
            }
            response
        }
    }
}

async fn stats<U: UpstreamClient>(State(app): State<Arc<App<U>>>) -> Json<serde_json::Value> {
    let s = app.store.stats();
    Json(json!({
        "client": U::KIND,
        "backend": app.store.backend_name(),
        "requests": app.requests.load(Relaxed),
        "upstream_errors": app.upstream_errors.load(Relaxed),
        "clients": {
            "held": s.held, "created": s.created, "reused": s.reused, "creation_failures": s.creation_failures,
            "expired": s.expired, "evicted": s.evicted, "removed": s.removed, "released": s.released,
            "leases": s.leases,
        },
        "resilience": {
            "rate_limited": s.rate_limited, "breakers_tripped": s.breakers_tripped,
            "breaker_opened": s.breaker_opened, "breaker_closed": s.breaker_closed,
            "breaker_rejected": s.breaker_rejected, "retries": s.retries,
            "retry_budget_exhausted": s.retry_budget_exhausted,
        },
    }))
}

async fn metrics<U: UpstreamClient>(State(app): State<Arc<App<U>>>) -> Response {
    let Some(handle) = &app.prometheus else {
        return (StatusCode::NOT_FOUND, "no metrics recorder\n").into_response();
    };
    app.store.publish_metrics();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}
