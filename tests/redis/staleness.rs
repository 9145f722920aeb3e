//! A writer and readers racing through a fault: the writer stores
//! increasing values through a cache of its own; readers read through a
//! tiered cache, and no read may return a value older than one a write had
//! completed more than [`BOUND`] before the read began. Misses (Redis down,
//! a failover) are allowed; stale values are not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{RedisCache, SlidingTtlCache, TieredCache};

/// How long after a write completes its invalidation may still be on its
/// way (far above the measured delay, far below the 30 s L1 lifetime the
/// tiered caches under test get, so a lost invalidation is caught).
pub const BOUND: Duration = Duration::from_millis(1000);
/// Keys written round-robin.
pub const KEYS: u64 = 4;

/// What the run saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub reads: u64,
    pub hits: u64,
    pub writes: u64,
    pub failed_writes: u64,
    pub stale: Vec<String>,
}

/// The running writer and readers.
pub struct Race {
    stop: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
    /// Set by the writer once it has seen `pause` (no write in flight).
    paused: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
    seen: Arc<Mutex<Seen>>,
}

/// Completed writes per key, in order: (completed at, value).
type Log = Arc<Mutex<HashMap<u64, Vec<(Instant, u64)>>>>;

impl Race {
    pub fn start(writer: RedisCache<u64, u64>, reader: TieredCache<u64, u64>) -> Race {
        let stop = Arc::new(AtomicBool::new(false));
        let pause = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let log: Log = Arc::default();
        let mut threads = Vec::new();
        {
            let (stop, pause, paused, seen, log) =
                (Arc::clone(&stop), Arc::clone(&pause), Arc::clone(&paused), Arc::clone(&seen), Arc::clone(&log));
            threads.push(thread::spawn(move || {
                let mut value = 0;
                while !stop.load(Ordering::SeqCst) {
                    if pause.load(Ordering::SeqCst) {
                        paused.store(true, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(1));
                        continue;
                    }
                    paused.store(false, Ordering::SeqCst);
                    value += 1;
                    let key = value % KEYS;
                    let ok = writer.try_insert(key, value).is_ok();
                    let done = Instant::now();
                    let mut s = seen.lock().unwrap();
                    if ok {
                        s.writes += 1;
                        log.lock().unwrap().entry(key).or_default().push((done, value));
                    } else {
                        s.failed_writes += 1;
                    }
                    drop(s);
                    thread::sleep(Duration::from_millis(1));
                }
            }));
        }
        for r in 0..2u64 {
            let (stop, seen, log, reader) = (Arc::clone(&stop), Arc::clone(&seen), Arc::clone(&log), reader.clone());
            threads.push(thread::spawn(move || {
                let mut n = r;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = n % KEYS;
                    let began = Instant::now();
                    let got = reader.get(&key);
                    let mut s = seen.lock().unwrap();
                    s.reads += 1;
                    if let Some(v) = got {
                        s.hits += 1;
                        if v % KEYS != key {
                            s.stale.push(format!("key {key} read {v}, written for key {}", v % KEYS));
                        }
                        let newest = log.lock().unwrap().get(&key).and_then(|writes| {
                            writes.iter().rev().find(|(done, _)| *done + BOUND < began).map(|(_, v)| *v)
                        });
                        if let Some(newest) = newest.filter(|newest| v < *newest) {
                            s.stale.push(format!("key {key} read {v}; {newest} was written over a second before"));
                        }
                    }
                }
            }));
        }
        Race { stop, pause, paused, threads, seen }
    }

    /// Stops writing (reads go on); returns once no write is in flight.
    pub fn pause_writes(&self) {
        self.pause.store(true, Ordering::SeqCst);
        crate::common::wait_for("the writer to pause", Duration::from_secs(10), || self.paused.load(Ordering::SeqCst));
    }

    pub fn resume_writes(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.pause.store(false, Ordering::SeqCst);
    }

    /// Waits until `n` more writes succeeded.
    pub fn wait_writes(&self, n: u64, limit: Duration) {
        let start = self.seen.lock().unwrap().writes;
        crate::common::wait_for("writes", limit, || self.seen.lock().unwrap().writes >= start + n);
    }

    /// Stops everything; returns what it saw (and fails on a stale read).
    pub fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        let seen = std::mem::take(&mut *self.seen.lock().unwrap());
        assert!(seen.stale.is_empty(), "stale reads: {:?}", &seen.stale[..seen.stale.len().min(10)]);
        seen
    }
}
