use std::convert::Infallible;
use std::sync::Mutex;

use super::*;
use crate::clock::MockClock;

struct Client(u32);

fn store(hook: impl Fn(&Fingerprint, Arc<Client>, RemovalCause) + Send + Sync + 'static) -> ClientStore<Client> {
    ClientStore::builder()
        .clock(MockClock::new())
        .no_sweeper()
        .on_leave(hook)
        .build_backend(BackendKind::Mutex)
        .unwrap()
}

fn make(n: u32) -> impl FnOnce(&ApiKey) -> Result<Client, Infallible> {
    move |_| Ok(Client(n))
}

#[test]
fn remove_clear_and_contains() {
    let left = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&left);
    let s = store(move |_, c: Arc<Client>, cause| log.lock().unwrap().push((c.0, cause)));
    let (a, b) = (ApiKey::new("sk-a").unwrap(), ApiKey::new("sk-b").unwrap());
    assert!(!s.contains(&a) && s.is_empty());
    s.get_or_create(&a, make(1)).unwrap();
    s.get_or_create(&b, make(2)).unwrap();
    assert!(s.contains(&a));
    assert_eq!(s.remove(&a).map(|c| c.0), Some(1));
    assert_eq!(s.remove(&a).map(|c| c.0), None);
    s.clear();
    assert_eq!(*left.lock().unwrap(), vec![(1, RemovalCause::Explicit), (2, RemovalCause::Cleared)]);
    let stats = s.stats();
    assert_eq!((stats.created, stats.removed, stats.held), (2, 2, 0));
    assert_eq!(s.backend_name(), "mutex");
}

#[test]
fn panicking_hook_is_contained_and_counted() {
    let s = store(|_, _, _| panic!("hook failed"));
    let key = ApiKey::new("sk-a").unwrap();
    s.get_or_create(&key, make(1)).unwrap();
    assert!(s.remove(&key).is_some());
    assert_eq!(s.stats().hook_panics, 1);
    assert_eq!(s.get_or_create(&key, make(2)).unwrap().0, 2, "the store carries on");
}

/// A store on `backend` with a mock clock and no sweeper.
fn on(backend: BackendKind) -> ClientStore<Client> {
    ClientStore::builder().clock(MockClock::new()).no_sweeper().build_backend(backend).unwrap()
}

#[test]
fn remove_or_clear_during_creation_wins() {
    for &backend in BackendKind::ALL {
        for clear in [false, true] {
            let s = on(backend);
            let key = ApiKey::new("sk-a").unwrap();
            let (entered_tx, entered_rx) = std::sync::mpsc::channel();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let (s2, k2) = (s.clone(), key.clone());
            let creator = std::thread::spawn(move || {
                let create = move |_: &ApiKey| {
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok::<_, Infallible>(Client(1))
                };
                s2.get_or_create(&k2, create).unwrap().0
            });
            entered_rx.recv().unwrap();
            if clear {
                s.clear();
            } else {
                assert!(s.remove(&key).is_none());
            }
            release_tx.send(()).unwrap();
            assert_eq!(creator.join().unwrap(), 1, "the caller gets the client it made");
            assert!(!s.contains(&key), "{backend}: the revocation made during creation wins (clear: {clear})");
            assert_eq!(s.get_or_create(&key, make(2)).unwrap().0, 2, "the next call creates afresh");
        }
    }
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "current_thread")]
async fn remove_during_async_creation_wins() {
    for &backend in BackendKind::ALL {
        let s = on(backend);
        let key = ApiKey::new("sk-a").unwrap();
        let (entered_tx, entered) = tokio::sync::oneshot::channel();
        let gate = Arc::new(tokio::sync::Notify::new());
        let creator = {
            let (s, key, gate) = (s.clone(), key.clone(), Arc::clone(&gate));
            tokio::spawn(async move {
                let create = |_: ApiKey| async move {
                    let _ = entered_tx.send(());
                    gate.notified().await;
                    Ok::<_, Infallible>(Client(1))
                };
                s.get_or_create_async(&key, create).await.unwrap().0
            })
        };
        entered.await.unwrap();
        assert!(s.remove(&key).is_none());
        gate.notify_one();
        assert_eq!(creator.await.unwrap(), 1);
        assert!(!s.contains(&key), "{backend}: the remove made during creation wins");
    }
}

#[test]
fn failures_are_counted_not_cached() {
    let s = store(|_, _, _| {});
    let key = ApiKey::new("sk-a").unwrap();
    let err = s.get_or_create(&key, |_| Err::<Client, _>("no route"));
    assert_eq!(err.err().and_then(|e| e.get().copied()), Some("no route"));
    assert_eq!(s.get_or_create(&key, make(7)).map(|c| c.0).ok(), Some(7));
    let stats = s.stats();
    assert_eq!((stats.creation_failures, stats.created, stats.reused), (1, 1, 0));
    assert!(stats.to_string().contains("creation_failures 1"));
}

#[test]
fn admit_limits_each_key_with_its_own_quota() {
    use crate::client_store::Quota;
    use std::time::Duration;
    let clock = MockClock::new();
    let vip = ApiKey::new("sk-vip").unwrap();
    let fingerprinter = Fingerprinter::random().unwrap();
    let vip_fp = fingerprinter.fingerprint(&vip);
    let s = ClientStore::<Client>::builder()
        .clock(clock.clone())
        .fingerprinter(fingerprinter)
        .rate_limit(Quota::per_second(1, 1).unwrap())
        .rate_limit_overrides(move |fp| (*fp == vip_fp).then(|| Quota::per_second(10, 3).unwrap()))
        .build_backend(BackendKind::Mutex)
        .unwrap();
    let plain = ApiKey::new("sk-plain").unwrap();
    assert!(s.admit(&plain).is_ok());
    assert_eq!(s.admit(&plain).map_err(|l| l.retry_in), Err(Duration::from_secs(1)));
    assert!((0..3).all(|_| s.admit(&vip).is_ok()), "the override's burst of 3");
    assert!(s.admit(&vip).is_err());
    clock.advance(Duration::from_millis(100));
    assert!(s.admit(&vip).is_ok(), "one per 100 ms");
    assert_eq!(s.stats().rate_limited, 2);
    assert!(s.stats().to_string().contains(" rate_limited 2 "));
    let unlimited = store(|_, _, _| {});
    assert!((0..1_000).all(|_| unlimited.admit(&plain).is_ok()), "no limit set: all admitted");
    let orphan = ClientStore::<Client>::builder().rate_limit_overrides(|_| None).build_backend(BackendKind::Mutex);
    assert!(matches!(orphan, Err(StoreBuildError::Config(crate::BuildError::MissingSetting { .. }))), "{orphan:?}");
}
