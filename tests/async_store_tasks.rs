//! The async client store leaks no tokio task and no thread: creating
//! 10,000 stores (each with its sweeper), loading through them from racing
//! tasks (one of which is aborted mid-creation) and dropping them leaves the
//! runtime's alive-task count and the process's thread count at baseline.
//!
//! One test in its own binary, so no other test's threads skew the count.

#![cfg(feature = "async")]
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::time::Duration;

#[path = "support/threads.rs"]
mod support_threads;
use support_threads::{settled_threads, threads};

use ttlkit::client_store::{ApiKey, ClientStore};
use ttlkit::BackendKind;

#[test]
fn ten_thousand_async_stores_leak_no_task_or_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let metrics = runtime.metrics();
    let base_threads = threads();
    let base_tasks = metrics.num_alive_tasks();
    runtime.block_on(async {
        let key = ApiKey::new("sk-leak-test").unwrap();
        for i in 0..10_000usize {
            let backend = BackendKind::ALL[i % BackendKind::ALL.len()];
            let store =
                ClientStore::<u64>::builder().sweep_interval(Duration::from_secs(3600)).build_backend(backend).unwrap();
            // A creation that never finishes, aborted while it holds the flight.
            let stuck = {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    let _ =
                        store.get_or_create_async(&key, |_| std::future::pending::<Result<u64, Infallible>>()).await;
                })
            };
            tokio::task::yield_now().await;
            stuck.abort();
            let _ = stuck.await;
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (store, key) = (store.clone(), key.clone());
                    tokio::spawn(async move {
                        *store.get_or_create_async(&key, |_| async { Ok::<u64, Infallible>(7) }).await.unwrap()
                    })
                })
                .collect();
            for r in racers {
                assert_eq!(r.await.unwrap(), 7);
            }
            assert_eq!(store.stats().created, 1, "one client for the key, the aborted creation wedged no one");
        }
    });
    let tasks = metrics.num_alive_tasks();
    let after = settled_threads(base_threads);
    println!("tokio tasks before {base_tasks}, after {tasks}; threads before {base_threads}, after {after}");
    assert_eq!(tasks, base_tasks, "tokio tasks leaked");
    if base_threads > 0 {
        assert_eq!(after, base_threads, "threads leaked");
    }
}
