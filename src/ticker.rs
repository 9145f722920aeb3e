//! The coarse time behind [`SystemClock`](crate::clock::SystemClock).
//!
//! Reading the hardware clock costs ~10 ns even with the TSC (the `quanta`
//! feature), more through the OS, and far more when a VM traps `rdtsc`: a
//! large share of a ~20 ns cache hit. So while any
//! `SystemClock` is alive, the process's maintenance thread
//! (`maintenance.rs`) publishes the time every millisecond into an atomic,
//! and a clock read is one relaxed load.
//!
//! That thread also runs caches' sweeps, and a sweep may call a slow
//! removal listener. So that the time never freezes meanwhile, the thread
//! marks the published time *busy* (its lowest bit) around each batch;
//! a read that sees the mark reads the hardware clock and raises the
//! published time to it. Every reading is the published value (mark
//! cleared) at some point of its one modification order, and that value
//! only grows, so readings never go backwards, across threads too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// How often the ticker publishes the time.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// The lowest bit of [`RECENT`]: set while the maintenance thread may not
/// publish for a while.
const BUSY: u64 = 1;

/// Nanoseconds since [`base`]'s origin, as last published (see [`BUSY`]).
static RECENT: AtomicU64 = AtomicU64::new(0);

/// The hardware clock, read now (nanoseconds since the process origin):
/// the CPU's time-stamp counter through `quanta` where it is reliable, else
/// the OS monotonic clock.
#[cfg(feature = "quanta")]
pub(crate) fn precise_now() -> u64 {
    static BASE: OnceLock<(quanta::Clock, quanta::Instant)> = OnceLock::new();
    let (clock, origin) = BASE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let origin = clock.now();
        (clock, origin)
    });
    u64::try_from(clock.now().saturating_duration_since(*origin).as_nanos()).unwrap_or(u64::MAX)
}

/// The hardware clock, read now (nanoseconds since the process origin):
/// the OS monotonic clock (`std::time::Instant`).
#[cfg(not(feature = "quanta"))]
pub(crate) fn precise_now() -> u64 {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = BASE.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The last published time: at most about one [`TICK`] behind.
#[inline]
pub(crate) fn recent() -> u64 {
    let published = RECENT.load(Ordering::Relaxed);
    if published & BUSY == 0 {
        published
    } else {
        recent_while_busy()
    }
}

#[cold]
fn recent_while_busy() -> u64 {
    let now = precise_now() | BUSY;
    RECENT.fetch_max(now, Ordering::Relaxed).max(now) & !BUSY
}

/// Publishes the time now (clearing the busy mark unless a reader has
/// already published a later one).
pub(crate) fn publish() {
    RECENT.fetch_max(precise_now() & !BUSY, Ordering::Relaxed);
}

/// Marks the published time busy until the next [`publish`].
pub(crate) fn mark_busy() {
    RECENT.fetch_or(BUSY, Ordering::Relaxed);
}

/// A registration that keeps the time published while it lives.
#[derive(Debug)]
pub(crate) struct TickerUser {
    /// False if the maintenance thread could not be started: read precisely.
    pub(crate) coarse: bool,
}

impl TickerUser {
    pub(crate) fn register() -> TickerUser {
        TickerUser { coarse: crate::maintenance::register_clock() }
    }
}

impl Drop for TickerUser {
    fn drop(&mut self) {
        if self.coarse {
            crate::maintenance::deregister_clock();
        }
    }
}
