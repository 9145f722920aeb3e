//! The fault demo: the gateway in front of the fault-injecting upstream,
//! through a healthy phase, a phase where half the upstream's answers are
//! 500s (a seeded draw), and a healed phase; with retries alone (3
//! attempts), then adding each key's circuit breaker, the retry budgets, or
//! both (`Config::protected`). Time is a `MockClock` advanced 10 ms per request (100 requests a
//! second over 10 keys) and by each retry's wait, so a run is repeatable:
//! `cargo run --example llm_gateway -- --fault-demo`.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use ttlkit::client_store::ClientStoreStats;
use ttlkit::clock::MockClock;

use super::clients::UpstreamClient;
use super::{router, serve_local, Config};
use crate::upstream::{Plan, Upstream};

/// Keys the requests go round.
const KEYS: usize = 10;
/// Mock time between two requests.
const TICK: Duration = Duration::from_millis(10);

/// The phases: name, plan, requests (divided by `scale`: 1 for the demo's
/// numbers, more for a quicker check).
pub fn phases(scale: u64) -> [(&'static str, Plan, u64); 3] {
    let half = "500@0.5@42".parse().unwrap_or(Plan::HEALTHY);
    [("healthy", Plan::HEALTHY, 200 / scale), ("50% 5xx", half, 1_000 / scale), ("healed", Plan::HEALTHY, 200 / scale)]
}

/// What one phase came to.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    pub name: &'static str,
    /// Requests sent to the gateway.
    pub requests: u64,
    /// Requests the upstream received (attempts and retries).
    pub upstream: u64,
    /// Answers 200 to the caller.
    pub ok: u64,
    /// Upstream failures relayed (5xx) to the caller.
    pub failed: u64,
    /// Refused by the key's open breaker (503), nothing sent upstream.
    pub refused: u64,
}

/// One run: its phases, the store's counters, and a `/metrics` scrape.
pub struct Run {
    pub label: &'static str,
    pub phases: Vec<Phase>,
    pub stats: ClientStoreStats,
    pub metrics: Option<String>,
}

/// What a run adds to the store's retries (3 attempts in every run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    None,
    Breaker,
    Budget,
    Both,
}

impl Guard {
    pub const ALL: [Guard; 4] = [Guard::None, Guard::Breaker, Guard::Budget, Guard::Both];

    fn label(self) -> &'static str {
        match self {
            Guard::None => "retries only",
            Guard::Breaker => "+ breaker",
            Guard::Budget => "+ budget",
            Guard::Both => "+ breaker + budget",
        }
    }
}

/// Runs the demo with client type `U` and `guard`, its phases divided by
/// `scale`; the store publishes under `name`.
pub async fn run<U: UpstreamClient>(guard: Guard, name: &str, prometheus: Option<PrometheusHandle>, scale: u64) -> Run {
    let upstream = Upstream::local(Plan::HEALTHY).await;
    let clock = MockClock::new();
    let mut config = Config::new(upstream.base.clone());
    config.clock = Some(clock.clone());
    config.name = name.to_owned();
    let protected = config.clone().protected();
    if matches!(guard, Guard::Breaker | Guard::Both) {
        config.breaker = protected.breaker;
    }
    if matches!(guard, Guard::Budget | Guard::Both) {
        config.budget = protected.budget;
    }
    let (app_router, app) = router::<U>(config, prometheus).expect("gateway config");
    let base = serve_local(app_router).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/chat/completions");
    let body = r#"{"model":"fake-model","messages":[{"role":"user","content":"hello"}]}"#;
    let mut done = Vec::new();
    let mut sent = 0usize;
    for (phase_name, plan, requests) in phases(scale.max(1)) {
        upstream.set_plan(plan);
        let before = upstream.requests();
        let mut phase = Phase { name: phase_name, requests, ..Phase::default() };
        for _ in 0..requests {
            let key = format!("sk-demo-{}", sent % KEYS);
            sent += 1;
            let answer =
                http.post(&url).bearer_auth(&key).header("content-type", "application/json").body(body).send().await;
            match answer.map(|r| r.status().as_u16()) {
                Ok(200) => phase.ok += 1,
                Ok(503) => phase.refused += 1,
                _ => phase.failed += 1,
            }
            clock.advance(TICK);
        }
        phase.upstream = upstream.requests() - before;
        done.push(phase);
    }
    let metrics = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) if r.status().is_success() => r.text().await.ok(),
        _ => None,
    };
    Run { label: guard.label(), phases: done, stats: app.store.stats(), metrics }
}

/// The runs as a table.
pub fn table(runs: &[Run]) -> String {
    let mut out =
        String::from("| run | phase | requests | upstream requests | 200 | failed (5xx) | refused (open) |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for run in runs {
        for p in &run.phases {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                run.label, p.name, p.requests, p.upstream, p.ok, p.failed, p.refused
            ));
        }
    }
    out
}

/// The lines of a scrape that belong to store `name`'s series.
pub fn sample(metrics: &str, name: &str) -> String {
    let (store, cache) = (format!("store=\"{name}\""), format!("cache=\"{name}\""));
    metrics.lines().filter(|l| l.contains(&store) || l.contains(&cache)).collect::<Vec<_>>().join("\n")
}
