//! Tests of the async single-flight loader over the `mutex` backend (the
//! client store's HTTP tests run it over every backend).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use super::AsyncLoader;
use crate::{CacheBuilder, MutexCache, SlidingTtlCache};

type Cache = MutexCache<u32, String>;

fn cache() -> Cache {
    CacheBuilder::new().time_to_idle(Duration::from_secs(60)).no_sweeper().build().unwrap()
}

/// Lets the other tasks of a current-thread runtime run until they block.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn one_init_for_many_waiting_tasks() {
    let (cache, loader) = (cache(), Arc::new(AsyncLoader::new()));
    let (inits, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (cache, loader, inits, gate) = (cache.clone(), Arc::clone(&loader), Arc::clone(&inits), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            loader
                .get_or_insert_with(&cache, 1, || async move {
                    inits.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    "one".to_string()
                })
                .await
        }));
    }
    settle().await;
    assert_eq!(loader.in_flight(), 1, "all sixteen tasks are on one flight");
    gate.notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "one");
    }
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    assert_eq!(loader.in_flight(), 0);
    assert_eq!(cache.stats().inserts, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn error_is_shared_with_waiters_and_not_cached() {
    let (cache, loader) = (cache(), Arc::new(AsyncLoader::new()));
    let gate = Arc::new(Notify::new());
    let leader = {
        let (cache, loader, gate) = (cache.clone(), Arc::clone(&loader), Arc::clone(&gate));
        tokio::spawn(async move {
            loader
                .try_get_or_insert_with(&cache, 2, || async move {
                    gate.notified().await;
                    Err::<String, _>("refused")
                })
                .await
        })
    };
    settle().await;
    let follower = {
        let (cache, loader) = (cache.clone(), Arc::clone(&loader));
        tokio::spawn(async move {
            loader.try_get_or_insert_with(&cache, 2, || async { Ok::<_, &str>("unused".to_string()) }).await
        })
    };
    settle().await;
    gate.notify_one();
    assert_eq!(leader.await.unwrap().err().as_deref(), Some(&"refused"));
    assert_eq!(follower.await.unwrap().err().as_deref(), Some(&"refused"), "the waiter shares the error");
    assert!(!cache.contains_key(&2));
    let ok = loader.try_get_or_insert_with(&cache, 2, || async { Ok::<_, &str>("two".to_string()) }).await;
    assert_eq!(ok.ok().as_deref(), Some("two"), "the next caller runs its own init");
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_leader_wedges_no_one() {
    let (cache, loader) = (cache(), Arc::new(AsyncLoader::new()));
    let (started_tx, started) = oneshot::channel();
    let leader = {
        let (cache, loader) = (cache.clone(), Arc::clone(&loader));
        tokio::spawn(async move {
            loader
                .get_or_insert_with(&cache, 3, || async move {
                    let _ = started_tx.send(());
                    std::future::pending::<String>().await
                })
                .await
        })
    };
    started.await.unwrap();
    let follower = {
        let (cache, loader) = (cache.clone(), Arc::clone(&loader));
        tokio::spawn(async move { loader.get_or_insert_with(&cache, 3, || async { "follower".to_string() }).await })
    };
    settle().await;
    assert!(!follower.is_finished(), "the follower waits on the leader");
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(follower.await.unwrap(), "follower", "the follower ran its own init");
    assert_eq!(loader.in_flight(), 0);
    let later = loader.get_or_insert_with(&cache, 3, || async { "later".to_string() }).await;
    assert_eq!(later, "follower", "the value the follower stored is served");
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_future_mid_init_then_next_caller_proceeds() {
    let (cache, loader) = (cache(), AsyncLoader::new());
    // Poll the load once (it parks in init), then drop it.
    let load = loader.get_or_insert_with(&cache, 4, std::future::pending::<String>);
    tokio::select! {
        biased;
        _ = load => unreachable!("init never finishes"),
        _ = tokio::task::yield_now() => {}
    }
    assert_eq!(loader.in_flight(), 0, "dropping the future unregistered its flight");
    let v = loader.get_or_insert_with(&cache, 4, || async { "four".to_string() }).await;
    assert_eq!(v, "four");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_init_releases_waiters() {
    let (cache, loader) = (cache(), Arc::new(AsyncLoader::new()));
    let (started_tx, started) = oneshot::channel();
    let boom = Arc::new(Notify::new());
    let leader = {
        let (cache, loader, boom) = (cache.clone(), Arc::clone(&loader), Arc::clone(&boom));
        tokio::spawn(async move {
            loader
                .get_or_insert_with(&cache, 5, || async move {
                    let _ = started_tx.send(());
                    boom.notified().await;
                    panic!("init failed hard");
                })
                .await
        })
    };
    started.await.unwrap();
    let follower = {
        let (cache, loader) = (cache.clone(), Arc::clone(&loader));
        tokio::spawn(async move { loader.get_or_insert_with(&cache, 5, || async { "five".to_string() }).await })
    };
    boom.notify_one();
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(follower.await.unwrap(), "five");
    assert_eq!(loader.in_flight(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn hit_skips_init_and_refreshes() {
    let (cache, loader) = (cache(), AsyncLoader::new());
    cache.insert(6, "six".to_string());
    let v = loader.get_or_insert_with(&cache, 6, || async { unreachable!("a hit runs no init") }).await;
    assert_eq!(v, "six");
    assert_eq!(cache.stats().hits, 1);
}

/// Every in-memory backend, behind `AnyCache`.
fn every_backend() -> Vec<crate::AnyCache<u32, String>> {
    crate::BackendKind::ALL
        .iter()
        .map(|&kind| {
            let b = CacheBuilder::new()
                .time_to_idle(Duration::from_secs(60))
                .clock(crate::clock::MockClock::new())
                .no_sweeper();
            crate::AnyCache::new(kind, b).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn write_during_load_wins() {
    type Write = fn(&crate::AnyCache<u32, String>);
    let writes: [(&str, Write, Option<&str>); 3] = [
        ("insert", |c| c.insert(3, "written".to_string()), Some("written")),
        ("remove", |c| assert_eq!(c.remove(&3), None), None),
        ("clear", |c| c.clear(), None),
    ];
    for cache in every_backend() {
        for (what, write, after) in writes {
            let loader = Arc::new(AsyncLoader::new());
            let (entered_tx, entered) = oneshot::channel();
            let gate = Arc::new(Notify::new());
            let load = {
                let (cache, loader, gate) = (cache.clone(), Arc::clone(&loader), Arc::clone(&gate));
                tokio::spawn(async move {
                    loader
                        .get_or_insert_with(&cache, 3, || async move {
                            let _ = entered_tx.send(());
                            gate.notified().await;
                            "loaded".to_string()
                        })
                        .await
                })
            };
            entered.await.unwrap();
            write(&cache);
            gate.notify_one();
            assert_eq!(load.await.unwrap(), "loaded", "the load's value goes to its caller");
            let backend = cache.kind();
            assert_eq!(cache.get(&3).as_deref(), after, "{backend}: the {what} made during the load wins");
            assert_eq!(loader.in_flight(), 0);
            cache.clear();
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn recursive_load_of_one_key_panics() {
    let (cache, loader) = (cache(), Arc::new(AsyncLoader::new()));
    let task = {
        let (cache, loader) = (cache.clone(), Arc::clone(&loader));
        tokio::spawn(async move {
            let inner = || async { loader.get_or_insert_with(&cache, 1, || async { "inner".to_string() }).await };
            loader.get_or_insert_with(&cache, 1, inner).await
        })
    };
    settle().await;
    let finished = task.is_finished();
    task.abort();
    assert!(finished, "the recursive load deadlocked");
    let payload = task.await.unwrap_err().into_panic();
    let msg = match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    };
    assert!(msg.contains("recursive load of the same key"), "panic message: {msg:?}");
    assert_eq!(loader.in_flight(), 0);
    assert_eq!(loader.get_or_insert_with(&cache, 1, || async { "one".to_string() }).await, "one");
}

mod stats {
    //! The load counters an `AsyncLoader` keeps in the cache's stats.

    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::super::AsyncLoader;
    use crate::clock::MockClock;
    use crate::{CacheBuilder, MutexCache, SlidingTtlCache};

    const TASKS: u64 = 8;
    const LOAD: Duration = Duration::from_millis(250);

    fn cache(clock: &MockClock) -> MutexCache<u32, String> {
        CacheBuilder::new().time_to_idle(Duration::from_secs(60)).clock(clock.clone()).no_sweeper().build().unwrap()
    }

    /// `TASKS` tasks load key 1 on one thread; the leader's `init` waits
    /// until all of them wait, advances the mock clock by [`LOAD`] and
    /// returns `outcome`. Returns how many tasks got an `Ok`.
    async fn crowd(cache: &MutexCache<u32, String>, clock: &MockClock, outcome: Result<String, &'static str>) -> u64 {
        let loader = Arc::new(AsyncLoader::new());
        let gate = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (c, loader, gate, clock, outcome) =
                (cache.clone(), Arc::clone(&loader), Arc::clone(&gate), clock.clone(), outcome.clone());
            tasks.push(tokio::spawn(async move {
                loader
                    .try_get_or_insert_with(&c, 1, || async move {
                        gate.notified().await;
                        clock.advance(LOAD);
                        outcome
                    })
                    .await
            }));
        }
        // One thread: a task's miss and its joining the flight are one
        // poll, so `TASKS` misses mean every task is on the flight.
        while cache.stats().misses < TASKS {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        let mut ok = 0;
        for t in tasks {
            ok += u64::from(t.await.unwrap().is_ok());
        }
        ok
    }

    #[tokio::test(flavor = "current_thread")]
    async fn eight_tasks_one_load_seven_coalesced_one_miss() {
        let clock = MockClock::new();
        let c = cache(&clock);
        assert_eq!(crowd(&c, &clock, Ok("one".to_string())).await, TASKS);
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_succeeded, st.loads_failed), (1, 1, 0));
        assert_eq!(st.loads_coalesced, TASKS - 1);
        assert_eq!((st.hits, st.misses, st.inserts), (0, 1, 1));
        assert_eq!(st.load_time, LOAD);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_async_load_is_counted_failed() {
        let clock = MockClock::new();
        let c = cache(&clock);
        assert_eq!(crowd(&c, &clock, Err("down")).await, 0);
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_succeeded, st.loads_failed), (1, 0, 1));
        assert_eq!(st.load_failures, 1, "the old name counts async failures too");
        assert_eq!((st.loads_coalesced, st.misses, st.inserts), (TASKS - 1, 1, 0));
        assert_eq!(st.load_time, LOAD);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_load_is_started_only() {
        let clock = MockClock::new();
        let c = cache(&clock);
        let loader: AsyncLoader<u32, String> = AsyncLoader::new();
        let load = loader.get_or_insert_with(&c, 1, std::future::pending::<String>);
        // Polled once (it starts init), then dropped.
        assert!(tokio::time::timeout(Duration::from_millis(1), load).await.is_err());
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_succeeded, st.loads_failed), (1, 0, 0));
        assert_eq!(st.load_time, Duration::ZERO);
    }
}
