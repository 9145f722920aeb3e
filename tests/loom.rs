//! loom model checks of the concurrency protocols, through the public API.
//!
//! Run: `RUSTFLAGS="--cfg ttlkit_loom" cargo test --release --test loom`
//! (without the cfg this file compiles to nothing). Under the cfg, ttlkit's
//! `sync` shim swaps mutexes, condvars, atomics and threads for loom's, and
//! the sharded backend's epoch reclamation for a graveyard freed on drop.

#![cfg(ttlkit_loom)]
#![allow(clippy::unwrap_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, RemovalCause, SlidingTtlCache};

const TTI: Duration = Duration::from_secs(60);
const BACKENDS: [BackendKind; 2] = [BackendKind::Mutex, BackendKind::Sharded];

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

fn builder<V>(clock: &MockClock) -> CacheBuilder<u64, V> {
    CacheBuilder::new()
        .time_to_idle(TTI)
        .clock(clock.clone())
        .no_sweeper()
        .refresh_granularity(Duration::ZERO)
        .shards(1)
}

/// A listener that counts calls per cause and raises `told` once key 1 left.
#[derive(Clone, Default)]
struct Told {
    told: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    replaced: Arc<AtomicUsize>,
}

impl Told {
    fn attach<V: Clone + Send + Sync + 'static>(&self, b: CacheBuilder<u64, V>) -> CacheBuilder<u64, V> {
        let me = self.clone();
        b.removal_listener(move |key, _, cause| {
            me.calls.fetch_add(1, SeqCst);
            if cause == RemovalCause::Replaced {
                me.replaced.fetch_add(1, SeqCst);
            }
            if *key == 1 {
                me.told.store(true, SeqCst);
            }
        })
    }
}

/// A hit racing the removal of key 1 by `remove_it` (explicit removal,
/// expiry, or eviction, where the policy may pick the newcomer instead): a
/// reader that starts after the listener was told key 1 left never gets
/// its value; the listener hears exactly once.
fn hit_races_removal(backend: BackendKind, capacity: Option<u64>, remove_it: fn(&AnyCache<u64, u64>, &MockClock)) {
    model(move || {
        let clock = MockClock::new();
        let told = Told::default();
        let mut b = told.attach(builder::<u64>(&clock));
        if let Some(cap) = capacity {
            b = b.max_capacity(cap);
        }
        let cache = AnyCache::new(backend, b).unwrap();
        cache.insert(1, 10);
        let (reader_cache, reader_told) = (cache.clone(), told.told.clone());
        let reader = thread::spawn(move || {
            let before = reader_told.load(SeqCst);
            let v = reader_cache.get(&1);
            if before {
                assert_eq!(v, None, "value returned after the listener was told it left");
            }
            v
        });
        remove_it(&cache, &clock);
        let v = reader.join().unwrap();
        assert!(v.is_none() || v == Some(10));
        assert_eq!(told.calls.load(SeqCst), 1, "exactly one removal reported");
        assert_eq!(cache.contains_key(&1), !told.told.load(SeqCst), "key 1 is reported iff it is gone");
    });
}

#[test]
fn hit_races_explicit_removal() {
    for backend in BACKENDS {
        hit_races_removal(backend, None, |c, _| {
            c.remove(&1);
        });
    }
}

#[test]
fn hit_races_expiry() {
    for backend in BACKENDS {
        hit_races_removal(backend, None, |c, clock| {
            clock.advance(TTI);
            // The reader may have found it expired and removed it itself.
            c.purge_expired();
        });
    }
}

#[test]
fn hit_races_eviction() {
    for backend in BACKENDS {
        hit_races_removal(backend, Some(1), |c, _| c.insert(2, 20));
    }
}

/// The sharded backend's stale-table case: a reader still probing the table
/// a writer has just replaced (by a rebuild) must not return an entry the
/// writer removed afterwards from the new table.
#[test]
fn hit_races_table_rebuild_then_removal() {
    model(|| {
        let clock = MockClock::new();
        let told = Told::default();
        let cache = AnyCache::new(BackendKind::Sharded, told.attach(builder::<u64>(&clock))).unwrap();
        // A fresh shard table has 8 slots and rebuilds before its 7th entry.
        for k in 1..=6 {
            cache.insert(k, k * 10);
        }
        let (reader_cache, reader_told) = (cache.clone(), told.told.clone());
        let reader = thread::spawn(move || {
            let before = reader_told.load(SeqCst);
            let v = reader_cache.get(&1);
            if before {
                assert_eq!(v, None, "stale table returned a removed entry");
            }
        });
        cache.insert(7, 70);
        cache.remove(&1);
        reader.join().unwrap();
        assert_eq!(told.calls.load(SeqCst), 1);
    });
}

#[test]
fn two_inserts_race_on_one_key() {
    for backend in BACKENDS {
        model(move || {
            let clock = MockClock::new();
            let told = Told::default();
            let cache = AnyCache::new(backend, told.attach(builder::<u64>(&clock))).unwrap();
            let other = cache.clone();
            let t = thread::spawn(move || other.insert(7, 1));
            cache.insert(7, 2);
            t.join().unwrap();
            assert_eq!(told.replaced.load(SeqCst), 1, "exactly one Replaced");
            assert_eq!(told.calls.load(SeqCst), 1);
            let v = cache.get(&7);
            assert!(v == Some(1) || v == Some(2), "survivor is one of the two: {v:?}");
            assert_eq!(cache.len(), 1);
        });
    }
}

#[test]
fn single_flight_two_threads() {
    for backend in BACKENDS {
        model(move || {
            let clock = MockClock::new();
            let cache = AnyCache::new(backend, builder::<u64>(&clock)).unwrap();
            let runs = Arc::new(AtomicUsize::new(0));
            let (other, other_runs) = (cache.clone(), runs.clone());
            let t = thread::spawn(move || {
                other.get_or_insert_with(3, || {
                    other_runs.fetch_add(1, SeqCst);
                    30
                })
            });
            let mine = cache.get_or_insert_with(3, || {
                runs.fetch_add(1, SeqCst);
                30
            });
            assert_eq!(t.join().unwrap(), 30);
            assert_eq!(mine, 30);
            assert_eq!(runs.load(SeqCst), 1, "init ran once");
        });
    }
}

/// An insert racing a load of its key: whatever the interleaving, the
/// insert's value is what stays (it came before the load's lookup, during
/// the load, which then stores nothing, or after the load's store).
#[test]
fn insert_races_a_load() {
    for backend in BACKENDS {
        model(move || {
            let clock = MockClock::new();
            let cache = AnyCache::new(backend, builder::<u64>(&clock)).unwrap();
            let other = cache.clone();
            let t = thread::spawn(move || other.insert(3, 999));
            let loaded = cache.get_or_insert_with(3, || 111);
            t.join().unwrap();
            assert!(loaded == 111 || loaded == 999, "{loaded}");
            assert_eq!(cache.get(&3), Some(999), "the insert wins");
        });
    }
}

#[test]
fn panicking_init_lets_the_other_thread_load() {
    for backend in BACKENDS {
        model(move || {
            let clock = MockClock::new();
            let cache = AnyCache::new(backend, builder::<u64>(&clock)).unwrap();
            let other = cache.clone();
            let t = thread::spawn(move || {
                catch_unwind(AssertUnwindSafe(|| other.get_or_insert_with(4, || panic!("init fails")))).is_err()
            });
            let mine = cache.get_or_insert_with(4, || 40);
            let other_panicked = t.join().unwrap();
            assert_eq!(mine, 40, "the surviving thread loads (or waits, then retries)");
            assert!(other_panicked || cache.get(&4) == Some(40));
            assert_eq!(cache.get(&4), Some(40));
        });
    }
}

#[test]
fn dropping_the_last_handle_during_a_sweep() {
    for backend in BACKENDS {
        model(move || {
            let clock = MockClock::new();
            let probe = Arc::new(0u8);
            let b = CacheBuilder::<u64, Arc<u8>>::new()
                .time_to_idle(TTI)
                .clock(clock.clone())
                .shards(1)
                .sweep_interval(TTI);
            let cache = AnyCache::new(backend, b).unwrap();
            cache.insert(1, probe.clone());
            cache.insert(2, probe.clone());
            clock.advance(TTI);
            // The sweeper's first pass runs now, racing this drop; the drop
            // must stop and join it without deadlock.
            drop(cache);
            assert_eq!(Arc::strong_count(&probe), 1, "every entry was freed");
        });
    }
}

/// A sharded cache of one shard and capacity 2, holding `keys`.
fn bounded_sharded(clock: &MockClock, keys: &[u64]) -> AnyCache<u64, u64> {
    let cache = AnyCache::new(BackendKind::Sharded, builder::<u64>(clock).max_capacity(2)).unwrap();
    for &k in keys {
        cache.insert(k, k);
    }
    cache
}

/// After the racing threads joined: within the bound, and the weight the
/// cache believes it holds is the weight it does hold — a refill of fresh
/// keys leaves it exactly full (a total that drifted up would leave fewer
/// entries, one that drifted down more).
fn assert_exact_accounting(cache: &AnyCache<u64, u64>) {
    assert!(cache.len() <= 2, "above the bound after the writers joined: {}", cache.len());
    cache.purge_expired();
    for k in 100..103 {
        cache.insert(k, k);
    }
    assert_eq!(cache.len(), 2, "the cache-wide weight drifted from the shards'");
}

#[test]
fn two_inserts_and_a_remove_race_on_one_bounded_shard() {
    model(|| {
        let clock = MockClock::new();
        let cache = bounded_sharded(&clock, &[1]);
        let (a, b) = (cache.clone(), cache.clone());
        let ta = thread::spawn(move || a.insert(2, 2));
        let tb = thread::spawn(move || b.insert(3, 3));
        cache.remove(&1);
        ta.join().unwrap();
        tb.join().unwrap();
        assert_exact_accounting(&cache);
    });
}

#[test]
fn insert_races_a_purge_of_the_same_shard() {
    model(|| {
        let clock = MockClock::new();
        let cache = bounded_sharded(&clock, &[1, 2]);
        clock.advance(TTI);
        let other = cache.clone();
        let t = thread::spawn(move || {
            other.purge_expired();
        });
        cache.insert(3, 3);
        t.join().unwrap();
        assert_exact_accounting(&cache);
    });
}

#[test]
fn clear_races_an_insert() {
    model(|| {
        let clock = MockClock::new();
        let cache = bounded_sharded(&clock, &[1]);
        let other = cache.clone();
        let t = thread::spawn(move || other.clear());
        cache.insert(2, 2);
        t.join().unwrap();
        assert_exact_accounting(&cache);
    });
}
