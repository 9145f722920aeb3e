//! Conformance cases for the builder's reloader: refresh-ahead and stale
//! revalidation run in the background on the reload pool, and every caller,
//! the one that found the value due too, is served at once. `MockClock`
//! for time; channels for the hand-offs to the pool's threads.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use futures_executor::block_on;
use ttlkit::clock::MockClock;
use ttlkit::{BuildError, CacheBuilder, Fetch, RemovalCause, SlidingTtlCache, RELOAD_THREADS};

use crate::target::Target;

/// A bound on a hand-off to the pool, which every case of the run shares:
/// generous, since a reload may wait behind other cases' reloads.
const HAND_OFF: Duration = Duration::from_secs(30);
const SECOND: Duration = Duration::from_secs(1);

type Reloader = Box<dyn Fn(&u32) -> Result<u32, &'static str> + Send + Sync>;

/// A reloader held until released: each call says which key it reloads on
/// `entered`, then waits for one `release` before it returns `value`.
struct Held {
    entered: mpsc::Receiver<u32>,
    release: mpsc::Sender<()>,
    calls: Arc<AtomicUsize>,
}

fn held_reloader(value: u32) -> (Held, Reloader) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let reload = move |key: &u32| {
        counted.fetch_add(1, SeqCst);
        let _ = entered_tx.send(*key);
        let _ = release_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        Ok(value)
    };
    (Held { entered, release, calls }, Box::new(reload))
}

/// Removals as the listener heard them.
type Heard = mpsc::Receiver<(u32, u32, RemovalCause)>;

/// A refreshing cache (due after 30 s of a 60 s life) with `reload`.
fn refreshing<T: Target>(t: &T, clock: &MockClock, reload: Reloader) -> (T::Cache<u32, u32>, Heard) {
    let (tx, heard) = mpsc::channel();
    let b = t.base_builder(clock).time_to_live(60 * SECOND).refresh_after(30 * SECOND);
    let b = b.reloader(reload).removal_listener(move |k: &u32, v, cause| {
        let _ = tx.send((*k, v, cause));
    });
    (t.build(b), heard)
}

/// Waits, for at most [`HAND_OFF`], until the pool has done what `done`
/// looks for.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HAND_OFF, "never: {what}");
        thread::yield_now();
    }
}

pub fn a_due_value_is_served_at_once_and_reloaded_once_in_the_background<T: Target>(t: &T) {
    let clock = MockClock::new();
    let (held, reload) = held_reloader(2);
    let (cache, heard) = refreshing(t, &clock, reload);
    assert_eq!(cache.get_or_insert_with(1, || 1), 1);
    clock.advance(31 * SECOND);
    let inits = AtomicUsize::new(0);
    let init = || {
        inits.fetch_add(1, SeqCst);
        9
    };
    let first = cache.entry(1).or_insert_with(init);
    assert_eq!((first.value, first.fetch), (1, Fetch::Hit), "served at once, the reloader still held");
    assert_eq!(held.entered.recv_timeout(HAND_OFF), Ok(1), "the reload runs on the pool");
    thread::scope(|s| {
        let callers: Vec<_> = (0..8).map(|_| s.spawn(|| cache.get_or_insert_with(1, init))).collect();
        for caller in callers {
            assert_eq!(caller.join().unwrap(), 1, "every caller meanwhile: the current value");
        }
    });
    let from_async = block_on(cache.entry(1).or_insert_with_async(async { 9 }));
    assert_eq!((from_async.value, from_async.fetch), (1, Fetch::Hit), "an async caller too");
    assert_eq!(inits.load(SeqCst), 0, "no caller ran its own init");
    held.release.send(()).unwrap();
    assert_eq!(heard.recv_timeout(HAND_OFF), Ok((1, 1, RemovalCause::Replaced)));
    assert_eq!(cache.get(&1), Some(2));
    assert_eq!(cache.entry_info(&1).map(|i| i.since_write), Some(Duration::ZERO), "a new write stamp");
    eventually("the reload is counted", || cache.stats().refreshes_succeeded == 1);
    assert_eq!(held.calls.load(SeqCst), 1, "one reload however many callers");
    let st = cache.stats();
    assert_eq!((st.refreshes_started, st.refreshes_failed, st.loads_started), (1, 0, 2));
    clock.advance(59 * SECOND);
    assert_eq!(cache.get(&1), Some(2), "a new lifetime");
}

pub fn a_failing_or_panicking_reloader_keeps_the_old_value<T: Target>(t: &T) {
    let clock = MockClock::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let reload: Reloader = Box::new(move |_| match counted.fetch_add(1, SeqCst) {
        0 => Err("down"),
        1 => panic!("reloader bug"),
        _ => Ok(3),
    });
    let (cache, _heard) = refreshing(t, &clock, reload);
    cache.insert(1, 1);
    clock.advance(31 * SECOND);
    for failures in 1..=2 {
        let got = cache.entry(1).or_insert_with(|| 9);
        assert_eq!((got.value, got.fetch), (1, Fetch::Hit));
        eventually("the failure is counted", || cache.stats().refreshes_failed == failures);
        assert_eq!(cache.get(&1), Some(1), "failure {failures}: the old value stays");
    }
    assert_eq!(cache.get_or_insert_with(1, || 9), 1, "still due: reloaded again");
    eventually("the reload succeeds", || cache.get(&1) == Some(3));
    eventually("the reload is counted", || cache.stats().refreshes_succeeded == 1);
    let st = cache.stats();
    assert_eq!((st.refreshes_started, st.refreshes_failed, st.loads_failed), (3, 2, 2));
}

pub fn a_reload_whose_store_panics_ends_its_load<T: Target>(t: &T) {
    let clock = MockClock::new();
    let b = t.base_builder(&clock).time_to_live(60 * SECOND).refresh_after(30 * SECOND).max_capacity(100);
    let b = b.weigher(|_: &u32, v: &u32| if *v == 2 { panic!("weigher fault") } else { 1 });
    let cache = t.build(b.reloader(|_: &u32| Ok::<u32, &str>(2)));
    cache.insert(1, 1);
    clock.advance(31 * SECOND);
    assert_eq!(cache.get_or_insert_with(1, || 9), 1);
    eventually("the failed store is counted", || cache.stats().refreshes_failed == 1);
    assert_eq!(cache.get(&1), Some(1), "the old value stays");
    assert_eq!(cache.remove(&1), Some(1));
    // A load left in flight would keep this caller, who has no value to
    // be served, waiting for ever.
    let (tx, rx) = mpsc::channel();
    let caller = cache.clone();
    thread::spawn(move || tx.send(caller.get_or_insert_with(1, || 3)));
    assert_eq!(rx.recv_timeout(HAND_OFF), Ok(3), "nothing is left in flight");
}

pub fn a_write_during_a_reload_wins<T: Target>(t: &T) {
    let clock = MockClock::new();
    let (held, reload) = held_reloader(2);
    let (cache, _heard) = refreshing(t, &clock, reload);
    cache.insert(1, 1);
    clock.advance(31 * SECOND);
    assert_eq!(cache.get_or_insert_with(1, || 9), 1);
    assert_eq!(held.entered.recv_timeout(HAND_OFF), Ok(1));
    cache.insert(1, 5);
    held.release.send(()).unwrap();
    eventually("the reload ends", || cache.stats().refreshes_succeeded == 1);
    assert_eq!(cache.get(&1), Some(5), "the insert made during the reload");
    clock.advance(31 * SECOND);
    assert_eq!(cache.get_or_insert_with(1, || 9), 5);
    assert_eq!(held.entered.recv_timeout(HAND_OFF), Ok(1));
    assert_eq!(cache.remove(&1), Some(5));
    held.release.send(()).unwrap();
    eventually("the reload ends", || cache.stats().refreshes_succeeded == 2);
    assert_eq!(cache.get(&1), None, "the remove made during the reload");
}

/// Cases that need every thread of the pool at once take turns.
static WHOLE_POOL: Mutex<()> = Mutex::new(());

pub fn a_cache_dropped_with_reloads_running_and_queued_lets_them_go<T: Target>(t: &T) {
    let _turn = WHOLE_POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let clock = MockClock::new();
    let (held, reload) = held_reloader(2);
    let (cache, heard) = refreshing(t, &clock, reload);
    let keys = RELOAD_THREADS as u32 + 1;
    for k in 0..keys {
        cache.insert(k, k);
    }
    clock.advance(31 * SECOND);
    for k in 0..keys {
        assert_eq!(cache.get_or_insert_with(k, || 99), k);
    }
    for _ in 0..RELOAD_THREADS {
        held.entered.recv_timeout(HAND_OFF).expect("a reload started");
    }
    assert!(held.entered.try_recv().is_err(), "every pool thread is held: one reload waits in the queue");
    drop(cache);
    // The listener went with the cache: neither the running reloads nor
    // the queued one kept it alive.
    assert!(heard.recv_timeout(Duration::ZERO).is_err_and(|e| e == mpsc::RecvTimeoutError::Disconnected));
    for _ in 0..RELOAD_THREADS {
        held.release.send(()).unwrap();
    }
    // The queue is first in, first out: once a later reload has run, the
    // dropped cache's queued one has been taken, and found no cache.
    let (marker, reload) = held_reloader(7);
    let (other, _heard) = refreshing(t, &clock, reload);
    other.insert(1, 1);
    clock.advance(31 * SECOND);
    assert_eq!(other.get_or_insert_with(1, || 9), 1);
    assert_eq!(marker.entered.recv_timeout(HAND_OFF), Ok(1), "the pool runs on");
    marker.release.send(()).unwrap();
    assert_eq!(held.calls.load(SeqCst), RELOAD_THREADS, "the queued reload of the dropped cache never ran");
}

pub fn a_held_reloader_holds_up_no_sweep<T: Target>(t: &T) {
    let clock = MockClock::new();
    let (held, reload) = held_reloader(2);
    let (cache, _heard) = refreshing(t, &clock, reload);
    cache.insert(1, 1);
    clock.advance(31 * SECOND);
    assert_eq!(cache.get_or_insert_with(1, || 9), 1);
    assert_eq!(held.entered.recv_timeout(HAND_OFF), Ok(1), "a reload is running, and blocks");
    let (tx, expired) = mpsc::channel();
    let b = t.base_builder(&clock).time_to_live(SECOND).sweep_interval(Duration::from_millis(1));
    let swept = t.build(b.removal_listener(move |k: &u32, _: u32, cause| {
        let _ = tx.send((*k, cause));
    }));
    swept.insert(1, 1);
    clock.advance(2 * SECOND);
    assert_eq!(expired.recv_timeout(HAND_OFF), Ok((1, RemovalCause::Expired)), "the sweep ran meanwhile");
    held.release.send(()).unwrap();
    eventually("the reload ends", || cache.get(&1) == Some(2));
}

pub fn a_stale_value_is_served_while_the_reloader_revalidates_it<T: Target>(t: &T) {
    let clock = MockClock::new();
    let (held, reload) = held_reloader(2);
    // A sweeper (the setting needs one) that never runs during the case.
    let b = t.base_builder(&clock).sweep_interval(3600 * SECOND).time_to_live(10 * SECOND);
    let cache = t.build(b.serve_stale_for(5 * SECOND).reloader(reload));
    cache.insert(1, 1);
    clock.advance(11 * SECOND);
    assert_eq!(cache.get(&1), None);
    let got = cache.entry(1).or_insert_with(|| 9);
    assert_eq!((got.value, got.fetch), (1, Fetch::Stale), "the stale value at once");
    assert_eq!(held.entered.recv_timeout(HAND_OFF), Ok(1));
    let during = cache.entry(1).or_insert_with(|| 9);
    assert_eq!((during.value, during.fetch), (1, Fetch::Stale));
    held.release.send(()).unwrap();
    eventually("the revalidation stores", || cache.get(&1) == Some(2));
    let st = cache.stats();
    assert_eq!((st.stale_served, st.refreshes_started), (2, 1));
    assert_eq!(held.calls.load(SeqCst), 1);
}

pub fn a_reloader_needs_refresh_after_or_serve_stale_for<T: Target>(_: &T) {
    let reload = |k: &u32| Ok::<u32, std::io::Error>(*k);
    let alone = CacheBuilder::<u32, u32>::new().reloader(reload).validate();
    assert!(matches!(alone, Err(BuildError::MissingSetting { what: "reloader", .. })), "it would never run");
    assert!(CacheBuilder::<u32, u32>::new().refresh_after(SECOND).reloader(reload).validate().is_ok());
    let stale = CacheBuilder::<u32, u32>::new().serve_stale_for(SECOND).reloader(reload);
    assert!(stale.validate().is_ok());
}
