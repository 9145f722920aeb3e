//! The background sweeper: a thread that runs a cache's maintenance in
//! bounded batches.
//!
//! It holds only a [`Weak`] reference to the cache, upgrading it for one
//! batch at a time, so it never keeps a cache alive. The [`Sweeper`] handle
//! lives in the cache's user-facing handles (never in the shared state the
//! thread upgrades); when the last user handle drops, the handle's `Drop`
//! wakes the thread at once (it does not wait for the next tick) and joins
//! it. If that drop happens on the sweeper thread itself (a listener dropped
//! the last handle), it detaches instead of joining itself.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, Condvar, Mutex, Weak};

/// Maintenance a sweeper can run.
pub(crate) trait Sweep: Send + Sync + 'static {
    /// Runs one bounded batch of maintenance (locks released before it
    /// returns); returns whether more work is pending.
    fn sweep_batch(&self) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Sleeping,
    #[allow(dead_code)] // set by wake()
    Woken,
    Stopping,
}

#[derive(Debug)]
struct Signal {
    state: Mutex<State>,
    changed: Condvar,
}

impl Signal {
    fn set(&self, to: State) {
        let mut state = self.state.lock();
        if *state != State::Stopping {
            *state = to;
        }
        self.changed.notify_all();
    }

    fn stopping(&self) -> bool {
        *self.state.lock() == State::Stopping
    }

    /// Sleeps until the interval passes or someone wakes it; returns false
    /// when it must stop.
    fn wait(&self, interval: Duration) -> bool {
        let mut state = self.state.lock();
        if *state == State::Sleeping {
            let _ = self.changed.wait_for(&mut state, interval);
        }
        match *state {
            State::Stopping => false,
            _ => {
                *state = State::Sleeping;
                true
            }
        }
    }
}

/// A running sweeper thread; dropping it stops and joins the thread.
#[derive(Debug)]
pub(crate) struct Sweeper {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// Starts a thread that sweeps `target` every `interval` until the
    /// target is gone or this handle is dropped.
    pub(crate) fn start<T: Sweep>(target: Weak<T>, interval: Duration) -> io::Result<Sweeper> {
        let signal = Arc::new(Signal { state: Mutex::new(State::Sleeping), changed: Condvar::new() });
        let thread_signal = Arc::clone(&signal);
        let thread = thread::spawn_named("ttlkit-sweeper", move || run(&target, &thread_signal, interval))?;
        Ok(Sweeper { signal, thread: Some(thread) })
    }

    /// Asks for a sweep now instead of at the next tick.
    #[allow(dead_code)] // used by backends whose maintenance is deferred
    pub(crate) fn wake(&self) {
        self.signal.set(State::Woken);
    }
}

fn run<T: Sweep>(target: &Weak<T>, signal: &Signal, interval: Duration) {
    loop {
        loop {
            if signal.stopping() {
                return;
            }
            let Some(cache) = target.upgrade() else { return };
            // A bug in maintenance must not kill the sweeper silently for
            // ever; listener panics are already contained below this.
            let more = catch_unwind(AssertUnwindSafe(|| cache.sweep_batch())).unwrap_or(false);
            drop(cache);
            if !more {
                break;
            }
        }
        if !signal.wait(interval) {
            return;
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.signal.set(State::Stopping);
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        batches: AtomicUsize,
        pending: AtomicUsize,
    }

    impl Sweep for Counting {
        fn sweep_batch(&self) -> bool {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.pending.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| p.checked_sub(1)).is_ok_and(|p| p > 1)
        }
    }

    #[test]
    fn a_tick_that_finds_more_work_keeps_going_until_done() {
        // Work appears after the first (empty) sweep. One batch per 50 ms
        // tick would take 50 s for 1,000 batches; continuing while a batch
        // reports more takes about one tick.
        let target = Arc::new(Counting { batches: AtomicUsize::new(0), pending: AtomicUsize::new(0) });
        let sweeper = Sweeper::start(Arc::downgrade(&target), Duration::from_millis(50)).unwrap();
        while target.batches.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        target.pending.store(1000, Ordering::SeqCst);
        let start = std::time::Instant::now();
        while target.pending.load(Ordering::SeqCst) > 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "the sweeper waited a tick between due batches");
            std::thread::yield_now();
        }
        drop(sweeper);
        assert!(target.batches.load(Ordering::SeqCst) > 1000);
    }

    #[test]
    fn wake_runs_batches_until_done_and_drop_joins_promptly() {
        let target = Arc::new(Counting { batches: AtomicUsize::new(0), pending: AtomicUsize::new(3) });
        // An hour-long interval: only wake() can make it sweep, and only a
        // prompt stop lets drop() return.
        let sweeper = Sweeper::start(Arc::downgrade(&target), Duration::from_secs(3600)).unwrap();
        sweeper.wake();
        while target.pending.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        drop(sweeper);
        assert!(target.batches.load(Ordering::SeqCst) >= 3);
    }
}
