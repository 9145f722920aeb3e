//! The loader against a scripted target: orders of events that real caches
//! produce only by chance, made certain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use parking_lot::Mutex;

use super::{LoadTarget, Loader};
use crate::invalidation::LoadTicket;
use crate::stats::StatsCounter;

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

    fn load_failed(&self) {}
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
        let got = follower.join().ok().and_then(Result::ok);
        assert_eq!(got, Some(222), "the follower called after 7 was removed: it must load afresh, not get 7");
        assert_eq!(leader_got, Some(7), "the leader itself may return what its re-check read");
    });
}
