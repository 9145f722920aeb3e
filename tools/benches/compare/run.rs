//! The timed runs: threads released by a barrier drive a key stream for a
//! fixed time; every `SAMPLE`th operation is timed into an hdrhistogram.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::targets::Target;
use crate::workloads::{Op, Workload};

/// One operation in this many (on average) is timed, so reading the clock
/// (two TSC reads, see [`timer_overhead_ns`]) adds well under a nanosecond
/// per operation. The gap between timed operations is random (1 to
/// `2 * SAMPLE - 1`): a fixed stride could line up with a cache's own
/// periodic work (moka drains its read log every so many reads) and time
/// only, or never, the slow operations.
pub const SAMPLE: u64 = 32;
/// Operations between looks at the stop flag.
const CHUNK: usize = 1024;

/// The raw outcome of timed runs on one cache; runs add up.
#[derive(Debug, Clone)]
pub struct Run {
    ops: u64,
    misses: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
}

impl Run {
    /// Adds `other` (another run of the same cell) to this one.
    pub fn add(&mut self, other: &Run) -> Result<(), String> {
        self.ops += other.ops;
        self.misses += other.misses;
        self.elapsed += other.elapsed;
        self.hist.add(&other.hist).map_err(|e| e.to_string())
    }

    pub fn measured(&self) -> Measured {
        Measured {
            ops: self.ops,
            misses: self.misses,
            elapsed: self.elapsed,
            p50_ns: self.hist.value_at_quantile(0.5),
            p99_ns: self.hist.value_at_quantile(0.99),
            p999_ns: self.hist.value_at_quantile(0.999),
        }
    }
}

/// What the timed runs of one cell measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub ops: u64,
    pub misses: u64,
    pub elapsed: Duration,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
}

impl Measured {
    pub fn mops(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64() / 1e6
    }

    pub fn hit_ratio(&self) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            1.0 - self.misses as f64 / self.ops as f64
        }
    }
}

fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| e.to_string())
}

/// A xorshift64 step: the sampling gaps' randomness.
fn next_gap(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    1 + *state % (2 * SAMPLE - 1)
}

/// Runs `op` over the stream until `stop` is set, taking `CHUNK` keys at a
/// time from the shared `cursor`, so the threads together read the stream
/// in order and no key is re-read before the whole stream has gone by.
/// Returns (ops, misses, latency samples).
fn drive<T: Target>(
    target: &T,
    workload: &Workload,
    cursor: &AtomicUsize,
    seed: u64,
    stop: &AtomicBool,
    clock: &quanta::Clock,
) -> Result<(u64, u64, Histogram<u64>), String> {
    let keys = &workload.keys[..];
    let mut hist = histogram()?;
    let (mut ops, mut misses) = (0u64, 0u64);
    let mut rng = 0x9e37_79b9_7f4a_7c15 ^ seed;
    let mut gap = next_gap(&mut rng);
    loop {
        let mut i = cursor.fetch_add(CHUNK, Ordering::Relaxed) % keys.len();
        for _ in 0..CHUNK {
            let key = keys[i];
            i += 1;
            if i == keys.len() {
                i = 0;
            }
            gap -= 1;
            let t0 = if gap == 0 {
                gap = next_gap(&mut rng);
                Some(clock.raw())
            } else {
                None
            };
            match workload.op {
                Op::GetOrInsert => {
                    black_box(target.get_or_insert(key, &mut misses));
                }
                Op::Get => {
                    if black_box(target.get(key)).is_none() {
                        misses += 1;
                    }
                }
            }
            if let Some(t0) = t0 {
                let ns = clock.delta_as_nanos(t0, clock.raw()).max(1);
                hist.saturating_record(ns);
            }
        }
        ops += CHUNK as u64;
        if stop.load(Ordering::Relaxed) {
            return Ok((ops, misses, hist));
        }
    }
}

/// Untimed, single-threaded: `ops` operations from the stream's start, to
/// bring the cache to its steady state (or, for `Op::Get`, the prefill).
/// Returns the stream cursor the timed runs continue from, so they never
/// replay keys the cache has just seen (which would inflate the hit ratio).
pub fn warm<T: Target>(target: &T, workload: &Workload, ops: usize) -> AtomicUsize {
    match workload.op {
        Op::Get => {
            for k in 0..workload.prefill {
                target.insert(k, k);
            }
        }
        Op::GetOrInsert => {
            let mut misses = 0;
            for &k in workload.keys.iter().cycle().take(ops) {
                black_box(target.get_or_insert(k, &mut misses));
            }
        }
    }
    target.settle();
    AtomicUsize::new(ops)
}

/// `threads` threads drive the stream for `time`, continuing it from
/// `cursor` (shared by all runs on one cache).
///
/// The run's wall time is from the first thread's start to the last
/// thread's end, each read by the thread itself: with more threads than
/// cores, the coordinating thread may be scheduled well after the workers
/// leave the barrier, and a start read there would leave their first
/// operations out of the time (inflating Mops/s at high thread counts).
pub fn timed<T: Target>(
    target: &T,
    workload: &Workload,
    threads: usize,
    time: Duration,
    clock: &quanta::Clock,
    cursor: &AtomicUsize,
) -> Result<Run, String> {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, barrier) = (&stop, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let began = Instant::now();
                    let outcome = drive(target, workload, cursor, t as u64 + 1, stop, clock);
                    (began, Instant::now(), outcome)
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(time);
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut all = histogram()?;
    let (mut ops, mut misses) = (0, 0);
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for r in results {
        let (began, ended, outcome) = r.map_err(|_| "a bench thread panicked".to_string())?;
        let (o, m, h) = outcome?;
        ops += o;
        misses += m;
        all.add(&h).map_err(|e| e.to_string())?;
        first = Some(first.map_or(began, |f| f.min(began)));
        last = Some(last.map_or(ended, |l| l.max(ended)));
    }
    let elapsed = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first),
        _ => Duration::ZERO,
    };
    Ok(Run { ops, misses, elapsed, hist: all })
}

/// The median cost of the two clock reads around a timed operation: it is
/// included in every latency figure.
pub fn timer_overhead_ns(clock: &quanta::Clock) -> u64 {
    let mut samples: Vec<u64> = (0..10_001)
        .map(|_| {
            let t0 = clock.raw();
            clock.delta_as_nanos(t0, clock.raw())
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}
