//! The process's thread count, for the tests that prove no thread leaks.

use std::time::{Duration, Instant};

/// Threads in this process (`/proc/self/task`); 0 where that is unknown.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// The thread count once it reaches `expected` (or after two seconds): a
/// thread just joined (the maintenance thread, when the last cache dropped)
/// may still be listed for a moment while the kernel reaps it.
pub fn settled_threads(expected: usize) -> usize {
    let start = Instant::now();
    loop {
        let n = threads();
        if n == expected || start.elapsed() > Duration::from_secs(2) {
            return n;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
