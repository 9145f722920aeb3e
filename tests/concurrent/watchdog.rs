//! Turns a hang into a failure: if a case is not finished in time, the
//! watchdog writes each thread's current operation to stderr and aborts.
//!
//! It writes to `io::stderr()` directly, not through `eprintln!`, because
//! libtest captures `eprintln!` output and an abort would discard it.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A running watchdog; [`stop`](Watchdog::stop) it when the case is done.
pub struct Watchdog {
    done: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

impl Watchdog {
    /// Aborts the process after `limit` unless stopped first, printing
    /// `describe()` (called on the watchdog thread at that moment).
    pub fn start(limit: Duration, describe: impl Fn() -> String + Send + 'static) -> Watchdog {
        let (done, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(limit) {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "\nWATCHDOG: no finish after {limit:?}; a thread is stuck.\n{}", describe());
                let _ = err.flush();
                std::process::abort();
            }
        });
        Watchdog { done, handle }
    }

    pub fn stop(self) {
        let _ = self.done.send(());
        let _ = self.handle.join();
    }
}
