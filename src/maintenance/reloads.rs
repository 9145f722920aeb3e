//! The reload pool: the threads, `ttlkit-reload`, that run the reloads a
//! cache's [`reloader`](crate::CacheBuilder::reloader) does in the
//! background, at most [`RELOAD_THREADS`] of them for the whole process.
//!
//! Why not the maintenance thread itself: a reloader is the user's code and
//! may block for as long as its backend takes (a database, a network
//! call). On the maintenance thread one such call would hold up every
//! cache's sweeps and the async callers' timers for that long, and nothing
//! can bound a call already running. So reloads get threads of their own,
//! and the maintenance thread keeps only work it can bound.
//!
//! Threads start with work: a job queued when no thread is idle starts one,
//! up to [`RELOAD_THREADS`]; beyond that jobs wait in the queue, first in
//! first out. Each due key queues at most one job (a reload is single-flight
//! with every load of its key), so the queue is bounded by the keys due. A
//! thread with nothing to do waits [`IDLE`] for more, then exits; and it
//! exits at once when no cache with a reloader is left ([`PoolUser`]), so
//! no thread outlives the caches that need it. A thread running a reload
//! when its cache is dropped exits when that reload returns (nothing can
//! stop a call from outside), and drops its value: jobs hold their cache
//! only weakly.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// The most threads the process runs reloads on, for every cache together.
///
/// Reloads beyond this many at once wait their turn (callers are served the
/// current value meanwhile). Reloaders usually wait on I/O rather than
/// compute, so the bound is not the core count: it bounds how many slow
/// reloads can run at once, and so how many threads caches can add.
pub const RELOAD_THREADS: usize = 4;

/// How long a thread with no reload to run waits for one before it exits.
const IDLE: Duration = Duration::from_secs(1);

/// A reload to run: it contains its own panics and finishes its load.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    queue: VecDeque<Job>,
    /// Threads started that have not yet decided to exit.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Live caches with a reloader.
    users: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { queue: VecDeque::new(), threads: 0, idle: 0, users: 0 });
/// Signalled when a job is queued or the last user leaves.
static WORK: Condvar = Condvar::new();

fn pool() -> MutexGuard<'static, Pool> {
    // Jobs run outside the lock, so a poisoned lock still holds a
    // consistent pool.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A cache with a reloader: while one lives, idle threads wait [`IDLE`]
/// for work; once none does, they exit at once.
#[derive(Debug)]
pub(crate) struct PoolUser(());

impl PoolUser {
    pub(crate) fn register() -> PoolUser {
        pool().users += 1;
        PoolUser(())
    }
}

impl Drop for PoolUser {
    fn drop(&mut self) {
        let mut p = pool();
        p.users = p.users.saturating_sub(1);
        if p.users == 0 {
            WORK.notify_all();
        }
    }
}

/// Queues `job`. Gives it back if no thread runs reloads and none could be
/// started: the caller then runs it itself.
pub(crate) fn submit(job: Job) -> Result<(), Job> {
    let mut p = pool();
    p.queue.push_back(job);
    if p.idle >= p.queue.len() {
        WORK.notify_one();
        return Ok(());
    }
    if p.threads < RELOAD_THREADS {
        match thread::Builder::new().name("ttlkit-reload".into()).spawn(work) {
            Ok(_detached) => p.threads += 1,
            // Another thread will take it when it is done with its own.
            Err(_) if p.threads > 0 => {}
            Err(_) => {
                return match p.queue.pop_back() {
                    Some(job) => Err(job),
                    None => Ok(()),
                }
            }
        }
    }
    if p.idle > 0 {
        WORK.notify_one();
    }
    Ok(())
}

fn work() {
    let mut p = pool();
    loop {
        if let Some(job) = p.queue.pop_front() {
            drop(p);
            // Jobs contain their reloader's panics; this keeps the thread's
            // count right whatever else unwinds.
            let _ = catch_unwind(AssertUnwindSafe(job));
            p = pool();
            continue;
        }
        if p.users == 0 {
            break;
        }
        p.idle += 1;
        let (guard, waited) = WORK.wait_timeout(p, IDLE).unwrap_or_else(PoisonError::into_inner);
        p = guard;
        p.idle -= 1;
        if waited.timed_out() && p.queue.is_empty() {
            break;
        }
    }
    // Decided under the lock with the queue empty: a job queued after this
    // sees one thread fewer and starts another if none is left.
    p.threads -= 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Every test here uses the one process-wide pool: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn threads() -> usize {
        pool().threads
    }

    #[test]
    fn jobs_beyond_the_bound_wait_their_turn_and_threads_exit_with_the_last_user() {
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let user = PoolUser::register();
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = std::sync::Arc::new(Mutex::new(release_rx));
        for n in 0..RELOAD_THREADS + 2 {
            let (entered, release) = (entered_tx.clone(), std::sync::Arc::clone(&release_rx));
            let queued = submit(Box::new(move || {
                entered.send(n).unwrap();
                let _ = release.lock().unwrap().recv();
            }));
            assert!(queued.is_ok());
        }
        let mut running: Vec<usize> =
            (0..RELOAD_THREADS).map(|_| entered_rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        running.sort_unstable();
        assert_eq!(running, (0..RELOAD_THREADS).collect::<Vec<_>>(), "first in, first run");
        assert_eq!(threads(), RELOAD_THREADS, "never more threads than the bound");
        assert!(entered_rx.try_recv().is_err(), "the jobs past the bound wait");
        for _ in 0..RELOAD_THREADS + 2 {
            release_tx.send(()).unwrap();
        }
        for _ in 0..2 {
            entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        drop(user);
        let start = std::time::Instant::now();
        while threads() > 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "idle threads outlived the last user");
            thread::yield_now();
        }
    }

    #[test]
    fn a_job_that_panics_costs_no_thread_count() {
        let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let user = PoolUser::register();
        let (done_tx, done_rx) = mpsc::channel();
        assert!(submit(Box::new(|| panic!("a deliberate panic in a reload job"))).is_ok());
        assert!(submit(Box::new(move || done_tx.send(()).unwrap())).is_ok());
        done_rx.recv_timeout(Duration::from_secs(10)).expect("the pool ran the job after the panic");
        assert!(threads() <= RELOAD_THREADS);
        drop(user);
        let start = std::time::Instant::now();
        while threads() > 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "a thread was lost to the panic's count");
            thread::yield_now();
        }
    }
}
