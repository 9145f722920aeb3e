//! Through the gateway: a client -> the gateway (a store of per-key upstream
//! clients) -> the fault-injecting upstream, all on 127.0.0.1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_openai::config::OpenAIConfig;
use ttlkit::client_store::{ApiKey, BreakerSettings, Quota};
use ttlkit::clock::MockClock;
use ttlkit::BackendKind;

use crate::gateway::clients::{PlainClient, UpstreamClient};
use crate::gateway::{demo, prometheus, router, serve_local, App, Config};
use crate::upstream::{Fault, Plan, Upstream};

struct Gateway<U: UpstreamClient> {
    upstream: Upstream,
    app: Arc<App<U>>,
    url: String,
    clock: MockClock,
    http: reqwest::Client,
}

impl<U: UpstreamClient> Gateway<U> {
    async fn start(backend: BackendKind, name: &str, tune: impl FnOnce(Config) -> Config) -> Gateway<U> {
        let upstream = Upstream::local(Plan::HEALTHY).await;
        let clock = MockClock::new();
        let mut config = Config::new(upstream.base.clone());
        config.backend = backend;
        config.clock = Some(clock.clone());
        config.name = name.to_owned();
        let (r, app) = router::<U>(tune(config), prometheus()).unwrap();
        let url = serve_local(r).await;
        Gateway { upstream, app, url, clock, http: reqwest::Client::new() }
    }

    async fn ask(&self, key: &str, stream: bool) -> reqwest::Response {
        let body = serde_json::json!({"model": "fake-model", "stream": stream, "messages": [{"role": "user", "content": "hello"}]});
        let url = format!("{}/v1/chat/completions", self.url);
        self.http.post(url).bearer_auth(key).json(&body).send().await.unwrap()
    }

    async fn get(&self, path: &str) -> String {
        self.http.get(format!("{}{path}", self.url)).send().await.unwrap().text().await.unwrap()
    }
}

pub async fn rate_limit_answers_429_and_sends_nothing(backend: BackendKind) {
    let g = Gateway::<PlainClient>::start(backend, "limited", |mut c| {
        c.rate_limit = Some(Quota::per_second(5, 2).unwrap());
        c
    })
    .await;
    let mut statuses = Vec::new();
    let mut waits = Vec::new();
    for _ in 0..6 {
        let r = g.ask("sk-test-limited", false).await;
        statuses.push(r.status().as_u16());
        waits.extend(r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()));
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429], "{backend}: a burst of 2");
    assert_eq!(waits, ["1"; 4], "200 ms, rounded up to whole seconds");
    assert_eq!(g.upstream.requests(), 2, "refused requests never left the gateway");
    assert_eq!(g.ask("sk-test-other", false).await.status(), 200, "each key has its own quota");
    g.clock.advance(Duration::from_millis(200));
    assert_eq!(g.ask("sk-test-limited", false).await.status(), 200);
    assert_eq!(g.app.store.stats().rate_limited, 4);
}

/// Polls `done` (the server finishes a relayed stream on its own task).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub async fn stream_in_flight_across_an_eviction_completes(backend: BackendKind) {
    let g = Gateway::<PlainClient>::start(backend, "streams", |mut c| {
        c.max_clients = 1;
        c
    })
    .await;
    g.upstream.set_plan(Plan::always(Fault::Hold));
    let mut streaming = g.ask("sk-test-streaming", true).await;
    assert_eq!(streaming.status(), 200);
    let first = streaming.chunk().await.unwrap().expect("the first chunk");
    assert!(String::from_utf8_lossy(&first).contains("echo: "));
    g.upstream.set_plan(Plan::HEALTHY);
    let streaming_key = ApiKey::new("sk-test-streaming").unwrap();
    // Other keys crowd the streaming key's client out (TinyLFU may refuse a
    // newcomer a few times first).
    for i in 0..20 {
        assert_eq!(g.ask(&format!("sk-test-crowd-{i}"), false).await.status(), 200);
        g.app.store.purge_expired();
        if !g.app.store.contains(&streaming_key) {
            break;
        }
    }
    assert!(!g.app.store.contains(&streaming_key), "{backend}: evicted while streaming");
    let before = g.app.store.stats();
    assert!(before.evicted >= 1, "{before}");
    assert_eq!(before.leases, 1, "{backend}: only the stream holds a lease");
    assert_eq!(
        before.released,
        before.evicted - 1,
        "{backend}: every evicted client but the streaming one is released"
    );
    g.upstream.release_held();
    let mut rest = Vec::new();
    while let Some(chunk) = streaming.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(
        rest.contains("hello") && rest.trim_end().ends_with("data: [DONE]"),
        "{backend}: the stream completed: {rest}"
    );
    until("the streaming client's release", || g.app.store.stats().released == before.released + 1).await;
    assert_eq!(g.app.store.stats().leases, 0);
}

pub async fn metrics_are_scraped_over_http(backend: BackendKind) {
    let name = format!("scrape_{}", backend.name());
    let breaker = BreakerSettings::new().consecutive_failures(1);
    let g = Gateway::<PlainClient>::start(backend, &name, |mut c| {
        c.breaker = Some(breaker);
        c.attempts = 1;
        c
    })
    .await;
    for _ in 0..3 {
        assert_eq!(g.ask("sk-test-SCRAPED-key", false).await.status(), 200);
    }
    g.upstream.set_plan(Plan::always(Fault::Status { code: 500, retry_after: None }));
    assert_eq!(g.ask("sk-test-SCRAPED-key", false).await.status(), 500);
    assert_eq!(g.ask("sk-test-SCRAPED-key", false).await.status(), 503, "open");
    let text = g.get("/metrics").await;
    let has = |series: &str, labels: &[&str], value: &str| {
        text.lines().any(|l| {
            l.starts_with(series) && labels.iter().all(|x| l.contains(x)) && l.split_whitespace().last() == Some(value)
        })
    };
    let (store, cache) = (format!("store=\"{name}\""), format!("cache=\"{name}\""));
    for (series, labels, value) in [
        ("ttlkit_store_clients_total", vec![store.as_str(), "event=\"created\""], "1"),
        ("ttlkit_store_clients_total", vec![store.as_str(), "event=\"reused\""], "4"),
        ("ttlkit_store_leases", vec![store.as_str()], "0"),
        ("ttlkit_store_breaker_transitions_total", vec![store.as_str(), "to=\"open\""], "1"),
        ("ttlkit_store_breaker_rejections_total", vec![store.as_str()], "1"),
        ("ttlkit_store_breakers_tripped", vec![store.as_str()], "1"),
        ("ttlkit_store_rate_limited_total", vec![store.as_str()], "0"),
        ("ttlkit_store_retries_total", vec![store.as_str()], "0"),
        ("ttlkit_cache_entries", vec![cache.as_str()], "1"),
        ("ttlkit_cache_hits_total", vec![cache.as_str()], "4"),
        ("ttlkit_cache_load_seconds_count", vec![cache.as_str()], "1"),
    ] {
        assert!(has(series, &labels, value), "{backend}: no {series}{labels:?} {value} in:\n{text}");
    }
    assert!(!text.contains("SCRAPED"), "a key in the metrics");
    let fingerprint = g.app.store.fingerprint(&ApiKey::new("sk-test-SCRAPED-key").unwrap()).to_string();
    assert!(!text.contains(&fingerprint), "a fingerprint in the metrics");
}

pub async fn openai_client_through_the_gateway() {
    type OpenAi = async_openai::Client<OpenAIConfig>;
    let g = Gateway::<OpenAi>::start(BackendKind::Mutex, "openai", |mut c| {
        c.breaker = Some(BreakerSettings::new().consecutive_failures(2));
        c.attempts = 1;
        c
    })
    .await;
    let answer = g.ask("sk-test-openai", false).await;
    assert_eq!(answer.status(), 200);
    let json: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(json["choices"][0]["message"]["content"], "echo: hello");
    let streamed = g.ask("sk-test-openai", true).await.text().await.unwrap();
    assert!(
        streamed.contains("echo: ") && streamed.contains("hello") && streamed.ends_with("data: [DONE]\n\n"),
        "{streamed}"
    );
    assert_eq!(g.upstream.authorizations(), ["Bearer sk-test-openai"; 2]);
    g.upstream.set_plan(Plan::always(Fault::Status { code: 500, retry_after: None }));
    let statuses = [g.ask("sk-test-openai", false).await.status(), g.ask("sk-test-openai", false).await.status()];
    assert_eq!(statuses.map(|s| s.as_u16()), [500, 500]);
    assert_eq!(g.ask("sk-test-openai", false).await.status(), 503, "async-openai's 500s opened the breaker");
    assert_eq!(g.upstream.requests(), 4);
    assert_eq!(g.app.store.stats().created, 1, "one async-openai client for the key");
}

/// The fault demo at half its size (the full one: `cargo run --example
/// llm_gateway -- --fault-demo`).
pub async fn fault_demo() {
    let baseline = demo::run::<PlainClient>(demo::Guard::None, "demo_retries_only", prometheus(), 2).await;
    let protected = demo::run::<PlainClient>(demo::Guard::Both, "demo_protected", prometheus(), 2).await;
    let runs = [baseline, protected];
    println!("{}", demo::table(&runs));
    for run in &runs {
        println!("{}: {}", run.label, run.stats);
    }
    let (base, prot) = (&runs[0].phases, &runs[1].phases);
    assert_eq!((base[0].upstream, prot[0].upstream), (100, 100), "healthy: one upstream request per request");
    assert!(base[1].upstream > 750, "retries alone: {} upstream requests for 500", base[1].upstream);
    let (with, without) = (prot[1].upstream, base[1].upstream);
    assert!(with * 10 < without * 6, "the breaker and budget: {with} upstream requests vs {without}");
    assert!(with * 10 <= prot[1].requests * 11, "retries within 10 % of requests: {with}");
    let scrape = runs[1].metrics.as_deref().expect("a /metrics scrape");
    println!("{}", demo::sample(scrape, "demo_protected"));
    assert!(scrape.contains("ttlkit_store_breaker_transitions_total{store=\"demo_protected\",to=\"open\"}"));
}
