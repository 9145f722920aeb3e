//! Conformance cases for loads racing writes, loads of one key with several
//! error types, and recursive loads. Each load is held open with channels
//! inside `init`, so the interleaving is fixed, not timed.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

/// How long a test waits for something that must happen promptly.
const PROMPT: Duration = Duration::from_secs(5);

type Log = RemovalLog<u32, u32>;

fn cache<T: Target>(t: &T) -> (T::Cache<u32, u32>, Log) {
    let log = Log::new();
    let b = log.attach(t.builder(Duration::from_secs(60), &MockClock::new()));
    (t.build(b), log)
}

/// Starts `get_or_insert_with(3, ..)` on another thread with an `init` that
/// returns 111 once released; returns after `init` has started.
fn held_load(cache: &impl SlidingTtlCache<u32, u32>) -> (mpsc::Sender<()>, thread::JoinHandle<u32>) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let c = cache.clone();
    let loader = thread::spawn(move || {
        c.get_or_insert_with(3, move || {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            111
        })
    });
    entered_rx.recv_timeout(PROMPT).expect("init started");
    (release_tx, loader)
}

pub fn insert_during_load_wins<T: Target>(t: &T) {
    let (cache, log) = cache(t);
    let (release, loader) = held_load(&cache);
    cache.insert(3, 999);
    release.send(()).unwrap();
    assert_eq!(loader.join().unwrap(), 111, "the load's value goes to its caller");
    assert_eq!(cache.get(&3), Some(999), "the insert made during the load wins");
    assert!(log.is_empty(), "nothing was replaced: {:?}", log.entries());
    assert_eq!(cache.stats().inserts, 1, "the load stored nothing");
}

pub fn remove_during_load_wins<T: Target>(t: &T) {
    let (cache, _log) = cache(t);
    let (release, loader) = held_load(&cache);
    assert_eq!(cache.remove(&3), None);
    release.send(()).unwrap();
    assert_eq!(loader.join().unwrap(), 111);
    assert_eq!(cache.get(&3), None, "the remove made during the load wins");
    assert_eq!(cache.len(), 0);
}

pub fn clear_during_load_wins<T: Target>(t: &T) {
    let (cache, log) = cache(t);
    cache.insert(4, 4);
    let (release, loader) = held_load(&cache);
    cache.clear();
    release.send(()).unwrap();
    assert_eq!(loader.join().unwrap(), 111);
    assert_eq!(cache.get(&3), None, "the clear made during the load wins");
    assert_eq!(cache.get(&4), None);
    assert_eq!(log.entries(), vec![(4, 4, RemovalCause::Cleared)]);
}

pub fn waiters_get_the_value_of_an_invalidated_load<T: Target>(t: &T) {
    let (cache, _log) = cache(t);
    let (release, loader) = held_load(&cache);
    let (joined_tx, joined_rx) = mpsc::channel();
    let c = cache.clone();
    let waiter = thread::spawn(move || {
        joined_tx.send(()).unwrap();
        c.get_or_insert_with(3, || 222)
    });
    joined_rx.recv().unwrap();
    for _ in 0..1000 {
        thread::yield_now();
    }
    cache.insert(3, 999);
    release.send(()).unwrap();
    assert_eq!(loader.join().unwrap(), 111);
    // The waiter either shared the load (111) or arrived after the insert.
    assert!(matches!(waiter.join().unwrap(), 111 | 999));
    assert_eq!(cache.get(&3), Some(999));
}

/// Six callers of one missing key with three error types share one load.
pub fn single_flight_across_error_types<T: Target>(t: &T) {
    const N: usize = 6;
    let (cache, log) = cache(t);
    let runs = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(N));
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let (cache, runs, arrived, start) = (cache.clone(), runs.clone(), arrived.clone(), start.clone());
            let (ran_tx, release_rx) = (ran_tx.clone(), Arc::clone(&release_rx));
            thread::spawn(move || {
                let init = move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    ran_tx.send(()).unwrap();
                    // A lock, not a shared receiver: any init that runs
                    // waits here until the test lets them all go.
                    let _ = release_rx.lock().unwrap().recv();
                    33
                };
                start.wait();
                arrived.fetch_add(1, Ordering::SeqCst);
                match i % 3 {
                    0 => cache.get_or_insert_with(7, init),
                    1 => *cache.try_get_or_insert_with(7, || Ok::<_, String>(init())).as_ref().unwrap(),
                    _ => *cache.try_get_or_insert_with(7, || Ok::<_, std::io::Error>(init())).as_ref().unwrap(),
                }
            })
        })
        .collect();
    ran_rx.recv_timeout(PROMPT).expect("one init started");
    while arrived.load(Ordering::SeqCst) < N {
        thread::yield_now();
    }
    // Time for a wrongly split flight to start a second init.
    let second = ran_rx.recv_timeout(Duration::from_millis(200));
    drop(release_tx);
    let values: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(second.is_err(), "a second init ran while the first was in flight");
    assert_eq!(values, vec![33; N]);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "init ran once for {N} callers with 3 error types");
    assert_eq!(cache.get(&7), Some(33));
    assert!(log.is_empty(), "nothing replaced: {:?}", log.entries());
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
    }
}

/// Runs `f` on its own thread; returns its panic message, failing the test
/// if it neither panics nor returns promptly.
fn panics_promptly(f: impl FnOnce() + Send + 'static) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)).err().map(panic_message));
    });
    match rx.recv_timeout(PROMPT) {
        Ok(Some(msg)) => msg,
        Ok(None) => panic!("the recursive load returned instead of panicking"),
        Err(_) => panic!("the recursive load deadlocked"),
    }
}

pub fn recursive_load_of_one_key_panics<T: Target>(t: &T) {
    const MSG: &str = "recursive load of the same key";
    let (cache, _log) = cache(t);
    let (c, c2) = (cache.clone(), cache.clone());
    let msg = panics_promptly(move || {
        c.get_or_insert_with(1, || c2.get_or_insert_with(1, || 5) + 1);
    });
    assert!(msg.contains(MSG), "panic message: {msg:?}");
    // The try form returns it instead, typed.
    let c = cache.clone();
    let inner = cache.try_get_or_insert_with(1, || c.try_get_or_insert_with(1, || Ok::<u32, String>(5)).map(|v| v + 1));
    let outer = inner.expect_err("the outer load fails with the inner error");
    assert!(outer.get().is_some_and(|inner| inner.is_recursive()), "{outer:?}");
    assert!(outer.to_string().contains(MSG), "{outer}");
    assert_eq!(cache.get(&1), None, "nothing was stored");
    assert_eq!(cache.get_or_insert_with(1, || 7), 7, "the key loads normally afterwards");
    // A nested load of another key is fine.
    assert_eq!(cache.get_or_insert_with(2, || cache.get_or_insert_with(3, || 30) + 1), 31);
}
