//! Runs a case: builds the cache, runs one worker thread per operation list
//! and records what each call was given and returned, stamped with a global
//! counter at call and at return (so real-time order between calls is
//! known), and what the removal listener was told.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use ttlkit::clock::{Clock, MockClock};
use ttlkit::{BuildError, CacheBuilder, EntryInfo, RemovalCause, SlidingTtlCache};

use crate::flavor::Flavor;

use crate::case::{Act, Case, Weights};
use crate::harness::{retain_keeps, ModelExpiry, Op};

/// A global order of events: calls, returns, `init` runs and reports.
#[derive(Default)]
pub struct Stamps(AtomicU64);

impl Stamps {
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// What a call returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Nothing,
    Value(Option<u64>),
    Bool(bool),
    Count(usize),
    /// A load: what it returned (`Err` carries the failing `init`'s value
    /// id), the value its own `init` would have made, and, if `init` ran,
    /// the stamps taken when it started and just before it returned.
    Load {
        got: Result<u64, u64>,
        fresh: u64,
        init: Option<(u64, u64)>,
        ok: bool,
    },
    /// A compute that put its fresh value: the live value its closure saw
    /// (the last time it ran).
    Computed {
        saw: Option<u64>,
    },
    /// What `entry_info` said.
    Info(Option<EntryInfo>),
    /// How `set_max_capacity` answered.
    Resized(Resize),
}

/// How `set_max_capacity` answered: done, or which refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    Done,
    /// `UnsupportedSetting`: the backend cannot (moka, or a core without it).
    Unsupported,
    /// `MissingSetting`: the cache was built without a bound.
    Unbounded,
    /// Any other error: never right for the bounds the cases draw.
    Other,
}

impl Resize {
    fn of(result: Result<(), BuildError>) -> Resize {
        match result {
            Ok(()) => Resize::Done,
            Err(BuildError::UnsupportedSetting { .. }) => Resize::Unsupported,
            Err(BuildError::MissingSetting { .. }) => Resize::Unbounded,
            Err(_) => Resize::Other,
        }
    }
}

/// One call of a worker.
#[derive(Debug, Clone, Copy)]
pub struct Rec {
    pub thread: usize,
    pub index: usize,
    pub act: Act,
    /// The value an insert stores or a load's `init` returns.
    pub value: u64,
    pub call: u64,
    pub ret: u64,
    /// The mock clock (nanoseconds) read just before the call.
    pub clock: u64,
    /// The mock clock read just after the return stamp: whatever the call
    /// stamped an entry with is no later than this.
    pub clock_ret: u64,
    pub out: Out,
}

/// One removal-listener call.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub key: u64,
    pub value: u64,
    pub cause: RemovalCause,
    pub stamp: u64,
    /// The mock clock (nanoseconds) when the listener ran.
    pub clock: u64,
}

/// A value a `retain` call's predicate rejected: the call then removes it
/// (unless something else removed it first).
#[derive(Debug, Clone, Copy)]
pub struct Rejection {
    pub value: u64,
    /// When the predicate ran (before the removal it asked for).
    pub stamp: u64,
    /// The call: thread and op index.
    pub by: (usize, usize),
}

/// The entries an `iter` call yielded.
#[derive(Debug, Clone)]
pub struct Yield {
    /// The call: thread and op index.
    pub by: (usize, usize),
    pub pairs: Vec<(u64, u64)>,
}

/// The cache under test and what observes it.
pub struct Subject<C> {
    pub cache: C,
    pub clock: MockClock,
    pub stamps: Arc<Stamps>,
    pub reports: Arc<Mutex<Vec<Report>>>,
    pub rejections: Mutex<Vec<Rejection>>,
    pub yields: Mutex<Vec<Yield>>,
}

impl<C: SlidingTtlCache<u64, u64>> Subject<C> {
    pub fn build(
        flavor: Flavor,
        case: &Case,
        make: impl FnOnce(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
    ) -> Result<Subject<C>, String> {
        let c = &case.config;
        let clock = MockClock::new();
        let stamps = Arc::new(Stamps::default());
        let reports: Arc<Mutex<Vec<Report>>> = Arc::default();
        let (sink, at, seen) = (Arc::clone(&reports), Arc::clone(&stamps), clock.clone());
        let mut b = CacheBuilder::<u64, u64>::new()
            .time_to_idle(c.idle)
            .clock(clock.clone())
            .no_sweeper()
            .refresh_granularity(Duration::ZERO)
            // A policy the backend refuses (checked by tests/model.rs) is
            // swapped for one it runs, as the model harness does.
            .policy_kind(flavor.policy(c.policy))
            .removal_listener(move |&key: &u64, value: u64, cause| {
                let report = Report { key, value, cause, stamp: at.next(), clock: seen.now().as_nanos() };
                sink.lock().unwrap_or_else(PoisonError::into_inner).push(report);
            });
        if let Some(l) = c.lifetime {
            b = b.time_to_live(l);
        }
        if let Some(cap) = c.capacity {
            b = b.max_capacity(cap);
        }
        if let Some(s) = c.shards {
            b = b.shards(s);
        }
        if c.expiry {
            b = b.expire_after(ModelExpiry::new(c.idle));
        }
        if case.weigher.is_some() {
            let w = Weights::new(case, flavor);
            b = b.weigher(move |&k: &u64, &v: &u64| u32::try_from(w.of(k, v)).unwrap_or(u32::MAX));
        }
        let cache = make(b).map_err(|e| format!("build {flavor}: {e}"))?;
        Ok(Subject { cache, clock, stamps, reports, rejections: Mutex::default(), yields: Mutex::default() })
    }

    pub fn reports(&self) -> Vec<Report> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn rejections(&self) -> Vec<Rejection> {
        self.rejections.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn yields(&self) -> Vec<Yield> {
        self.yields.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn now(&self) -> u64 {
        self.clock.now().as_nanos()
    }
}

/// The op each worker is in, for the watchdog (`usize::MAX`: finished).
pub struct Progress(pub Vec<AtomicUsize>);

impl Progress {
    pub fn new(threads: usize) -> Progress {
        Progress((0..threads).map(|_| AtomicUsize::new(0)).collect())
    }
}

/// A value id unique in the run: the thread (plus one) and a serial number.
pub fn value_id(thread: usize, serial: u64) -> u64 {
    ((thread as u64 + 1) << 40) | serial
}

/// Runs every worker to completion; returns their records, thread by thread.
pub fn run_workers<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, case: &Case, progress: &Progress) -> Vec<Vec<Rec>> {
    let start = Barrier::new(case.threads);
    thread::scope(|scope| {
        let handles: Vec<_> = case
            .acts
            .iter()
            .enumerate()
            .map(|(t, acts)| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    worker(s, t, acts, &progress.0[t])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

fn worker<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, t: usize, acts: &[Act], at: &AtomicUsize) -> Vec<Rec> {
    let mut recs = Vec::with_capacity(acts.len());
    for (index, &act) in acts.iter().enumerate() {
        at.store(index, Ordering::Relaxed);
        let fresh = value_id(t, index as u64);
        let clock = s.now();
        let call = s.stamps.next();
        let out = match act {
            Act::Op(op) => apply(s, op, fresh, (t, index)),
            Act::SlowLoad(k, spins) => load(s, k, fresh, spins),
            Act::Compute(k, spins) => compute(s, k, fresh, spins),
            Act::Len => Out::Count(s.cache.len()),
        };
        let ret = s.stamps.next();
        let clock_ret = s.now();
        recs.push(Rec { thread: t, index, act, value: fresh, call, ret, clock, clock_ret, out });
    }
    at.store(usize::MAX, Ordering::Relaxed);
    recs
}

/// An `and_compute_with` whose closure yields `spins` times, then puts `fresh`.
fn compute<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, k: u64, fresh: u64, spins: u32) -> Out {
    let done = s.cache.entry(k).and_compute_with(|_| {
        for _ in 0..spins {
            thread::yield_now();
        }
        ttlkit::Op::Put(fresh)
    });
    match done {
        ttlkit::Computed::Inserted(_) => Out::Computed { saw: None },
        ttlkit::Computed::Replaced { old, .. } => Out::Computed { saw: Some(old) },
        // A put never removes or keeps: recorded as a value nobody
        // stored, so the checks fail on it.
        _ => Out::Value(Some(u64::MAX)),
    }
}

/// A `retain` that records every value its predicate rejects.
fn retain<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, mask: u16, by: (usize, usize)) -> Out {
    let mut rejected = Vec::new();
    let removed = s.cache.retain(|&k, &v| {
        let keep = retain_keeps(mask, k, v);
        if !keep {
            rejected.push(Rejection { value: v, stamp: s.stamps.next(), by });
        }
        keep
    });
    s.rejections.lock().unwrap_or_else(PoisonError::into_inner).extend(rejected);
    Out::Count(removed)
}

/// An `iter` that records what it yielded.
fn iter<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, by: (usize, usize)) -> Out {
    let pairs: Vec<(u64, u64)> = s.cache.iter().collect();
    let n = pairs.len();
    s.yields.lock().unwrap_or_else(PoisonError::into_inner).push(Yield { by, pairs });
    Out::Count(n)
}

/// A `get_or_insert_with` whose `init` yields `spins` times before returning `fresh`.
fn load<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, k: u64, fresh: u64, spins: u32) -> Out {
    let mut init = None;
    let got = s.cache.get_or_insert_with(k, || {
        let started = s.stamps.next();
        for _ in 0..spins {
            thread::yield_now();
        }
        init = Some((started, s.stamps.next()));
        fresh
    });
    Out::Load { got: Ok(got), fresh, init, ok: true }
}

/// Runs `op` (the call `by`, thread and index) with `fresh` as the value it stores.
fn apply<C: SlidingTtlCache<u64, u64>>(s: &Subject<C>, op: Op, fresh: u64, by: (usize, usize)) -> Out {
    let cache = &s.cache;
    match op {
        Op::Insert(k) => {
            cache.insert(k, fresh);
            Out::Nothing
        }
        Op::InsertWithTtl(k, ttl) => match cache.insert_with_ttl(k, fresh, ttl) {
            Ok(()) => Out::Nothing,
            // Recorded as a value nobody stored; the checks then fail on it.
            Err(_) => Out::Value(None),
        },
        Op::Get(k) => Out::Value(cache.get(&k)),
        Op::Peek(k) => Out::Value(cache.peek(&k)),
        Op::Contains(k) => Out::Bool(cache.contains_key(&k)),
        Op::Remove(k) => Out::Value(cache.remove(&k)),
        Op::GetOrInsert(k) => load(s, k, fresh, 0),
        Op::TryGetOrInsert(k, ok) => {
            let mut init = None;
            let got = cache.try_get_or_insert_with(k, || {
                let started = s.stamps.next();
                init = Some((started, s.stamps.next()));
                if ok {
                    Ok(fresh)
                } else {
                    Err(fresh)
                }
            });
            // No load timeout is set: every error is init's.
            Out::Load { got: got.map_err(|e| e.get().copied().unwrap_or(u64::MAX)), fresh, init, ok }
        }
        Op::Clear => {
            cache.clear();
            Out::Nothing
        }
        Op::Purge => Out::Count(cache.purge_expired()),
        Op::Info(k) => Out::Info(cache.entry_info(&k)),
        Op::Iter => iter(s, by),
        Op::SetCapacity(n) => Out::Resized(Resize::of(cache.set_max_capacity(n))),
        // Not drawn: the checks hold each case to one idle timeout (the
        // single-threaded model checks it exactly).
        Op::SetIdle(d) => Out::Bool(cache.set_time_to_idle(d).is_ok()),
        Op::Retain(mask) => retain(s, mask, by),
        Op::Advance(d) => {
            s.clock.advance(d);
            Out::Nothing
        }
    }
}
