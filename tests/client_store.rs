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
//! Every case runs per backend; test names carry it
//! (`cargo test --test client_store -- --list`). No test sleeps: time is a
//! `MockClock` and expiry is made visible with `purge_expired`.

#![cfg(feature = "async")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "client_store/cases.rs"]
mod cases;
#[path = "client_store/server.rs"]
mod server;

use ttlkit::BackendKind;

/// The backends with a module below. Every `BackendKind` must be listed
/// (checked by `every_backend_is_covered`).
const COVERED: &[BackendKind] = &[BackendKind::Mutex, BackendKind::Moka, BackendKind::Sharded];

/// One module per backend, one `#[tokio::test]` per case.
macro_rules! suite {
    ($($backend:ident => $kind:ident),* $(,)?) => {$(
        mod $backend {
            // Sequential requests: a current-thread runtime makes the
            // connection counts exact (see `cases::settle`).
            suite!(@cases $kind, "current_thread":
                hundred_sequential_requests_one_connection,
                two_keys_two_clients_each_with_its_own_key,
                idle_timeout_replaces_the_client,
                max_lifetime_replaces_a_busy_client,
                fifty_concurrent_first_requests_one_client_threads,
                failed_creation_is_not_cached,
                evicted_client_reaches_the_hook,
                removed_client_reaches_the_hook,
                no_output_contains_the_key,
            );
            // Tasks racing on two worker threads.
            suite!(@cases $kind, "multi_thread":
                fifty_concurrent_first_requests_one_client_async,
                cancelled_creation_wedges_no_one,
            );
        }
    )*};
    (@cases $kind:ident, "current_thread": $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "current_thread")]
        async fn $case() {
            crate::cases::$case(ttlkit::BackendKind::$kind).await;
        }
    )*};
    (@cases $kind:ident, "multi_thread": $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            crate::cases::$case(ttlkit::BackendKind::$kind).await;
        }
    )*};
}

suite!(mutex => Mutex, moka => Moka, sharded => Sharded);

#[test]
fn every_backend_is_covered() {
    for kind in BackendKind::ALL {
        assert!(COVERED.contains(kind), "add `{kind}` to COVERED and to suite!(..) in tests/client_store.rs");
    }
}

/// The baseline the store is measured against: a new client per request
/// opens a new connection per request.
#[tokio::test(flavor = "current_thread")]
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
