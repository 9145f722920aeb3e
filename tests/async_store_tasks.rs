//! The async client store leaks no tokio task and no thread: creating
//! 10,000 stores (each with its sweeper), loading through them from racing
//! tasks (one aborted mid-creation, whose load the others then share; one
//! aborted in a creation that never ends) and dropping them leaves the
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
            // A creation aborted while it holds the flight: the load goes
            // on without its caller, and the racers get its client.
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
            let stuck = {
                let (store, key) = (store.clone(), key.clone());
                tokio::spawn(async move {
                    let create = |_| async move {
                        started_tx.send(()).ok();
                        released.await.ok();
                        Ok::<u64, Infallible>(1)
                    };
                    let _ = store.get_or_create_async(&key, create).await;
                })
            };
            started.await.ok();
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
            tokio::task::yield_now().await;
            release.send(()).ok();
            for r in racers {
                assert_eq!(r.await.unwrap(), 1, "the aborted caller's creation, carried on");
            }
            // A creation that never finishes, aborted, then the store
            // dropped: the task left driving it ends with the store.
            let other = ApiKey::new("sk-leak-test-2").unwrap();
            let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
            let never = {
                let (store, key) = (store.clone(), other.clone());
                tokio::spawn(async move {
                    let create = |_| async move {
                        started_tx.send(()).ok();
                        std::future::pending::<Result<u64, Infallible>>().await
                    };
                    let _ = store.get_or_create_async(&key, create).await;
                })
            };
            started.await.ok();
            never.abort();
            let _ = never.await;
            assert_eq!(store.stats().created, 0, "the racers reused the aborted caller's client");
        }
    });
    // Let the last orphaned load's task see its store gone.
    for _ in 0..100 {
        if metrics.num_alive_tasks() == base_tasks {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let tasks = metrics.num_alive_tasks();
    let after = settled_threads(base_threads);
    println!("tokio tasks before {base_tasks}, after {tasks}; threads before {base_threads}, after {after}");
    assert_eq!(tasks, base_tasks, "tokio tasks leaked");
    if base_threads > 0 {
        assert_eq!(after, base_threads, "threads leaked");
    }
}
