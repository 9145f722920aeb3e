//! The client store over real HTTP: a reqwest client (rustls, no system
//! OpenSSL) per API key, talking to an axum server on 127.0.0.1:0 that
//! counts the TCP connections it accepts and records each request's
//! `Authorization` header. The numbers asserted:
//!
//! * 100 sequential requests with one key through the store: 1 connection
//!   (and without the store, a new client per request: 100);
//! * 2 keys: 2 clients, 2 connections, each request carrying its own key;
//! * idle timeout passed (`MockClock`): a new client, and the hook saw the
//!   old one leave; the same at max lifetime under constant use;
//! * 50 concurrent first requests for one key (tasks, and threads): 1 client.
//!
//! Every case runs on every backend of `BackendKind::ALL` (listed at run
//! time: `harness = false`, libtest-mimic); test names carry it
//! (`cargo test --test client_store -- --list`). No test sleeps: time is a
//! `MockClock` and expiry is made visible with `purge_expired`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "client_store/cases.rs"]
mod cases;
#[path = "client_store/server.rs"]
mod server;

fn main() {
    use libtest_mimic::{Arguments, Trial};
    use ttlkit::BackendKind;

    /// Sequential requests run on a current-thread runtime, which makes
    /// the connection counts exact (see `cases::settle`); racing tasks on
    /// two worker threads.
    fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
        let mut b = if multi_thread {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        b.enable_all().build().unwrap()
    }

    macro_rules! trials {
        ($backend:ident, $multi_thread:expr => $($case:ident),* $(,)?) => {
            [$(
                Trial::test(format!("{}::{}", $backend.name(), stringify!($case)), move || {
                    runtime($multi_thread).block_on(cases::$case($backend));
                    Ok(())
                })
            ),*]
        };
    }

    let mut all = Vec::new();
    for &backend in BackendKind::ALL {
        all.extend(trials!(backend, false =>
            hundred_sequential_requests_one_connection,
            two_keys_two_clients_each_with_its_own_key,
            idle_timeout_replaces_the_client,
            max_lifetime_replaces_a_busy_client,
            fifty_concurrent_first_requests_one_client_threads,
            failed_creation_is_not_cached,
            evicted_client_reaches_the_hook,
            removed_client_reaches_the_hook,
            no_output_contains_the_key,
        ));
        all.extend(trials!(backend, true =>
            fifty_concurrent_first_requests_one_client_async,
            cancelled_creation_wedges_no_one,
        ));
    }
    all.push(Trial::test("baseline_new_client_per_request_opens_100_connections", || {
        runtime(false).block_on(baseline_new_client_per_request_opens_100_connections());
        Ok(())
    }));
    libtest_mimic::run(&Arguments::from_args(), all).exit();
}

/// The baseline the store is measured against: a new client per request
/// opens a new connection per request.
async fn baseline_new_client_per_request_opens_100_connections() {
    let upstream = server::Upstream::start().await;
    let key = ttlkit::ApiKey::new("sk-test-alpha").unwrap();
    for i in 0..100 {
        let client = cases::TestClient::new(i, &key).unwrap();
        assert_eq!(client.ask(&upstream.url).await, "Bearer sk-test-alpha");
    }
    println!("no store, a new client per request: 100 requests, {} connections", upstream.connections());
    assert_eq!(upstream.connections(), 100);
}
