//! Async loads on every in-process backend, under tokio and under a second
//! executor (`futures-executor`, no tokio runtime): one `init` per key for
//! sync and async callers together, cancelled callers that do not cancel
//! the load, typed timeouts and recursion, and background reloads on a
//! spawner. Time is tokio's paused clock or a `MockClock`; nothing sleeps.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_executor::block_on;
use ttlkit::clock::MockClock;
use ttlkit::prelude::*;
use ttlkit::{Fetch, LoadError};

fn caches() -> Vec<AnyCache<u32, String>> {
    BackendKind::ALL.iter().map(|&kind| AnyCache::new(kind, CacheBuilder::new().no_sweeper()).unwrap()).collect()
}

/// Counts the `init`s that start.
fn counting(inits: &Arc<AtomicUsize>) -> Arc<AtomicUsize> {
    Arc::clone(inits)
}

fn is_send<T: Send>(_: &T) {}

#[test]
fn the_futures_are_send_whatever_the_backend() {
    for cache in caches() {
        is_send(&cache.get_or_insert_async(1, async { String::new() }));
        is_send(&cache.try_get_or_insert_async(1, async { Ok::<_, std::io::Error>(String::new()) }));
        is_send(&cache.entry(1).and_compute_with_async(|v| async move { ttlkit::Op::Put(v.unwrap_or_default()) }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_init_for_many_tasks_on_every_backend() {
    for cache in caches() {
        let inits = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, inits, mut go) = (cache.clone(), counting(&inits), go_rx.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_insert_async(7, async move {
                        inits.fetch_add(1, SeqCst);
                        go.wait_for(|&go| go).await.ok();
                        "seven".to_string()
                    })
                    .await
            }));
        }
        while cache.stats().misses + cache.stats().loads_coalesced < 16 {
            tokio::task::yield_now().await;
        }
        go_tx.send(true).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "seven", "{}", cache.backend_name());
        }
        let st = cache.stats();
        assert_eq!(inits.load(SeqCst), 1, "{}", cache.backend_name());
        assert_eq!((st.loads_started, st.loads_succeeded, st.inserts), (1, 1, 1), "{}", cache.backend_name());
        assert_eq!(st.misses + st.loads_coalesced, 16);
    }
}

/// Callers that each give up before the load is done: eight callers, each
/// with a 100 ms timeout, against a 1 s factory. Each caller gives up, but the load goes on: `init` runs
/// once, and the value lands when it is done (driven on the runtime of the
/// caller, which needs the `async` feature when no spawner is set).
#[cfg(feature = "async")]
#[tokio::test(start_paused = true)]
async fn callers_that_time_out_do_not_restart_the_load() {
    for cache in caches() {
        let inits = Arc::new(AtomicUsize::new(0));
        for _ in 0..8 {
            let inits = counting(&inits);
            let load = cache.get_or_insert_async(1, async move {
                inits.fetch_add(1, SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                "slow".to_string()
            });
            assert!(tokio::time::timeout(Duration::from_millis(100), load).await.is_err(), "each caller times out");
        }
        assert_eq!(inits.load(SeqCst), 1, "{}: init ran once for eight cancelled callers", cache.backend_name());
        // Dropped by its last caller, the load went on on this runtime.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.get(&1).as_deref(), Some("slow"), "{}", cache.backend_name());
        let st = cache.stats();
        assert_eq!((st.loads_started, st.loads_succeeded), (1, 1));
    }
}

/// Polls `f` once with a waker that does nothing.
fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Without tokio and without a spawner, a load whose only caller was
/// dropped waits, parked, for the next caller, which drives it on from
/// where it was instead of running its own `init`.
#[test]
fn a_dropped_callers_load_is_driven_on_by_the_next_caller_without_tokio() {
    for cache in caches() {
        let (release_tx, release_rx) = futures_channel();
        let first = cache.get_or_insert_async(2, async move {
            release_rx.await;
            "first".to_string()
        });
        {
            let mut first = pin!(first);
            assert!(poll_once(first.as_mut()).is_pending(), "the first caller started the load");
        } // and was dropped (cancelled)
        release_tx.send();
        let second = block_on(cache.entry(2).or_insert_with_async(async { "second".to_string() }));
        assert_eq!(second.value, "first", "{}: the first caller's load, not a new one", cache.backend_name());
        assert_eq!(second.fetch, Fetch::Coalesced);
        assert_eq!(cache.stats().loads_started, 1);
    }
}

/// The same under a second executor with many tasks: dropping the task
/// that leads leaves the load to the others.
#[test]
fn other_tasks_drive_the_load_of_a_cancelled_leader() {
    use futures_executor::LocalPool;
    use std::cell::RefCell;
    use std::rc::Rc;

    for cache in caches() {
        let mut pool = LocalPool::new();
        let spawner = pool.spawner();
        let (release_tx, release_rx) = futures_channel();
        let inits = Arc::new(AtomicUsize::new(0));
        let leader = {
            let (cache, inits) = (cache.clone(), counting(&inits));
            async move {
                cache
                    .get_or_insert_async(3, async move {
                        inits.fetch_add(1, SeqCst);
                        release_rx.await;
                        "three".to_string()
                    })
                    .await
            }
        };
        let mut leader = Box::pin(leader);
        assert!(poll_once(leader.as_mut()).is_pending());
        let got = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..4 {
            let (cache, got) = (cache.clone(), Rc::clone(&got));
            futures_task_spawn(&spawner, async move {
                let v = cache.get_or_insert_async(3, async { "never".to_string() }).await;
                got.borrow_mut().push(v);
            });
        }
        pool.run_until_stalled();
        drop(leader); // cancelled while the others wait
        release_tx.send();
        pool.run();
        assert_eq!(*got.borrow(), vec!["three"; 4], "{}", cache.backend_name());
        assert_eq!(inits.load(SeqCst), 1);
    }
}

fn futures_task_spawn(spawner: &futures_executor::LocalSpawner, f: impl Future<Output = ()> + 'static) {
    use futures_task::LocalSpawn;
    spawner.spawn_local_obj(Box::pin(f).into()).unwrap();
}

/// A one-shot signal that works on any executor: `send` wakes the waiter.
fn futures_channel() -> (Signal, impl Future<Output = ()> + Send + 'static) {
    let state = Arc::new(std::sync::Mutex::new((false, None::<Waker>)));
    let waiting = Arc::clone(&state);
    let fut = std::future::poll_fn(move |cx| {
        let mut s = waiting.lock().unwrap();
        if s.0 {
            Poll::Ready(())
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    });
    (Signal(state), fut)
}

struct Signal(Arc<std::sync::Mutex<(bool, Option<Waker>)>>);

impl Signal {
    fn send(&self) {
        let waker = {
            let mut s = self.0.lock().unwrap();
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

#[test]
fn a_sync_and_an_async_caller_share_one_load() {
    for cache in caches() {
        // A sync leader; an async caller waits on its load.
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let c = cache.clone();
        let leader = thread::spawn(move || {
            c.get_or_insert_with(4, || {
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                "sync".to_string()
            })
        });
        entered_rx.recv().unwrap();
        let c = cache.clone();
        let waiter = thread::spawn(move || block_on(c.entry(4).or_insert_with_async(async { "async".to_string() })));
        while cache.stats().misses < 2 {
            thread::yield_now();
        }
        release_tx.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), "sync");
        let got = waiter.join().unwrap();
        // Coalesced, or (if it joined just after the load ended) a hit.
        assert_eq!(got.value, "sync", "{}", cache.backend_name());
        assert!(matches!(got.fetch, Fetch::Coalesced | Fetch::Hit), "{:?}", got.fetch);

        // An async leader; a sync caller waits on it.
        let (release_tx, release_rx) = futures_channel();
        let c = cache.clone();
        let leader = thread::spawn(move || {
            block_on(c.get_or_insert_async(5, async move {
                release_rx.await;
                "async".to_string()
            }))
        });
        // A coalesced caller's miss is taken back: count both.
        while cache.stats().misses + cache.stats().loads_coalesced < 3 {
            thread::yield_now();
        }
        let c = cache.clone();
        let waiter = thread::spawn(move || c.entry(5).or_insert_with(|| "sync".to_string()));
        while cache.stats().misses + cache.stats().loads_coalesced < 4 {
            thread::yield_now();
        }
        release_tx.send();
        assert_eq!(leader.join().unwrap(), "async");
        let got = waiter.join().unwrap();
        assert_eq!(got.value, "async", "{}: the sync caller got the async load", cache.backend_name());
        assert_eq!(cache.stats().loads_started, 2, "one init per key");
    }
}

#[test]
fn recursive_async_loads_are_typed_errors() {
    for cache in caches() {
        let c = cache.clone();
        let outer = cache.try_get_or_insert_async(6, async move {
            match c.try_get_or_insert_async(6, async { Ok::<_, String>("inner".to_string()) }).await {
                Err(LoadError::Recursive) => Err("recursive".to_string()),
                other => Err(format!("expected a recursion error, got {other:?}")),
            }
        });
        let err = block_on(outer).unwrap_err();
        assert_eq!(err.get().map(String::as_str), Some("recursive"), "{}", cache.backend_name());
        // A sync load of the key from inside the async init is caught too.
        let c = cache.clone();
        let outer = cache.try_get_or_insert_async(8, async move {
            match c.try_get_or_insert_with(8, || Ok::<_, String>("inner".to_string())) {
                Err(LoadError::Recursive) => Ok::<_, String>("caught".to_string()),
                other => Err(format!("{other:?}")),
            }
        });
        assert_eq!(block_on(outer).unwrap(), "caught");
    }
}

#[test]
fn an_async_waiter_gives_up_after_the_load_timeout() {
    for &kind in BackendKind::ALL {
        let clock = MockClock::new();
        let b = CacheBuilder::new().clock(clock.clone()).no_sweeper().load_timeout(Duration::from_secs(5));
        let cache: AnyCache<u32, String> = AnyCache::new(kind, b).unwrap();
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let c = cache.clone();
        let leader = thread::spawn(move || {
            c.get_or_insert_with(9, || {
                entered_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                "late".to_string()
            })
        });
        entered_rx.recv().unwrap();
        let c = cache.clone();
        let waiter = thread::spawn(move || {
            block_on(c.try_get_or_insert_async(9, async { Ok::<_, String>("mine".to_string()) }))
        });
        // The waiter starts its wait just after its lookup counts the miss:
        // move time until it has waited it out.
        while !waiter.is_finished() {
            if cache.stats().misses >= 2 {
                clock.advance(Duration::from_secs(5));
            }
            thread::yield_now();
        }
        let err = waiter.join().unwrap().unwrap_err();
        assert!(matches!(err, LoadError::TimedOut { waited } if waited >= Duration::from_secs(5)), "{kind}: {err:?}");
        release_tx.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), "late", "the load it waited on carried on");
        assert_eq!(cache.get(&9).as_deref(), Some("late"));
    }
}

/// Refresh-ahead with a spawner: the caller that finds the value due gets
/// it at once, and the reload runs on the spawner.
#[tokio::test(flavor = "current_thread")]
async fn async_refresh_ahead_runs_on_the_spawner() {
    for &kind in BackendKind::ALL {
        let clock = MockClock::new();
        let spawned = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&spawned);
        let b = CacheBuilder::new()
            .clock(clock.clone())
            .no_sweeper()
            .time_to_live(Duration::from_secs(60))
            .refresh_after(Duration::from_secs(30))
            .spawner(move |task| {
                counted.fetch_add(1, SeqCst);
                tokio::spawn(task);
            });
        let cache: AnyCache<u32, String> = AnyCache::new(kind, b).unwrap();
        assert_eq!(cache.get_or_insert_async(1, async { "v1".to_string() }).await, "v1");
        clock.advance(Duration::from_secs(31));
        let got = cache.entry(1).or_insert_with_async(async { "v2".to_string() }).await;
        assert_eq!((got.value.as_str(), got.fetch), ("v1", Fetch::Hit), "{kind}: the current value, at once");
        assert_eq!(spawned.load(SeqCst), 1, "the reload went to the spawner");
        while cache.stats().refreshes_succeeded < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(cache.get(&1).as_deref(), Some("v2"), "{kind}");
        let st = cache.stats();
        assert_eq!((st.refreshes_started, st.refreshes_failed, st.loads_started), (1, 0, 2));
    }
}

/// With a reloader, an async caller's reloads run it on the reload pool,
/// not its own future on the spawner: the caller gets the current value at
/// once, as a sync one does.
#[tokio::test(flavor = "current_thread")]
async fn with_a_reloader_async_refreshes_run_the_reloader() {
    for &kind in BackendKind::ALL {
        let clock = MockClock::new();
        let spawned = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&spawned);
        let (reloaded, heard) = mpsc::channel();
        let b = CacheBuilder::new()
            .clock(clock.clone())
            .no_sweeper()
            .time_to_live(Duration::from_secs(60))
            .refresh_after(Duration::from_secs(30))
            .reloader(move |k: &u32| {
                let _ = reloaded.send(*k);
                Ok::<_, std::io::Error>(format!("reloaded {k}"))
            })
            .spawner(move |task| {
                counted.fetch_add(1, SeqCst);
                tokio::spawn(task);
            });
        let cache: AnyCache<u32, String> = AnyCache::new(kind, b).unwrap();
        assert_eq!(cache.get_or_insert_async(1, async { "v1".to_string() }).await, "v1");
        clock.advance(Duration::from_secs(31));
        let got = cache.entry(1).or_insert_with_async(async { "v2".to_string() }).await;
        assert_eq!((got.value.as_str(), got.fetch), ("v1", Fetch::Hit), "{kind}: the current value, at once");
        assert_eq!(heard.recv_timeout(Duration::from_secs(30)), Ok(1), "{kind}: the reloader ran");
        while cache.stats().refreshes_succeeded < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(cache.get(&1).as_deref(), Some("reloaded 1"), "{kind}");
        assert_eq!(spawned.load(SeqCst), 0, "{kind}: nothing went to the spawner");
    }
}

/// Stale-while-revalidate, async: the stale value at once, marked, while
/// the reload runs on the spawner; a failed reload leaves it servable.
#[tokio::test(flavor = "current_thread")]
async fn async_stale_while_revalidate() {
    for &kind in BackendKind::ALL {
        let clock = MockClock::new();
        let b = CacheBuilder::new()
            .clock(clock.clone())
            .sweep_interval(Duration::from_secs(3600))
            .time_to_live(Duration::from_secs(10))
            .serve_stale_for(Duration::from_secs(5))
            .spawner(|task| {
                tokio::spawn(task);
            });
        let cache: AnyCache<u32, String> = AnyCache::new(kind, b).unwrap();
        cache.insert(1, "old".to_string());
        clock.advance(Duration::from_secs(12));
        assert_eq!(cache.get(&1), None, "a plain get never returns a stale value");
        let failing = cache.entry(1).or_try_insert_with_async(async { Err::<String, _>("down") }).await.unwrap();
        assert_eq!((failing.value.as_str(), failing.fetch), ("old", Fetch::Stale), "{kind}");
        while cache.stats().refreshes_failed < 1 {
            tokio::task::yield_now().await;
        }
        let again = cache.entry(1).or_insert_with_async(async { "new".to_string() }).await;
        assert_eq!((again.value.as_str(), again.fetch), ("old", Fetch::Stale), "{kind}: still in its window");
        while cache.get(&1).is_none() {
            tokio::task::yield_now().await;
        }
        assert_eq!(cache.get(&1).as_deref(), Some("new"));
        assert_eq!(cache.stats().stale_served, 2);
    }
}
