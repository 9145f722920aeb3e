//! The loader against a scripted target: orders of events that real caches
//! produce only by chance, made certain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use super::{LoadTarget, Loader};
use crate::invalidation::LoadTicket;
use crate::stats::{LoadRecorder, StatsCounter};

/// A one-key map whose second lookup (the leader's re-check) finds 7, a
/// store that raced in, and then waits for the test's go-ahead before
/// returning it; by then 7 is gone again.
struct Scripted {
    value: Mutex<Option<u32>>,
    lookups: AtomicUsize,
    found: mpsc::SyncSender<()>,
    go: Mutex<mpsc::Receiver<()>>,
}

impl LoadTarget<u32, u32> for Scripted {
    fn lookup(&self, _key: &u32) -> Option<u32> {
        if self.lookups.fetch_add(1, Ordering::SeqCst) == 1 {
            let _ = self.found.send(());
            let _ = self.go.lock().recv();
            return Some(7);
        }
        *self.value.lock()
    }

    fn begin(&self, key: &u32) -> (LoadTicket<'_>, Option<u32>) {
        (LoadTicket::untracked(), self.lookup(key))
    }

    fn commit(&self, _key: u32, value: u32, _ticket: &LoadTicket<'_>) -> bool {
        *self.value.lock() = Some(value);
        true
    }

    fn recorder(&self) -> LoadRecorder<'_> {
        LoadRecorder::untracked()
    }
}

#[test]
fn a_follower_never_gets_a_value_the_leader_only_read() {
    let (found_tx, found_rx) = mpsc::sync_channel(1);
    let (go_tx, go_rx) = mpsc::sync_channel(1);
    let target =
        Scripted { value: Mutex::new(None), lookups: AtomicUsize::new(0), found: found_tx, go: Mutex::new(go_rx) };
    let loader: Loader<u32, u32> = Loader::default();
    let stats = StatsCounter::default();
    thread::scope(|s| {
        // The leader misses, registers its flight, and its re-check finds 7
        // (a store that raced in), which is removed before a follower calls.
        let leader = s.spawn(|| loader.get_or_load(&target, &stats, 1, || -> Result<u32, ()> { Ok(0) }));
        found_rx.recv().ok();
        let follower = s.spawn(|| loader.load(&target, 1, || -> Result<u32, ()> { Ok(222) }));
        // Wait until the follower waits on the leader's flight.
        loop {
            let waiting = loader.flights.lock().get(&1).is_some_and(|f| Arc::strong_count(f) >= 3);
            if waiting {
                break;
            }
            thread::yield_now();
        }
        go_tx.send(()).ok();
        let leader_got = leader.join().ok().and_then(Result::ok);
        let got = follower.join().ok().and_then(|(r, _coalesced)| r.ok());
        assert_eq!(got, Some(222), "the follower called after 7 was removed: it must load afresh, not get 7");
        assert_eq!(leader_got, Some(7), "the leader itself may return what its re-check read");
    });
}

mod stats {
    //! The load counters of a real cache, with every caller's part in a
    //! load made certain by watching the flight.

    use std::sync::{mpsc, Arc, Barrier};
    use std::thread;
    use std::time::Duration;

    use crate::clock::MockClock;
    use crate::{CacheBuilder, LoadError, MutexCache, SlidingTtlCache};

    const THREADS: usize = 8;
    const LOAD: Duration = Duration::from_millis(250);

    fn cache(clock: &MockClock) -> MutexCache<u32, String> {
        CacheBuilder::new().time_to_idle(Duration::from_secs(60)).clock(clock.clone()).no_sweeper().build().unwrap()
    }

    /// `THREADS` threads ask for key 1 at once; the one that loads waits in
    /// `init` until the others wait on its flight, advances the mock clock
    /// by [`LOAD`], and returns `outcome`.
    fn crowd(
        cache: &MutexCache<u32, String>,
        clock: &MockClock,
        outcome: Result<String, &'static str>,
    ) -> Vec<Result<String, LoadError<&'static str>>> {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = parking_lot::Mutex::new(release_rx);
        let barrier = Barrier::new(THREADS);
        thread::scope(|s| {
            let callers: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        cache.try_get_or_insert_with(1, || {
                            started_tx.send(()).ok();
                            release_rx.lock().recv().ok();
                            clock.advance(LOAD);
                            outcome.clone()
                        })
                    })
                })
                .collect();
            started_rx.recv().unwrap();
            // The map and the leader hold the flight, then each follower.
            while cache.load_holders(&1) < THREADS + 1 {
                thread::yield_now();
            }
            release_tx.send(()).unwrap();
            callers.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn eight_threads_one_load_seven_coalesced_one_miss() {
        let clock = MockClock::new();
        let c = cache(&clock);
        let got = crowd(&c, &clock, Ok("one".to_string()));
        assert!(got.iter().all(|r| r.as_deref() == Ok("one")));
        let st = c.stats();
        assert_eq!(st.loads_started, 1);
        assert_eq!(st.loads_succeeded, 1);
        assert_eq!(st.loads_failed, 0);
        assert_eq!(st.loads_coalesced, THREADS as u64 - 1);
        assert_eq!((st.hits, st.misses, st.inserts), (0, 1, 1), "waiters are neither hits nor misses");
        assert_eq!(st.load_time, LOAD, "the mock time advanced inside init");
    }

    #[test]
    fn a_failed_load_is_counted_failed_and_shared() {
        let clock = MockClock::new();
        let c = cache(&clock);
        let got = crowd(&c, &clock, Err("down"));
        let errors: Vec<_> = got.into_iter().map(|r| r.unwrap_err()).collect();
        assert!(
            errors.iter().all(|e| matches!((e.shared(), errors[0].shared()), (Some(a), Some(b)) if Arc::ptr_eq(a, b))),
            "one Arc for all"
        );
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_succeeded, st.loads_failed), (1, 0, 1));
        assert_eq!(st.load_failures, st.loads_failed, "the old name agrees");
        assert_eq!(st.loads_coalesced, THREADS as u64 - 1);
        assert_eq!((st.misses, st.inserts), (1, 0));
        assert_eq!(st.load_time, LOAD);
    }

    #[test]
    fn a_panicking_load_is_a_failure_with_its_time() {
        let clock = MockClock::new();
        let c = cache(&clock);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.get_or_insert_with(1, || {
                clock.advance(LOAD);
                panic!("init panics")
            })
        }));
        assert!(panicked.is_err());
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_succeeded, st.loads_failed, st.load_failures), (1, 0, 1, 1));
        assert_eq!(st.load_time, LOAD);
    }

    #[test]
    fn load_time_sums_every_init_and_nothing_else() {
        let clock = MockClock::new();
        let c = cache(&clock);
        clock.advance(Duration::from_secs(5));
        c.get_or_insert_with(1, || {
            clock.advance(Duration::from_millis(30));
            "a".to_string()
        });
        clock.advance(Duration::from_secs(5));
        let _ = c.try_get_or_insert_with(2, || {
            clock.advance(Duration::from_millis(12));
            Err::<String, _>("no")
        });
        // A hit runs no init.
        c.get_or_insert_with(1, || unreachable!("a hit"));
        let st = c.stats();
        assert_eq!((st.loads_started, st.loads_succeeded, st.loads_failed), (2, 1, 1));
        assert_eq!((st.hits, st.misses, st.loads_coalesced), (1, 2, 0));
        assert_eq!(st.load_time, Duration::from_millis(42));
    }
}
