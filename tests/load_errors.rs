//! `LoadError<E>`: `?` into `anyhow::Result` for the error types people use
//! (`anyhow::Error`, boxed errors, `std::io::Error`), one shared error for
//! coalesced waiters, and `E` reachable.

use std::io;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;

use ttlkit::prelude::*;
use ttlkit::LoadError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn cache() -> MutexCache<u32, String> {
    CacheBuilder::new().build().expect("a default cache builds")
}

/// Runs a failing load and propagates its error with `?`.
fn load_with<E>(cache: &MutexCache<u32, String>, err: impl FnOnce() -> E) -> anyhow::Result<String>
where
    E: std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
{
    let v = cache.try_get_or_insert_with(1, || Err(err()))?;
    Ok(v)
}

/// What `?` and sharing across threads need of the error.
fn is_a_shareable_error<T: std::error::Error + Clone + Send + Sync + 'static>() {}

#[test]
fn load_errors_are_errors_clone_send_and_sync() {
    is_a_shareable_error::<LoadError<anyhow::Error>>();
    is_a_shareable_error::<LoadError<BoxError>>();
    is_a_shareable_error::<LoadError<io::Error>>();
    is_a_shareable_error::<LoadError<&'static str>>();
}

#[test]
fn question_mark_takes_an_anyhow_error_into_anyhow_result() {
    let c = cache();
    let err = load_with(&c, || anyhow::anyhow!("upstream down").context("loading user 1")).expect_err("init failed");
    assert_eq!(err.to_string(), "loading user 1");
    // `source` is None, so the outer error's chain stops at E's message...
    assert_eq!(format!("{err:#}"), "loading user 1");
    let inner = err.downcast_ref::<LoadError<anyhow::Error>>().expect("the LoadError is what `?` boxed");
    // ...while the LoadError's Display delegates with its flags.
    assert_eq!(format!("{inner:#}"), "loading user 1: upstream down");
    let e = inner.get().expect("an init error");
    assert_eq!(e.root_cause().to_string(), "upstream down", "E's own methods");
}

#[test]
fn question_mark_takes_a_boxed_error_into_anyhow_result() {
    let c = cache();
    let err = load_with(&c, || -> BoxError { "dns failed".into() }).expect_err("init failed");
    assert_eq!(err.to_string(), "dns failed");
    let inner = err.downcast_ref::<LoadError<BoxError>>().expect("a LoadError<BoxError>");
    assert_eq!(inner.to_string(), "dns failed");
}

#[test]
fn question_mark_takes_an_io_error_into_anyhow_result() {
    let c = cache();
    let err = load_with(&c, || io::Error::new(io::ErrorKind::TimedOut, "slow disk")).expect_err("init failed");
    assert_eq!(err.to_string(), "slow disk");
    let inner = err.downcast_ref::<LoadError<io::Error>>().expect("a LoadError<io::Error>");
    assert!(matches!(inner, LoadError::Init(e) if e.kind() == io::ErrorKind::TimedOut), "io::Error::kind");
}

#[test]
fn question_mark_works_in_a_function_returning_anyhow_result() -> anyhow::Result<()> {
    let c = cache();
    let v = c.try_get_or_insert_with(2, || Ok::<_, anyhow::Error>("two".to_string()))?;
    assert_eq!(v, "two");
    let v = c.try_get_or_insert_with(3, || Ok::<_, BoxError>("three".to_string()))?;
    assert_eq!(v, "three");
    let v = c.try_get_or_insert_with(4, || Ok::<_, io::Error>("four".to_string()))?;
    assert_eq!(v, "four");
    Ok(())
}

#[test]
fn the_value_of_e_is_reachable() {
    let c = cache();
    let err = c.try_get_or_insert_with(1, || Err(io::Error::other("gone"))).expect_err("init failed");
    assert_eq!(err.get().map(io::Error::kind), Some(io::ErrorKind::Other), "get");
    assert_eq!(err.shared().map(|e| e.to_string()).as_deref(), Some("gone"), "shared");
    assert_eq!(format!("{err:?}"), format!("{:?}", io::Error::other("gone")), "Debug is E's");
    let copy = err.clone();
    let err = err.into_inner().expect_err("`copy` shares the Arc: not alone");
    drop(copy);
    let io_err: io::Error = err.into_inner().expect("alone now: E by value");
    assert_eq!(io_err.to_string(), "gone");

    let err = c.try_get_or_insert_with(1, || Err::<String, _>("plain")).expect_err("init failed");
    let arc: Option<Arc<&str>> = err.into_arc();
    assert_eq!(arc.as_deref(), Some(&"plain"));
}

/// One round of a failing load of key 9 with `CALLERS` callers: the leader's
/// `init` is held until every follower's lookup has missed. Returns every
/// caller's result.
fn failing_round(c: &MutexCache<u32, String>) -> Vec<Result<String, LoadError<anyhow::Error>>> {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let barrier = Barrier::new(CALLERS);
    thread::scope(|s| {
        let leader = s.spawn(move || {
            c.try_get_or_insert_with(9, || {
                started_tx.send(()).ok();
                // Held until the followers are waiting on this load.
                release_rx.recv().ok();
                Err(anyhow::anyhow!("shared failure"))
            })
        });
        started_rx.recv().expect("the leader's init starts");
        let followers: Vec<_> = (1..CALLERS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    c.try_get_or_insert_with(9, || Ok::<String, anyhow::Error>("ran".to_string()))
                })
            })
            .collect();
        barrier.wait();
        // Each follower's lookup misses just before it joins the flight
        // (with no lock between them to wait on from here).
        while c.stats().misses + c.stats().loads_coalesced < CALLERS as u64 {
            thread::yield_now();
        }
        release_tx.send(()).ok();
        std::iter::once(leader).chain(followers).map(|h| h.join().expect("no caller panics")).collect()
    })
}

const CALLERS: usize = 4;

#[test]
fn coalesced_waiters_share_one_error() {
    // A follower whose lookup missed but which had not yet joined the
    // flight when the leader finished leads a load of its own (and
    // succeeds): that round proves nothing and is run again. Rounds are
    // fast; in practice the first one is a full round. (The loader's unit
    // tests check the same deterministically, watching the flight.)
    for _ in 0..100 {
        let c = cache();
        let results = failing_round(&c);
        if results.iter().any(Result::is_ok) {
            continue;
        }
        let errors: Vec<LoadError<anyhow::Error>> = results.into_iter().filter_map(Result::err).collect();
        for e in &errors {
            assert!(shares_one_arc(e, &errors[0]), "one Arc for the leader and every waiter");
            assert_eq!(e.to_string(), "shared failure");
        }
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_failed, st.loads_coalesced), (1, 1, CALLERS as u64 - 1));
        assert_eq!(st.misses, 1, "waiters are not misses");
        return;
    }
    panic!("no round had every follower waiting on the leader's load");
}

fn shares_one_arc<E>(a: &LoadError<E>, b: &LoadError<E>) -> bool {
    matches!((a.shared(), b.shared()), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
}

#[tokio::test(flavor = "current_thread")]
async fn coalesced_async_waiters_share_one_error() {
    let c = cache();
    let gate = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (c, gate) = (c.clone(), Arc::clone(&gate));
        tasks.push(tokio::spawn(async move {
            let init = async move {
                gate.notified().await;
                Err::<String, _>(anyhow::anyhow!("async shared failure"))
            };
            c.try_get_or_insert_async(5, init).await
        }));
    }
    // One thread: a task's lookup and its joining the flight happen in one
    // poll, so three misses mean three tasks on the flight.
    while c.stats().misses < 3 {
        tokio::task::yield_now().await;
    }
    gate.notify_one();
    let mut errors = Vec::new();
    for t in tasks {
        errors.push(t.await.expect("no task panics").expect_err("every task gets the error"));
    }
    for e in &errors {
        assert!(shares_one_arc(e, &errors[0]), "one Arc for the leader and every waiter");
    }
    let st = c.stats();
    assert_eq!((st.loads_started, st.loads_failed, st.loads_coalesced, st.misses), (1, 1, 2, 1));
}

#[tokio::test]
async fn async_loads_return_load_errors_too() -> anyhow::Result<()> {
    let c = cache();
    let failed = c.try_get_or_insert_async(1, async { Err::<String, _>(anyhow::anyhow!("async down")) });
    let err = failed.await.expect_err("init failed");
    assert_eq!(err.to_string(), "async down");
    let wrapped: anyhow::Error = err.into();
    assert!(wrapped.downcast_ref::<LoadError<anyhow::Error>>().is_some());
    let v = c.try_get_or_insert_async(1, async { Ok::<_, io::Error>("one".to_string()) }).await?;
    assert_eq!(v, "one");
    Ok(())
}
