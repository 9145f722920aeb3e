//! The process-wide time ticker behind [`SystemClock`](crate::SystemClock).
//!
//! Reading the hardware clock costs ~10 ns here (and far more when a VM
//! traps `rdtsc`), a large share of a ~20 ns cache hit. So while any
//! `SystemClock` is alive, one thread per process publishes the time every
//! millisecond into an atomic, and a clock read is one relaxed load. The
//! thread starts with the first `SystemClock` and is stopped and joined when
//! the last one drops, so no thread outlives the caches that need it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the ticker publishes the time.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// Nanoseconds since [`base`]'s origin, as last published.
static RECENT: AtomicU64 = AtomicU64::new(0);
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

struct Running {
    users: usize,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

fn base() -> &'static (quanta::Clock, quanta::Instant) {
    static BASE: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();
    BASE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let origin = clock.now();
        (clock, origin)
    })
}

/// The hardware clock, read now (nanoseconds since the process origin).
pub(crate) fn precise_now() -> u64 {
    let (clock, origin) = base();
    u64::try_from(clock.now().saturating_duration_since(*origin).as_nanos()).unwrap_or(u64::MAX)
}

/// The last published time: at most about one [`TICK`] behind.
#[inline]
pub(crate) fn recent() -> u64 {
    RECENT.load(Ordering::Relaxed)
}

/// A registration that keeps the ticker running while it lives.
#[derive(Debug)]
pub(crate) struct TickerUser {
    /// False if the ticker thread could not be started: read precisely.
    pub(crate) coarse: bool,
}

impl TickerUser {
    pub(crate) fn register() -> TickerUser {
        let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        RECENT.fetch_max(precise_now(), Ordering::Relaxed);
        if let Some(r) = running.as_mut() {
            r.users += 1;
            return TickerUser { coarse: true };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let spawned = thread::Builder::new().name("ttlkit-clock".into()).spawn(move || {
            while !flag.load(Ordering::Acquire) {
                thread::park_timeout(TICK);
                RECENT.fetch_max(precise_now(), Ordering::Relaxed);
            }
        });
        match spawned {
            Ok(thread) => {
                *running = Some(Running { users: 1, stop, thread });
                TickerUser { coarse: true }
            }
            Err(_) => TickerUser { coarse: false },
        }
    }
}

impl Drop for TickerUser {
    fn drop(&mut self) {
        if !self.coarse {
            return;
        }
        let last = {
            let mut running = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
            match running.as_mut() {
                Some(r) if r.users > 1 => {
                    r.users -= 1;
                    None
                }
                _ => running.take(),
            }
        };
        if let Some(r) = last {
            r.stop.store(true, Ordering::Release);
            r.thread.thread().unpark();
            if r.thread.thread().id() != thread::current().id() {
                let _ = r.thread.join();
            }
        }
    }
}
