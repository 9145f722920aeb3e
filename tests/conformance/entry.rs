//! Conformance cases for the entry API: loads that say where their value
//! came from, and `and_compute_with`, atomic per key against every other
//! write, load and compute of the key. Interleavings are fixed with
//! channels inside the closures, not timed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use futures_executor::block_on;
use ttlkit::clock::MockClock;
use ttlkit::{Computed, Fetch, Op, SlidingTtlCache};

use crate::target::Target;

const PROMPT: Duration = Duration::from_secs(5);

fn cache<T: Target>(t: &T) -> T::Cache<u32, u32> {
    t.build(t.builder(Duration::from_secs(60), &MockClock::new()))
}

fn plus_one(n: Option<&u32>) -> Op<u32> {
    Op::Put(n.copied().unwrap_or(0) + 1)
}

pub fn entry_loads_say_where_their_value_came_from<T: Target>(t: &T) {
    let cache = cache(t);
    let first = cache.entry(1).or_insert_with(|| 10);
    assert_eq!((first.value, first.fetch), (10, Fetch::Loaded));
    let again = cache.entry(1).or_try_insert_with(|| Err::<u32, &str>("unused")).unwrap();
    assert_eq!((again.value, again.fetch), (10, Fetch::Hit));
    let failed = cache.entry(2).or_try_insert_with(|| Err::<u32, &str>("down")).unwrap_err();
    assert_eq!(failed.get(), Some(&"down"));
    let loaded = block_on(cache.entry(3).or_insert_with_async(async { 30 }));
    assert_eq!((loaded.value, loaded.fetch), (30, Fetch::Loaded));
    assert_eq!(block_on(cache.get_or_insert_async(3, async { 31 })), 30);
}

pub fn and_compute_with_puts_removes_and_keeps<T: Target>(t: &T) {
    let cache = cache(t);
    assert_eq!(cache.entry(1).and_compute_with(plus_one), Computed::Inserted(1));
    assert_eq!(cache.entry(1).and_compute_with(plus_one), Computed::Replaced { old: 1, new: 2 });
    assert_eq!(cache.entry(1).and_compute_with(|_| Op::Keep), Computed::Unchanged(Some(2)));
    assert_eq!(cache.get(&1), Some(2));
    assert_eq!(cache.entry(1).and_compute_with(|_| Op::Remove), Computed::Removed(2));
    assert_eq!(cache.get(&1), None);
    assert_eq!(cache.entry(1).and_compute_with(|_| Op::Remove), Computed::Unchanged(None));
    let put = block_on(cache.entry(4).and_compute_with_async(|n| async move { Op::Put(n.unwrap_or(0) + 40) }));
    assert_eq!(put, Computed::Inserted(40));
    assert_eq!(cache.get(&4), Some(40));
}

pub fn concurrent_computes_lose_no_increment<T: Target>(t: &T) {
    let cache = cache(t);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    cache.entry(1).and_compute_with(plus_one);
                }
            });
        }
        s.spawn(|| {
            for _ in 0..50 {
                block_on(cache.entry(1).and_compute_with_async(|n| async move { Op::Put(n.unwrap_or(0) + 1) }));
            }
        });
    });
    assert_eq!(cache.get(&1), Some(250), "every increment counted");
}

/// An insert made while the closure runs makes it run again on the
/// inserted value: the compute's write is made on what it saw.
pub fn a_write_during_a_compute_makes_it_run_again<T: Target>(t: &T) {
    let cache = cache(t);
    cache.insert(1, 1);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let calls = AtomicUsize::new(0);
    thread::scope(|s| {
        let computing = s.spawn(|| {
            cache.entry(1).and_compute_with(|n| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    entered_tx.send(()).unwrap();
                    release_rx.lock().unwrap().recv().unwrap();
                }
                plus_one(n)
            })
        });
        entered_rx.recv_timeout(PROMPT).expect("the closure started");
        cache.insert(1, 10);
        release_tx.send(()).unwrap();
        assert_eq!(computing.join().unwrap(), Computed::Replaced { old: 10, new: 11 });
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2, "once on 1, again on 10");
    assert_eq!(cache.get(&1), Some(11));
}

/// A load of the key waits for a compute of it and gets its result; the
/// load's own `init` does not run.
pub fn loads_wait_for_a_compute_of_their_key<T: Target>(t: &T) {
    let cache = cache(t);
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let inits = Arc::new(AtomicUsize::new(0));
    thread::scope(|s| {
        let computing = s.spawn(|| {
            cache.entry(1).and_compute_with(|_| {
                entered_tx.send(()).unwrap();
                release_rx.lock().unwrap().recv().unwrap();
                Op::Put(5)
            })
        });
        entered_rx.recv_timeout(PROMPT).expect("the closure started");
        let loading = s.spawn(|| {
            cache.get_or_insert_with(1, || {
                inits.fetch_add(1, Ordering::SeqCst);
                99
            })
        });
        while cache.stats().misses < 1 {
            thread::yield_now();
        }
        release_tx.send(()).unwrap();
        assert_eq!(computing.join().unwrap(), Computed::Inserted(5));
        assert_eq!(loading.join().unwrap(), 5, "the load saw the compute's value");
    });
    assert_eq!(inits.load(Ordering::SeqCst), 0);
}

pub fn a_compute_that_writes_its_own_key_panics<T: Target>(t: &T) {
    let cache = cache(t);
    let c = cache.clone();
    let outcome = thread::spawn(move || {
        c.entry(1).and_compute_with(|_| {
            c.insert(1, 7);
            Op::Keep
        })
    })
    .join();
    let panic = outcome.expect_err("it panics instead of running forever");
    let msg = panic.downcast_ref::<&str>().copied().map(str::to_owned).or(panic.downcast_ref::<String>().cloned());
    assert!(msg.unwrap_or_default().contains("wrote the key it computes"));
    assert_eq!(cache.entry(1).and_compute_with(plus_one), Computed::Replaced { old: 7, new: 8 }, "no flight left");
}
