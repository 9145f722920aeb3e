//! The cases of the conformance suite, generic over the [`Target`] they run
//! on (see `list.rs` for what each needs of it).

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{CacheBuilder, RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::{Key, Target, Value};

const TTI: Duration = Duration::from_secs(60);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A cache under test with its clock and its listener's log.
struct Fixture<C, K, V> {
    cache: C,
    clock: MockClock,
    log: RemovalLog<K, V>,
}

impl<C, K: Key, V: Value> Fixture<C, K, V> {
    fn removals(&self) -> Vec<(K, V, RemovalCause)> {
        self.log.entries()
    }

    fn causes(&self) -> Vec<RemovalCause> {
        self.log.causes()
    }
}

/// A cache with a recording listener, configured further by `f`.
fn fixture<T: Target, K: Key, V: Value>(
    t: &T,
    f: impl FnOnce(CacheBuilder<K, V>) -> CacheBuilder<K, V>,
) -> Fixture<T::Cache<K, V>, K, V> {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(f(log.attach(t.builder(TTI, &clock))));
    Fixture { cache, clock, log }
}

pub fn sliding_refresh_on_get<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    f.cache.insert(1, 10);
    f.clock.advance(secs(40));
    assert_eq!(f.cache.get(&1), Some(10), "t=40: within the first window");
    f.clock.advance(secs(40));
    assert_eq!(f.cache.get(&1), Some(10), "t=80: alive only because the get at t=40 slid the window");
    f.clock.advance(secs(59));
    assert_eq!(f.cache.get(&1), Some(10), "t=139: one second before the deadline set at t=80");
    f.clock.advance(secs(60));
    assert_eq!(f.cache.get(&1), None, "t=199: idle for 60 s");
}

pub fn peek_does_not_refresh<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    f.cache.insert(1, 10);
    f.clock.advance(secs(40));
    assert_eq!(f.cache.peek(&1), Some(10));
    f.clock.advance(secs(19));
    assert_eq!(f.cache.peek(&1), Some(10), "t=59: still inside the first window");
    f.clock.advance(secs(1));
    assert_eq!(f.cache.peek(&1), None, "t=60: the peeks did not slide the window");
    assert_eq!(f.cache.get(&1), None);
}

pub fn contains_key_does_not_refresh<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    f.cache.insert(1, 10);
    f.clock.advance(secs(40));
    assert!(f.cache.contains_key(&1));
    f.clock.advance(secs(20));
    assert!(!f.cache.contains_key(&1), "t=60: contains_key did not slide the window");
}

pub fn overwrite_refreshes_idle_and_lifetime<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.time_to_live(secs(100)));
    f.cache.insert(1, 10);
    f.clock.advance(secs(50));
    f.cache.insert(1, 11);
    f.clock.advance(secs(50));
    assert_eq!(f.cache.peek(&1), Some(11), "t=100: overwrite at t=50 started a new idle window and lifetime");
    f.clock.advance(secs(9));
    assert_eq!(f.cache.get(&1), Some(11));
    f.clock.advance(secs(40));
    assert_eq!(f.cache.get(&1), Some(11), "t=149: lifetime runs to t=150");
    f.clock.advance(secs(1));
    assert_eq!(f.cache.get(&1), None, "t=150: lifetime from the overwrite is over");
}

pub fn lifetime_not_extended_by_reads<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.time_to_live(secs(150)));
    f.cache.insert(1, 10);
    for _ in 0..14 {
        f.clock.advance(secs(10));
        assert_eq!(f.cache.get(&1), Some(10), "read every 10 s keeps it from idling");
    }
    f.clock.advance(secs(9));
    assert_eq!(f.cache.get(&1), Some(10), "t=149");
    f.clock.advance(secs(1));
    assert_eq!(f.cache.get(&1), None, "t=150: max lifetime, however hot");
    assert!(!f.cache.contains_key(&1));
}

pub fn expired_entry_never_returned_before_purge<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.max_capacity(100));
    for k in 0..10 {
        f.cache.insert(k, k);
    }
    f.clock.advance(TTI);
    for k in 0..10 {
        assert_eq!(f.cache.peek(&k), None);
        assert!(!f.cache.contains_key(&k));
        assert_eq!(f.cache.get(&k), None);
    }
    let hits: u64 = (0..10).map(|k| f.cache.get_or_insert_with(k, || k + 100)).sum();
    assert_eq!(hits, (100..110).sum::<u64>(), "loads see a miss, not the stale value");
}

pub fn len_counts_unpurged_expired_entries<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    for k in 0..5 {
        f.cache.insert(k, k);
    }
    f.clock.advance(TTI);
    assert_eq!(f.cache.len(), 5, "len() counts expired entries until they are purged");
    assert_eq!(f.cache.purge_expired(), 5);
    assert_eq!(f.cache.len(), 0);
    assert!(f.cache.is_empty());
}

pub fn purge_returns_count_and_reports_expired<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.time_to_live(secs(90)));
    for k in 0..1000 {
        f.cache.insert(k, k);
    }
    f.clock.advance(secs(30));
    for k in 0..500 {
        f.cache.get(&k);
    }
    f.clock.advance(secs(30));
    // t=60: keys 500.. idled out; 0..500 were read at t=30.
    assert_eq!(f.cache.purge_expired(), 500);
    assert_eq!(f.cache.purge_expired(), 0);
    f.clock.advance(secs(30));
    // t=90: the lifetime ends for the rest.
    assert_eq!(f.cache.purge_expired(), 500);
    let removals = f.removals();
    assert_eq!(removals.len(), 1000);
    assert!(removals.iter().all(|(_, _, c)| *c == RemovalCause::Expired));
    let keys: HashSet<u64> = removals.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(keys.len(), 1000, "each key reported exactly once");
}

pub fn capacity_bound_after_maintenance<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.max_capacity(100));
    for k in 0..1000 {
        f.cache.insert(k, k);
        f.cache.get(&(k / 2));
    }
    f.cache.purge_expired();
    assert!(f.cache.len() <= 100, "len {} above capacity after maintenance", f.cache.len());
    let evicted = f.removals();
    assert_eq!(evicted.len() + f.cache.len(), 1000, "every key is resident or reported");
    assert!(evicted.iter().all(|(_, _, c)| *c == RemovalCause::Capacity));
    assert_eq!(f.cache.stats().removals(RemovalCause::Capacity), evicted.len() as u64);
}

pub fn capacity_evicts_expired_first<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.max_capacity(10));
    for k in 0..5 {
        f.cache.insert(k, k);
    }
    f.clock.advance(secs(30));
    for k in 5..10 {
        f.cache.insert(k, k);
    }
    f.clock.advance(secs(30));
    // Keys 0..5 are expired now; new keys must displace them, not live ones.
    for k in 10..15 {
        f.cache.insert(k, k);
    }
    f.cache.purge_expired();
    for k in 5..15 {
        assert_eq!(f.cache.peek(&k), Some(k), "live key {k} was evicted while expired ones remained");
    }
    assert!(f.causes().iter().all(|c| *c == RemovalCause::Expired));
    assert_eq!(f.causes().len(), 5);
}

pub fn weigher_bounds_total_weight<T: Target>(t: &T) {
    let f = fixture::<T, u64, String>(t, |b| b.max_capacity(100).weigher(|_, v: &String| v.len() as u32));
    for k in 0..50 {
        f.cache.insert(k, "x".repeat(10));
    }
    f.cache.purge_expired();
    let held: usize = (0..50).filter_map(|k| f.cache.peek(&k)).map(|v| v.len()).sum();
    assert!(held <= 100, "weight {held} above 100");
    assert!(f.cache.len() <= 10);
    assert_eq!(f.removals().len() + f.cache.len(), 50);
}

pub fn remove_returns_only_live_values<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    f.cache.insert(1, 10);
    f.cache.insert(2, 20);
    assert_eq!(f.cache.remove(&1), Some(10));
    assert_eq!(f.cache.remove(&1), None);
    f.clock.advance(TTI);
    assert_eq!(f.cache.remove(&2), None, "an expired entry is not handed back");
    f.cache.purge_expired();
    assert_eq!(f.removals(), vec![(1, 10, RemovalCause::Explicit), (2, 20, RemovalCause::Expired)]);
}

pub fn listener_causes_exactly_once<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.max_capacity(3));
    f.cache.insert(1, 10);
    f.cache.insert(1, 11); // Replaced (10)
    f.cache.remove(&1); // Explicit (11)
    f.cache.insert(2, 20);
    f.clock.advance(TTI);
    f.cache.purge_expired(); // Expired (20)
    for k in 3..7 {
        f.cache.insert(k, k * 10); // one Capacity among 30..60
    }
    f.cache.purge_expired();
    f.cache.clear(); // Cleared x3
    f.cache.purge_expired();
    let mut by_cause = std::collections::BTreeMap::new();
    for (_, _, c) in f.removals() {
        *by_cause.entry(c).or_insert(0) += 1;
    }
    let expected: std::collections::BTreeMap<_, _> = [
        (RemovalCause::Replaced, 1),
        (RemovalCause::Explicit, 1),
        (RemovalCause::Expired, 1),
        (RemovalCause::Capacity, 1),
        (RemovalCause::Cleared, 3),
    ]
    .into_iter()
    .collect();
    assert_eq!(by_cause, expected);
    let removals = f.removals();
    assert_eq!(
        &removals[..3],
        &[(1, 10, RemovalCause::Replaced), (1, 11, RemovalCause::Explicit), (2, 20, RemovalCause::Expired)]
    );
    let stats = f.cache.stats();
    for (cause, n) in expected {
        assert_eq!(stats.removals(cause), n, "{cause}");
    }
    // Nothing is reported twice: every value 30..60 appears once overall.
    let values: Vec<u64> = removals[3..].iter().map(|(_, v, _)| *v).collect();
    let unique: HashSet<u64> = values.iter().copied().collect();
    assert_eq!(values.len(), unique.len());
    assert_eq!(unique, (3..7).map(|k| k * 10).collect());
}

pub fn listener_may_use_the_cache<T: Target>(t: &T) {
    // The listener reads and writes the very cache it listens to: a listener
    // called under a lock would deadlock here.
    let clock = MockClock::new();
    let slot: Arc<OnceLock<T::Cache<u64, u64>>> = Arc::default();
    let inside = Arc::clone(&slot);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let b = t.builder::<u64, u64>(TTI, &clock).max_capacity(10).removal_listener(move |k, v, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        if let Some(c) = inside.get() {
            let _ = c.get(k);
            if *k < 1000 {
                c.insert(k + 1000, v);
            }
        }
    });
    let cache = t.build(b);
    let _ = slot.set(cache.clone());
    cache.insert(1, 1);
    cache.remove(&1);
    cache.insert(2, 2);
    clock.advance(TTI);
    cache.purge_expired();
    cache.clear();
    assert!(calls.load(Ordering::SeqCst) >= 3);
    assert!(cache.contains_key(&1002) || cache.stats().removals(RemovalCause::Cleared) > 0);
}

pub fn listener_panic_is_contained<T: Target>(t: &T) {
    let clock = MockClock::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let b = t.builder::<u64, u64>(TTI, &clock).removal_listener(move |_, _, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        panic!("listener bug");
    });
    let cache = t.build(b);
    for k in 0..3 {
        cache.insert(k, k);
    }
    assert_eq!(cache.remove(&0), Some(0));
    clock.advance(TTI);
    assert_eq!(cache.purge_expired(), 2, "both remaining entries still reported after a panic");
    cache.insert(7, 7);
    assert_eq!(cache.get(&7), Some(7), "the cache still works");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(cache.stats().listener_panics, 3);
}

pub fn overwrite_of_expired_entry_reports_expired<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    f.cache.insert(1, 10);
    f.clock.advance(TTI);
    f.cache.insert(1, 11);
    f.cache.purge_expired();
    assert_eq!(f.removals(), vec![(1, 10, RemovalCause::Expired)]);
    assert_eq!(f.cache.get(&1), Some(11));
}

pub fn clear_reports_cleared<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    for k in 0..10 {
        f.cache.insert(k, k);
    }
    f.cache.clear();
    f.cache.purge_expired();
    assert_eq!(f.cache.len(), 0);
    assert_eq!(f.causes(), vec![RemovalCause::Cleared; 10]);
    assert_eq!(f.cache.get(&3), None);
}

pub fn clones_share_one_cache<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    let other = f.cache.clone();
    other.insert(1, 10);
    assert_eq!(f.cache.get(&1), Some(10));
    let from_thread = thread::spawn(move || other.get(&1)).join().unwrap();
    assert_eq!(from_thread, Some(10));
}

pub fn get_or_insert_hit_skips_init<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    f.cache.insert(1, 10);
    assert_eq!(f.cache.get_or_insert_with(1, || unreachable!("hit must not load")), 10);
    assert_eq!(f.cache.try_get_or_insert_with(1, || Err::<u64, &str>("no")), Ok(10));
    assert_eq!(f.cache.get_or_insert_with(2, || 20), 20);
    assert_eq!(f.cache.get(&2), Some(20), "a loaded value is stored");
}

pub fn single_flight_eight_threads<T: Target>(t: &T) {
    const N: usize = 8;
    let f = fixture::<T, u64, u64>(t, |b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (cache, runs, arrived, start) = (f.cache.clone(), runs.clone(), arrived.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                arrived.fetch_add(1, Ordering::SeqCst);
                cache.get_or_insert_with(7, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    // Hold the load open until every thread has asked, so
                    // the others really wait on it (late arrivals would
                    // simply hit; init would still run once).
                    while arrived.load(Ordering::SeqCst) < N {
                        thread::yield_now();
                    }
                    for _ in 0..1000 {
                        thread::yield_now();
                    }
                    77
                })
            })
        })
        .collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, vec![77; N]);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "init ran once for {N} concurrent callers");
    assert_eq!(f.cache.stats().inserts, 1);
}

pub fn error_is_not_cached<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    let err = f.cache.try_get_or_insert_with(1, || Err::<u64, String>("upstream down".into())).unwrap_err();
    assert_eq!(err.get().map(String::as_str), Some("upstream down"));
    assert!(!f.cache.contains_key(&1));
    assert_eq!(f.cache.try_get_or_insert_with(1, || Ok::<u64, String>(11)), Ok(11));
    assert_eq!(f.cache.get(&1), Some(11));
    assert_eq!(f.cache.stats().load_failures, 1);
}

pub fn concurrent_waiters_share_the_error<T: Target>(t: &T) {
    const N: usize = 4;
    let f = fixture::<T, u64, u64>(t, |b| b);
    let runs = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(N));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (cache, runs, arrived, start) = (f.cache.clone(), runs.clone(), arrived.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                arrived.fetch_add(1, Ordering::SeqCst);
                cache.try_get_or_insert_with(5, || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < N {
                        thread::yield_now();
                    }
                    Err::<u64, u32>(503)
                })
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.iter().all(|r| r.as_ref().err().and_then(|e| e.get().copied()) == Some(503)));
    let runs = runs.load(Ordering::SeqCst);
    assert!((1..=N).contains(&runs));
    assert!(!f.cache.contains_key(&5), "the error was not cached");
    assert_eq!(f.cache.stats().load_failures, runs as u64);
}

pub fn panicking_init_poisons_nothing<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    let caught = catch_unwind(AssertUnwindSafe(|| f.cache.get_or_insert_with(1, || panic!("init bug"))));
    assert!(caught.is_err(), "the panic reaches its caller");
    assert!(!f.cache.contains_key(&1));
    assert_eq!(f.cache.get_or_insert_with(1, || 11), 11, "a later caller retries");
    f.cache.insert(2, 2);
    assert_eq!(f.cache.get(&2), Some(2));
    assert_eq!(f.cache.stats().load_failures, 1);
}

pub fn waiter_retries_after_leader_panics<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let leader_cache = f.cache.clone();
    let leader = thread::spawn(move || {
        catch_unwind(AssertUnwindSafe(|| {
            leader_cache.get_or_insert_with(9, || {
                entered_tx.send(()).unwrap();
                let _ = release_rx.recv();
                panic!("leader's init fails")
            })
        }))
    });
    entered_rx.recv().unwrap();
    let waiter_cache = f.cache.clone();
    let waiter = thread::spawn(move || waiter_cache.get_or_insert_with(9, || 99));
    // Give the waiter a moment to join the flight, then let the leader panic.
    for _ in 0..1000 {
        thread::yield_now();
    }
    release_tx.send(()).unwrap();
    assert!(leader.join().unwrap().is_err());
    assert_eq!(waiter.join().unwrap(), 99, "the waiter was not wedged and loaded for itself");
    assert_eq!(f.cache.get(&9), Some(99));
}

pub fn stats_consistent_with_operations<T: Target>(t: &T) {
    let f = fixture::<T, u64, u64>(t, |b| b.max_capacity(2));
    f.cache.insert(1, 1); // insert 1
    f.cache.get(&1); // hit 1
    f.cache.get(&2); // miss 1
    f.cache.peek(&1); // not counted
    f.cache.contains_key(&2); // not counted
    f.cache.get_or_insert_with(2, || 2); // miss 2, insert 2
    f.cache.get_or_insert_with(2, || 0); // hit 2
    f.cache.insert(2, 3); // insert 3, Replaced 1
    f.cache.insert(3, 3); // insert 4, Capacity 1 (the policy may pick 3 itself)
    let admitted = f.cache.contains_key(&3);
    f.cache.remove(&3); // Explicit 1 if 3 is still there
    let s = f.cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (2, 2, 4));
    assert!((s.hit_ratio() - 0.5).abs() < 1e-9);
    assert_eq!(s.removals(RemovalCause::Replaced), 1);
    assert_eq!(s.removals(RemovalCause::Capacity), 1);
    assert_eq!(s.removals(RemovalCause::Explicit), u64::from(admitted));
    assert_eq!(s.total_removals(), f.removals().len() as u64);
}

pub fn sweeper_purges_without_traffic<T: Target>(t: &T) {
    // A real sweeper (every millisecond) over mock time: after time moves,
    // expired entries are reclaimed and reported with no call on the cache.
    let clock = MockClock::new();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let b =
        t.builder::<u64, u64>(TTI, &clock).sweep_interval(Duration::from_millis(1)).removal_listener(move |k, _, c| {
            let _ = tx.lock().unwrap().send((*k, c));
        });
    let cache = t.build(b);
    for k in 0..100 {
        cache.insert(k, k);
    }
    clock.advance(TTI);
    let mut got = HashSet::new();
    while got.len() < 100 {
        let (k, c) = rx.recv_timeout(Duration::from_secs(30)).expect("sweeper reported every expired entry");
        assert_eq!(c, RemovalCause::Expired);
        assert!(got.insert(k), "key {k} reported twice");
    }
    assert_eq!(cache.len(), 0);
}

pub fn borrowed_key_lookups<T: Target>(t: &T) {
    let f = fixture::<T, String, u64>(t, |b| b);
    f.cache.insert("alpha".to_string(), 1);
    assert_eq!(f.cache.get("alpha"), Some(1));
    assert_eq!(f.cache.peek("alpha"), Some(1));
    assert!(f.cache.contains_key("alpha"));
    assert_eq!(f.cache.remove("alpha"), Some(1));
    assert_eq!(f.cache.get("alpha"), None);
}
