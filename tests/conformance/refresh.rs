//! Conformance cases for the builder's load settings: refresh-ahead,
//! stale-while-revalidate and stale-if-error, the load timeout, and
//! recursive loads as typed errors. `MockClock`; interleavings fixed with
//! channels.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{BuildError, CacheBuilder, Fetch, LoadError, SlidingTtlCache};

use crate::target::Target;

const PROMPT: Duration = Duration::from_secs(5);
const SECOND: Duration = Duration::from_secs(1);

fn refreshing<T: Target>(t: &T, clock: &MockClock) -> T::Cache<u32, u32> {
    t.build(t.base_builder(clock).time_to_live(60 * SECOND).refresh_after(30 * SECOND))
}

pub fn refresh_after_reloads_a_live_value<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = refreshing(t, &clock);
    assert_eq!(cache.get_or_insert_with(1, || 1), 1);
    clock.advance(29 * SECOND);
    assert_eq!(cache.entry(1).or_insert_with(|| 2).fetch, Fetch::Hit, "not due yet");
    clock.advance(2 * SECOND);
    let got = cache.entry(1).or_insert_with(|| 2);
    assert_eq!((got.value, got.fetch), (2, Fetch::Loaded), "the caller that found it due reloaded it");
    assert_eq!(cache.entry_info(&1).map(|i| i.since_write), Some(Duration::ZERO), "a new write stamp");
    clock.advance(59 * SECOND);
    assert_eq!(cache.get(&1), Some(2), "a new lifetime");
    let st = cache.stats();
    assert_eq!((st.refreshes_started, st.refreshes_succeeded, st.refreshes_failed), (1, 1, 0));
    assert_eq!(st.loads_started, 2);
}

pub fn a_failed_refresh_keeps_the_old_value<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = refreshing(t, &clock);
    cache.get_or_insert_with(1, || 1);
    clock.advance(31 * SECOND);
    let got = cache.entry(1).or_try_insert_with(|| Err::<u32, &str>("down")).unwrap();
    assert_eq!((got.value, got.fetch), (1, Fetch::Hit), "the error is counted, the value stays");
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(cache.stats().refreshes_failed, 1);
}

pub fn callers_during_a_refresh_get_the_current_value_at_once<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = refreshing(t, &clock);
    cache.get_or_insert_with(1, || 1);
    clock.advance(31 * SECOND);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let inits = AtomicUsize::new(0);
    thread::scope(|s| {
        let reloading = s.spawn(|| {
            cache.get_or_insert_with(1, || {
                entered_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
                2
            })
        });
        entered_rx.recv_timeout(PROMPT).expect("the reload started");
        let during = cache.get_or_insert_with(1, || {
            inits.fetch_add(1, Ordering::SeqCst);
            3
        });
        assert_eq!(during, 1, "served the current value, not made to wait");
        release_tx.send(()).unwrap();
        assert_eq!(reloading.join().unwrap(), 2);
    });
    assert_eq!(inits.load(Ordering::SeqCst), 0, "one reload");
    assert_eq!(cache.get(&1), Some(2));
}

fn stale<T: Target>(t: &T, clock: &MockClock) -> T::Cache<u32, u32> {
    // A sweeper (the setting needs one) that never runs during the case.
    let b = t.base_builder(clock).sweep_interval(3600 * SECOND).time_to_live(10 * SECOND);
    t.build(b.serve_stale_for(5 * SECOND))
}

pub fn stale_values_are_served_while_one_reload_runs_and_if_it_fails<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = stale(t, &clock);
    cache.insert(1, 1);
    clock.advance(11 * SECOND);
    assert_eq!(cache.get(&1), None, "a plain get never returns a stale value");
    let failed = cache.entry(1).or_try_insert_with(|| Err::<u32, &str>("down")).unwrap();
    assert_eq!((failed.value, failed.fetch), (1, Fetch::Stale), "stale-if-error");
    // While a reload runs, callers get the stale value at once.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    thread::scope(|s| {
        let reloading = s.spawn(|| {
            cache.entry(1).or_insert_with(|| {
                entered_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
                2
            })
        });
        entered_rx.recv_timeout(PROMPT).expect("the reload started");
        let during = cache.entry(1).or_insert_with(|| 3);
        assert_eq!((during.value, during.fetch), (1, Fetch::Stale));
        release_tx.send(()).unwrap();
        assert_eq!(reloading.join().unwrap().fetch, Fetch::Loaded);
    });
    assert_eq!(cache.get(&1), Some(2));
    let st = cache.stats();
    assert_eq!((st.stale_served, st.refreshes_started, st.refreshes_failed), (2, 2, 1));
}

pub fn the_stale_window_closes_and_writes_end_it<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = stale(t, &clock);
    cache.insert(1, 1);
    cache.insert(2, 2);
    clock.advance(10 * SECOND);
    assert_eq!(cache.purge_expired(), 2, "both leave, and open their windows, now");
    assert_eq!(cache.remove(&2), None);
    assert_eq!(cache.entry(2).or_insert_with(|| 20).fetch, Fetch::Loaded, "a remove ends the window");
    clock.advance(5 * SECOND);
    assert_eq!(cache.entry(1).or_insert_with(|| 10).fetch, Fetch::Loaded, "the window is closed");
}

pub fn serving_stale_needs_the_sweeper<T: Target>(_: &T) {
    let b = CacheBuilder::<u32, u32>::new().no_sweeper().serve_stale_for(SECOND);
    assert!(matches!(b.validate(), Err(BuildError::MissingSetting { what: "serve_stale_for", .. })));
    let zero = CacheBuilder::<u32, u32>::new().refresh_after(Duration::ZERO).validate();
    assert!(matches!(zero, Err(BuildError::ZeroDuration { what: "refresh_after" })));
}

pub fn a_waiter_gives_up_after_the_load_timeout<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u32, u32>(&clock).load_timeout(5 * SECOND));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    thread::scope(|s| {
        let leading = s.spawn(|| {
            cache.get_or_insert_with(1, || {
                entered_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
                1
            })
        });
        entered_rx.recv_timeout(PROMPT).expect("the load started");
        let waiting = s.spawn(|| cache.try_get_or_insert_with(1, || Ok::<u32, &str>(2)));
        let panicking = s.spawn(|| cache.get_or_insert_with(1, || 3));
        // A waiter starts its wait just after its lookup counts the miss:
        // move time until both have waited it out.
        while !(waiting.is_finished() && panicking.is_finished()) {
            if cache.stats().misses >= 3 {
                clock.advance(5 * SECOND);
            }
            thread::yield_now();
        }
        let err = waiting.join().unwrap().unwrap_err();
        assert!(matches!(err, LoadError::TimedOut { waited } if waited >= 5 * SECOND), "{err:?}");
        assert!(panicking.join().is_err(), "the non-try form panics with the timeout");
        release_tx.send(()).unwrap();
        assert_eq!(leading.join().unwrap(), 1);
    });
    assert_eq!(cache.get(&1), Some(1), "the load it waited on carried on and stored");
}

pub fn a_recursive_load_is_a_typed_error_from_the_try_forms<T: Target>(t: &T) {
    let cache = t.build(t.base_builder::<u32, u32>(&MockClock::new()));
    let c = cache.clone();
    let outer = cache.try_get_or_insert_with(1, || match c.try_get_or_insert_with(1, || Ok::<u32, &str>(5)) {
        Err(LoadError::Recursive) => Err("recursive"),
        _ => Ok(0),
    });
    assert_eq!(outer.unwrap_err().get(), Some(&"recursive"));
    assert_eq!(cache.get_or_insert_with(1, || 7), 7, "nothing is left in flight");
}
