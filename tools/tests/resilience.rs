//! The client store's resilience and leases over real HTTP: a store of
//! per-key reqwest (or async-openai) clients against the fault-injecting
//! upstream on 127.0.0.1 (`examples/upstream/mod.rs`), directly and through
//! the gateway (`examples/gateway/mod.rs`). Each behaviour is checked by the
//! upstream's own request count:
//!
//! * the breaker opens after N 5xx (or dropped connections) and the
//!   upstream sees no more requests; one probe after the cooldown, whose
//!   success closes it (and whose failure opens it again);
//! * a 429's `Retry-After` sets the retry's wait and the breaker's cooldown;
//! * the rate limit answers 429 with a `Retry-After` and sends nothing;
//! * the retry budget caps the upstream's load at 1 + its ratio;
//! * a streamed answer in flight across its client's eviction completes,
//!   and the client is released only after it ends;
//! * `GET /metrics` serves the store's series, and no key.
//!
//! Every case runs on every backend (`cargo test --test resilience --
//! --list`); time is a `MockClock`. The fault demo's numbers print with
//! `cargo test -p ttlkit-tools --test resilience -- fault_demo --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "resilience/cases.rs"]
mod cases;
#[path = "../examples/gateway/mod.rs"]
mod gateway;
#[path = "resilience/through_gateway.rs"]
mod through_gateway;
#[path = "../examples/upstream/mod.rs"]
mod upstream;

fn main() {
    use libtest_mimic::{Arguments, Trial};
    use ttlkit::BackendKind;

    fn runtime() -> tokio::runtime::Runtime {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2).enable_all().build().unwrap()
    }

    macro_rules! trials {
        ($module:ident, $backend:ident => $($case:ident),* $(,)?) => {
            [$(
                Trial::test(format!("{}::{}", $backend.name(), stringify!($case)), move || {
                    runtime().block_on($module::$case($backend));
                    Ok(())
                })
            ),*]
        };
    }

    let mut all = Vec::new();
    for &backend in BackendKind::ALL {
        all.extend(trials!(cases, backend =>
            breaker_opens_after_n_5xx_and_stops_calling_the_upstream,
            breaker_probes_once_and_closes_or_opens_again,
            dropped_connections_are_failures,
            retry_after_of_a_429_is_honoured,
            retry_budget_caps_the_upstream_load,
        ));
        all.extend(trials!(through_gateway, backend =>
            rate_limit_answers_429_and_sends_nothing,
            stream_in_flight_across_an_eviction_completes,
            metrics_are_scraped_over_http,
        ));
    }
    all.push(Trial::test("openai_client_through_the_gateway", || {
        runtime().block_on(through_gateway::openai_client_through_the_gateway());
        Ok(())
    }));
    all.push(Trial::test("fault_demo", || {
        runtime().block_on(through_gateway::fault_demo());
        Ok(())
    }));
    libtest_mimic::run(&Arguments::from_args(), all).exit();
}
