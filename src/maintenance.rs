//! The process's one maintenance thread, `ttlkit-maintenance`.
//!
//! It does two jobs that would otherwise take a thread each per cache: it publishes
//! the coarse time behind [`SystemClock`](crate::clock::SystemClock) every
//! [`TICK`](ticker::TICK) while any such clock lives, and it runs every
//! cache's sweeps when they are due. So an application with fifty caches
//! runs one thread for them, not fifty-one.
//!
//! The thread starts with its first user (a clock or a sweep task) and is
//! stopped and joined when the last one leaves, so no thread outlives the
//! caches that need it. It holds caches only weakly (through
//! [`Task`]), upgrading one for a single bounded batch at a time.
//!
//! Fairness: each round runs at most one batch per due cache, republishing
//! the time after each, and a cache with more work is due again at once;
//! so a cache with a million expired entries shares the thread with the
//! others batch by batch instead of holding it. While a batch runs (a slow
//! removal listener may run in it), clock reads do not see a frozen time:
//! see [`ticker::mark_busy`].
//!
//! It also keeps the timers of async callers waiting with a load timeout
//! ([`wake_after`]): ttlkit brings no async runtime, so the thread wakes
//! them when it is time to look at the clock again.
//!
//! Reloads by a cache's [`reloader`](crate::CacheBuilder::reloader) do not
//! run here but on a small pool of threads of their own ([`reloads`]): a
//! reloader may block for as long as its backend takes, which would hold
//! up every cache's sweeps and timers.
//!
//! Under `--cfg ttlkit_loom` sweep tasks are driven by model threads of
//! their own instead (see `sweeper.rs`); the clock and timer parts are
//! std-only.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::sweeper::Task;
use crate::ticker::{self, TICK};

pub(crate) mod reloads;

/// What the thread serves. One per process, behind [`SCHEDULE`].
struct Schedule {
    /// Live coarse `SystemClock`s (each keeps the thread ticking).
    clocks: usize,
    /// Registered sweep tasks by id.
    tasks: BTreeMap<u64, Registered>,
    /// Queued tasks by due time (nanoseconds on the precise clock).
    queue: BTreeSet<(u64, u64)>,
    next_id: u64,
    /// Wakers to wake, by (due time, id).
    timers: BTreeMap<(u64, u64), Waker>,
    worker: Option<Worker>,
}

struct Registered {
    task: Arc<Task>,
    interval: Duration,
    /// When it is queued; `None` while the thread runs its batch.
    due: Option<u64>,
}

struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

static SCHEDULE: Mutex<Schedule> = Mutex::new(Schedule {
    clocks: 0,
    tasks: BTreeMap::new(),
    queue: BTreeSet::new(),
    next_id: 0,
    timers: BTreeMap::new(),
    worker: None,
});

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

fn schedule() -> MutexGuard<'static, Schedule> {
    // Nothing panics while holding it; a poisoned lock still holds a
    // consistent schedule.
    SCHEDULE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg_attr(ttlkit_loom, allow(dead_code))]
/// Whether the caller runs on the maintenance thread (inside a batch: a
/// listener that dropped a cache's last handle).
pub(crate) fn on_worker() -> bool {
    ON_WORKER.with(Cell::get)
}

impl Schedule {
    fn users(&self) -> usize {
        self.clocks + self.tasks.len() + self.timers.len()
    }

    /// Takes out the timers due at `now`.
    fn take_timers(&mut self, now: u64) -> Vec<Waker> {
        let mut due = Vec::new();
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }

    fn ensure_worker(&mut self) -> io::Result<()> {
        if let Some(w) = &self.worker {
            w.thread.thread().unpark();
            return Ok(());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new().name("ttlkit-maintenance".into()).spawn(move || work(&flag))?;
        self.worker = Some(Worker { stop, thread });
        Ok(())
    }

    /// Takes the worker out once nobody needs it; the caller stops it
    /// after releasing the lock.
    fn retire_if_unused(&mut self) -> Option<Worker> {
        if self.users() > 0 {
            return None;
        }
        let worker = self.worker.take()?;
        // Set under the lock, so the worker's next look at the schedule
        // sees it and takes nothing more from it.
        worker.stop.store(true, Ordering::Release);
        Some(worker)
    }

    /// Unqueues every task due at `now` (none once `stop` is set).
    fn take_due(&mut self, now: u64, stop: &AtomicBool) -> Vec<(u64, Arc<Task>)> {
        let mut due = Vec::new();
        if stop.load(Ordering::Acquire) {
            return due;
        }
        while let Some(&(at, id)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            if let Some(r) = self.tasks.get_mut(&id) {
                r.due = None;
                due.push((id, Arc::clone(&r.task)));
            }
        }
        due
    }

    /// Queues a task again after its batch: at once if it has more to do,
    /// else one interval on. A task deregistered meanwhile stays out.
    fn requeue(&mut self, id: u64, more: bool, now: u64) {
        let Some(r) = self.tasks.get_mut(&id) else { return };
        let at = if more { now } else { now.saturating_add(nanos(r.interval)) };
        r.due = Some(at);
        self.queue.insert((at, id));
    }

    /// How long the worker may sleep: until the next due task, and at most
    /// a tick while a coarse clock needs the time; `None` is "until woken".
    fn sleep_after(&self, now: u64) -> Option<Duration> {
        let task = self.queue.first().map(|&(at, _)| at);
        let timer = self.timers.first_key_value().map(|(&(at, _), _)| at);
        let next = task.into_iter().chain(timer).min().map(|at| Duration::from_nanos(at.saturating_sub(now)));
        if self.clocks > 0 {
            Some(next.map_or(TICK, |d| d.min(TICK)))
        } else {
            next
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn work(stop: &AtomicBool) {
    ON_WORKER.with(|w| w.set(true));
    loop {
        ticker::publish();
        let due = schedule().take_due(ticker::precise_now(), stop);
        for (id, task) in due {
            ticker::mark_busy();
            let more = task.run();
            ticker::publish();
            if let Some(more) = more {
                schedule().requeue(id, more, ticker::precise_now());
            }
        }
        let timers = schedule().take_timers(ticker::precise_now());
        if !timers.is_empty() {
            timers.into_iter().for_each(Waker::wake);
            let retired = schedule().retire_if_unused();
            if let Some(w) = retired {
                self::stop(w);
            }
        }
        if stop.load(Ordering::Acquire) {
            return;
        }
        // Bound first: a guard in the `match` head would be held asleep.
        let sleep = schedule().sleep_after(ticker::precise_now());
        match sleep {
            Some(d) if d.is_zero() => {}
            Some(d) => thread::park_timeout(d),
            None => thread::park(),
        }
    }
}

/// Stops a retired worker: wakes it and joins it, unless this is the
/// worker itself (its last user left from inside a batch), which then
/// finishes the batch and exits on its own.
fn stop(worker: Worker) {
    worker.thread.thread().unpark();
    if worker.thread.thread().id() != thread::current().id() {
        let _ = worker.thread.join();
    }
}

/// Registers a coarse clock: the thread publishes the time every tick
/// while it is registered. False if the thread could not be started (the
/// clock then reads the hardware clock itself).
pub(crate) fn register_clock() -> bool {
    let mut s = schedule();
    ticker::publish();
    if s.ensure_worker().is_err() {
        return false;
    }
    s.clocks += 1;
    true
}

/// Undoes one successful [`register_clock`].
pub(crate) fn deregister_clock() {
    let retired = {
        let mut s = schedule();
        s.clocks = s.clocks.saturating_sub(1);
        s.retire_if_unused()
    };
    if let Some(w) = retired {
        stop(w);
    }
}

/// Registers a sweep task, first due one `interval` from now; returns its id.
#[cfg_attr(ttlkit_loom, allow(dead_code))] // loom drives tasks on model threads
pub(crate) fn register_sweep(task: Arc<Task>, interval: Duration) -> io::Result<u64> {
    let mut s = schedule();
    s.ensure_worker()?;
    let id = s.next_id;
    s.next_id += 1;
    let at = ticker::precise_now().saturating_add(nanos(interval));
    s.tasks.insert(id, Registered { task, interval, due: Some(at) });
    s.queue.insert((at, id));
    Ok(id)
}

#[cfg_attr(ttlkit_loom, allow(dead_code))]
/// Removes a sweep task (its batch, if one is running, is not waited for:
/// see `Sweeper`'s drop).
pub(crate) fn deregister_sweep(id: u64) {
    let retired = {
        let mut s = schedule();
        if let Some(Registered { due: Some(at), .. }) = s.tasks.remove(&id) {
            s.queue.remove(&(at, id));
        }
        s.retire_if_unused()
    };
    if let Some(w) = retired {
        stop(w);
    }
}

/// A registered [`wake_after`]; dropping it cancels the wake-up.
#[derive(Debug)]
pub(crate) struct Timer {
    key: (u64, u64),
}

/// Wakes `waker` on the maintenance thread `after` from now. `None` if the
/// thread could not be started (the caller then wakes itself at once).
pub(crate) fn wake_after(after: Duration, waker: Waker) -> Option<Timer> {
    let mut s = schedule();
    s.ensure_worker().ok()?;
    let id = s.next_id;
    s.next_id += 1;
    let key = (ticker::precise_now().saturating_add(nanos(after)), id);
    s.timers.insert(key, waker);
    Some(Timer { key })
}

impl Drop for Timer {
    fn drop(&mut self) {
        let retired = {
            let mut s = schedule();
            s.timers.remove(&self.key);
            s.retire_if_unused()
        };
        if let Some(w) = retired {
            stop(w);
        }
    }
}
