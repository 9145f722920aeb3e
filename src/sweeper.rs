//! A cache's sweeps: the task the process's maintenance thread runs for it.
//!
//! A [`Task`] holds only a [`Weak`] reference to the cache, upgrading it for
//! one bounded batch at a time, so it never keeps a cache alive. The
//! [`Sweeper`] handle lives in the cache's user-facing handles (never in the
//! shared state the task upgrades); when the last user handle drops, the
//! handle's `Drop` stops the task and waits for a batch of this cache that
//! is running, so no sweep of a cache runs after its last handle is gone.
//! If that drop happens inside such a batch (a listener dropped the last
//! handle), it does not wait for itself.
//!
//! Normally `maintenance.rs` runs every cache's tasks on one thread. Under
//! `--cfg ttlkit_loom` each task gets a model thread of its own instead, so
//! loom explores a drop racing a batch.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::sync::{Arc, Condvar, Mutex, Weak};

/// Entries a core removes per lock hold in one batch of a sweep or purge
/// (a sharded core: per shard).
pub(crate) const BATCH: usize = 256;

/// Maintenance a sweeper can run.
pub(crate) trait Sweep: Send + Sync + 'static {
    /// Runs one bounded batch of maintenance (locks released before it
    /// returns); returns whether more work is pending.
    fn sweep_batch(&self) -> bool;
}

#[derive(Debug, Default)]
struct TaskState {
    running: bool,
    stopped: bool,
}

/// One cache's sweeps, as the maintenance thread sees them.
pub(crate) struct Task {
    target: Weak<dyn Sweep>,
    state: Mutex<TaskState>,
    changed: Condvar,
    /// How often its model thread sweeps (loom only; the maintenance thread
    /// keeps the interval in its schedule).
    #[cfg(ttlkit_loom)]
    interval: Duration,
}

impl Task {
    /// Runs one batch; `None` once the task is stopped or its cache gone,
    /// else whether more work is pending.
    pub(crate) fn run(&self) -> Option<bool> {
        {
            let mut state = self.state.lock();
            if state.stopped {
                return None;
            }
            state.running = true;
        }
        let outcome = self.target.upgrade().map(|cache| {
            // A bug in maintenance must not stop a cache's sweeps for ever;
            // listener panics are already contained below this.
            catch_unwind(AssertUnwindSafe(|| cache.sweep_batch())).unwrap_or(false)
        });
        let mut state = self.state.lock();
        state.running = false;
        self.changed.notify_all();
        outcome
    }

    /// Stops the task; with `wait`, also waits out a batch in progress.
    fn stop(&self, wait: bool) {
        let mut state = self.state.lock();
        state.stopped = true;
        self.changed.notify_all();
        while wait && state.running {
            self.changed.wait(&mut state);
        }
    }
}

/// A cache's registration for sweeps; dropping it stops them.
pub(crate) struct Sweeper {
    task: Arc<Task>,
    driver: Driver,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper").finish_non_exhaustive()
    }
}

impl Sweeper {
    /// Sweeps `target` every `interval` until the target is gone or this
    /// handle is dropped.
    pub(crate) fn start<T: Sweep>(target: Weak<T>, interval: Duration) -> io::Result<Sweeper> {
        let task = Arc::new(Task {
            target,
            state: Mutex::new(TaskState::default()),
            changed: Condvar::new(),
            #[cfg(ttlkit_loom)]
            interval,
        });
        let driver = Driver::start(&task, interval)?;
        Ok(Sweeper { task, driver })
    }
}

/// The maintenance thread's registration of a task.
#[cfg(not(ttlkit_loom))]
struct Driver {
    id: u64,
}

#[cfg(not(ttlkit_loom))]
impl Driver {
    fn start(task: &Arc<Task>, interval: Duration) -> io::Result<Driver> {
        crate::maintenance::register_sweep(Arc::clone(task), interval).map(|id| Driver { id })
    }
}

#[cfg(not(ttlkit_loom))]
impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.stop(!crate::maintenance::on_worker());
        crate::maintenance::deregister_sweep(self.driver.id);
    }
}

/// A model thread of the task's own.
#[cfg(ttlkit_loom)]
struct Driver {
    thread: Option<crate::sync::thread::JoinHandle<()>>,
}

#[cfg(ttlkit_loom)]
impl Driver {
    fn start(task: &Arc<Task>, _interval: Duration) -> io::Result<Driver> {
        let task = Arc::clone(task);
        let thread = crate::sync::thread::spawn_named("ttlkit-sweeper", move || loop {
            match task.run() {
                None => return,
                Some(true) => continue,
                Some(false) => {
                    let mut state = task.state.lock();
                    if !state.stopped {
                        task.changed.wait_for(&mut state, task.interval);
                    }
                }
            }
        })?;
        Ok(Driver { thread: Some(thread) })
    }
}

#[cfg(ttlkit_loom)]
impl Drop for Sweeper {
    fn drop(&mut self) {
        self.task.stop(false);
        if let Some(thread) = self.driver.thread.take() {
            if thread.thread().id() != crate::sync::thread::current().id() {
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

    /// Blocks in its first batch until released.
    struct Blocking {
        entered: std::sync::Barrier,
        release: std::sync::Mutex<bool>,
        released: std::sync::Condvar,
        batches: AtomicUsize,
    }

    impl Blocking {
        fn new() -> Arc<Blocking> {
            Arc::new(Blocking {
                entered: std::sync::Barrier::new(2),
                release: std::sync::Mutex::new(false),
                released: std::sync::Condvar::new(),
                batches: AtomicUsize::new(0),
            })
        }

        /// Lets the blocked batch finish.
        fn release(&self) {
            *self.release.lock().unwrap() = true;
            self.released.notify_all();
        }
    }

    impl Sweep for Blocking {
        fn sweep_batch(&self) -> bool {
            if self.batches.fetch_add(1, Ordering::SeqCst) == 0 {
                self.entered.wait();
                let mut go = self.release.lock().unwrap();
                while !*go {
                    go = self.released.wait(go).unwrap();
                }
            }
            false
        }
    }

    #[test]
    fn drop_waits_out_a_running_batch_and_no_batch_runs_after() {
        let target = Blocking::new();
        let sweeper = Sweeper::start(Arc::downgrade(&target), Duration::from_millis(1)).unwrap();
        target.entered.wait();
        let dropper = std::thread::spawn(move || drop(sweeper));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!dropper.is_finished(), "the drop returned while its cache's batch still ran");
        target.release();
        dropper.join().unwrap();
        let after = target.batches.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(target.batches.load(Ordering::SeqCst), after, "a batch ran after the drop");
    }

    #[test]
    fn a_batch_that_blocks_does_not_freeze_the_coarse_clock() {
        use crate::clock::{Clock, SystemClock};
        let clock = SystemClock::new();
        let target = Blocking::new();
        let sweeper = Sweeper::start(Arc::downgrade(&target), Duration::from_millis(1)).unwrap();
        // The maintenance thread, which also publishes the coarse time, is
        // now stuck in this batch (as in a slow removal listener).
        target.entered.wait();
        let t0 = clock.now().as_nanos();
        let start = std::time::Instant::now();
        let mut frozen = false;
        while clock.now().as_nanos() - t0 < 5_000_000 {
            if start.elapsed() > Duration::from_secs(5) {
                frozen = true;
                break;
            }
            std::thread::yield_now();
        }
        // Released before asserting: the drop waits out the batch.
        target.release();
        drop(sweeper);
        assert!(!frozen, "the clock froze while a batch ran");
    }

    #[test]
    fn a_hundred_sweepers_share_one_thread_and_a_drop_returns_at_once() {
        let targets: Vec<_> = (0..100)
            .map(|_| Arc::new(Counting { batches: AtomicUsize::new(0), pending: AtomicUsize::new(0) }))
            .collect();
        // Hour-long intervals: a drop that waited for a sleeping sweep
        // would hang here.
        let sweepers: Vec<_> =
            targets.iter().map(|t| Sweeper::start(Arc::downgrade(t), Duration::from_secs(3600)).unwrap()).collect();
        let named = |name: &str| {
            std::fs::read_dir("/proc/self/task")
                .map(|tasks| {
                    tasks
                        .filter_map(Result::ok)
                        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
                        .count()
                })
                .unwrap_or(1)
        };
        assert_eq!(named("ttlkit-sweeper"), 0);
        // Other tests in this binary start and stop it too: a thread just
        // spawned may not have its name yet, and one retired may still be
        // exiting, so look until the count settles.
        let start = std::time::Instant::now();
        while named("ttlkit-maintena") != 1 {
            assert!(start.elapsed() < Duration::from_secs(10), "not one maintenance thread for every sweeper");
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(sweepers);
    }
}
