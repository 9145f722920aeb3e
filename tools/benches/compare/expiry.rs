//! Expiry figures: the cost of a purge against the expired count and the
//! map size, the longest lock hold inside it, and how late the sweeper
//! reclaims an entry after its deadline.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, RemovalCause, SlidingTtlCache};

use crate::targets::{Original, Target};

/// Idle timeout of the purge runs (mock time).
const PURGE_TTI: Duration = Duration::from_secs(60);

/// Purging `expired` expired entries out of `total`.
#[derive(Debug, Clone)]
pub struct Purge {
    pub backend: String,
    pub expired: usize,
    pub total: usize,
    /// Median wall time of `purge_expired()` over the repetitions; `None`
    /// if it did not return within the time limit.
    pub time: Option<Duration>,
    /// Upper bound on the longest single lock hold (see [`lock_hold`]).
    pub longest_hold: Option<Duration>,
}

/// How late the background sweeper reclaimed entries after their deadline.
#[derive(Debug, Clone)]
pub struct Lateness {
    pub backend: String,
    pub tti: Duration,
    pub interval: Duration,
    pub entries: usize,
    pub reclaimed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub min_ms: f64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Inserts `expired` keys, lets 30 s pass, inserts the other
/// `total - expired`, lets 31 s more pass: with a 60 s idle timeout exactly
/// the first `expired` keys are past their deadline.
fn fill(cache: &impl Target, clock: &MockClock, expired: usize, total: usize) {
    for k in 0..expired as u64 {
        cache.insert(k, k);
    }
    clock.advance(Duration::from_secs(30));
    for k in expired as u64..total as u64 {
        cache.insert(k, k);
    }
    clock.advance(Duration::from_secs(31));
}

/// Which deadlines a purge figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadlines {
    /// The cache-wide idle timeout ([`fill`]).
    Idle,
    /// Per-entry deadlines from `insert_with_ttl`, in a cache with no
    /// cache-wide expiry ([`fill_per_entry`]).
    PerEntry,
}

impl Deadlines {
    /// The row label: the backend, and `per-entry` for those rows.
    pub fn label(self, name: BackendKind) -> String {
        match self {
            Deadlines::Idle => name.to_string(),
            Deadlines::PerEntry => format!("{name} per-entry"),
        }
    }

    fn builder(self) -> CacheBuilder<u64, u64> {
        match self {
            Deadlines::Idle => CacheBuilder::new().time_to_idle(PURGE_TTI),
            Deadlines::PerEntry => CacheBuilder::new(),
        }
    }

    fn fill(self, cache: &AnyCache<u64, u64>, clock: &MockClock, expired: usize, total: usize) -> Result<(), String> {
        match self {
            Deadlines::Idle => {
                fill(cache, clock, expired, total);
                Ok(())
            }
            Deadlines::PerEntry => fill_per_entry(cache, clock, expired, total),
        }
    }
}

/// Inserts `total` keys in a scrambled order, each with its own time to
/// live: 1 s to 29 s for the first `expired` keys, 2 min to 1 h for the
/// rest; then lets 31 s pass, so exactly `expired` are past their deadline,
/// scattered through the insertion order.
fn fill_per_entry(cache: &AnyCache<u64, u64>, clock: &MockClock, expired: usize, total: usize) -> Result<(), String> {
    let mut order: Vec<u64> = (0..total as u64).collect();
    order.sort_unstable_by_key(|&k| ttlkit_strategies::mix64(k));
    for k in order {
        let ttl =
            if k < expired as u64 { Duration::from_secs(1 + k % 29) } else { Duration::from_secs(120 + k % 3_480) };
        cache.insert_with_ttl(k, k, ttl).map_err(|e| e.to_string())?;
    }
    clock.advance(Duration::from_secs(31));
    Ok(())
}

fn build(name: BackendKind, clock: &MockClock, builder: CacheBuilder<u64, u64>) -> Result<AnyCache<u64, u64>, String> {
    AnyCache::new(name, builder.clock(clock.clone()).no_sweeper()).map_err(|e| format!("{name}: {e}"))
}

/// Why a purge figure is missing.
#[derive(Debug)]
pub enum PurgeError {
    /// `purge_expired()` did not return in time; its thread is left running
    /// (it cannot be stopped from outside).
    Hung(String),
    Other(String),
}

/// Runs `f(cache)` on its own thread and waits at most `limit` for it.
fn bounded<T: Send + 'static>(
    cache: AnyCache<u64, u64>,
    limit: Duration,
    f: impl FnOnce(&AnyCache<u64, u64>) -> T + Send + 'static,
) -> Result<T, PurgeError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("compare-purge".into())
        .spawn(move || {
            let out = f(&cache);
            let _ = tx.send(out);
            drop(cache);
        })
        .map_err(|e| PurgeError::Other(format!("cannot start a thread: {e}")))?;
    rx.recv_timeout(limit).map_err(|_| PurgeError::Hung(format!("purge_expired() did not return within {limit:?}")))
}

/// Time to purge `expired` out of `total` with backend `name` (median of
/// `reps` runs), and the longest lock hold from one more run. A purge that
/// takes longer than `limit` is abandoned.
pub fn purge(
    name: BackendKind,
    deadlines: Deadlines,
    expired: usize,
    total: usize,
    reps: usize,
    limit: Duration,
) -> Result<Purge, PurgeError> {
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let clock = MockClock::new();
        let cache = build(name, &clock, deadlines.builder()).map_err(PurgeError::Other)?;
        deadlines.fill(&cache, &clock, expired, total).map_err(PurgeError::Other)?;
        let (n, took) = bounded(cache, limit, |c| {
            let began = Instant::now();
            let n = c.purge_expired();
            (n, began.elapsed())
        })?;
        if n != expired {
            let why = format!("{name}: purge_expired() removed {n}, expected {expired} (mock clock not honoured?)");
            return Err(PurgeError::Other(why));
        }
        times.push(took);
    }
    Ok(Purge {
        backend: deadlines.label(name),
        expired,
        total,
        time: Some(median(times)),
        longest_hold: Some(lock_hold(name, deadlines, expired, total, limit)?),
    })
}

/// An upper bound on the longest single lock hold inside `purge_expired()`,
/// through the public API only.
///
/// Backends purge in batches: lock, remove up to a batch of expired
/// entries, unlock, then call the removal listener for each (never under
/// the lock). A listener here records a TSC stamp per call. Every lock hold
/// therefore lies wholly inside one gap of the sequence
/// `purge start, listener call 1, ..., listener call n, purge end`, so the
/// longest gap bounds the longest hold from above (it also includes the
/// listener's own cost and the batch's bookkeeping outside the lock).
fn lock_hold(
    name: BackendKind,
    deadlines: Deadlines,
    expired: usize,
    total: usize,
    limit: Duration,
) -> Result<Duration, PurgeError> {
    let tsc = quanta::Clock::new();
    let stamps = Arc::new(Mutex::new(Vec::with_capacity(expired + 2)));
    let (log, lclock) = (Arc::clone(&stamps), tsc.clone());
    let clock = MockClock::new();
    let builder = deadlines.builder().removal_listener(move |_: &u64, _, cause| {
        if cause == RemovalCause::Expired {
            lock(&log).push(lclock.raw());
        }
    });
    let cache = build(name, &clock, builder).map_err(PurgeError::Other)?;
    deadlines.fill(&cache, &clock, expired, total).map_err(PurgeError::Other)?;
    let timer = tsc.clone();
    let (start, end) = bounded(cache, limit, move |c| {
        let start = timer.raw();
        c.purge_expired();
        (start, timer.raw())
    })?;
    let mut seq = vec![start];
    seq.extend(lock(&stamps).iter().copied());
    seq.push(end);
    let longest = seq.windows(2).map(|w| tsc.delta_as_nanos(w[0], w[1])).max().unwrap_or(0);
    Ok(Duration::from_nanos(longest))
}

/// The original design: its ticker's full scan. The scan holds the lock
/// throughout, so the hold is the scan, timed directly.
pub fn purge_original(expired: usize, total: usize, reps: usize) -> Result<Purge, String> {
    let mut times = Vec::with_capacity(reps);
    let mut holds = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let clock = MockClock::new();
        let map = Original::new(clock.clone(), PURGE_TTI, None);
        fill(&map, &clock, expired, total);
        let began = Instant::now();
        let (n, held) = map.scan();
        times.push(began.elapsed());
        holds.push(held);
        if n != expired {
            return Err(format!("original: the scan removed {n}, expected {expired}"));
        }
    }
    let longest_hold = holds.iter().copied().max();
    Ok(Purge { backend: "original".into(), expired, total, time: Some(median(times)), longest_hold })
}

/// Real time: `entries` keys inserted over two sweep intervals into backend
/// `name` with its default sweeper; a listener stamps each `Expired` removal. Lateness
/// = removal stamp − (insert stamp + `tti`); the insert stamp is taken just
/// before `insert`, so lateness is over-stated by at most one insert.
pub fn lateness(name: BackendKind, entries: usize, tti: Duration) -> Result<Lateness, String> {
    let removed = Arc::new(Mutex::new(Vec::with_capacity(entries)));
    let log = Arc::clone(&removed);
    let builder = CacheBuilder::<u64, u64>::new().time_to_idle(tti).removal_listener(move |k: &u64, _, cause| {
        if cause == RemovalCause::Expired {
            lock(&log).push((*k, Instant::now()));
        }
    });
    let interval = builder.clone().validate().map_err(|e| e.to_string())?.sweep_interval().unwrap_or_default();
    let cache = AnyCache::new(name, builder).map_err(|e| format!("{name}: {e}"))?;
    // Spread the inserts over two sweep intervals, so their deadlines fall
    // at every phase of the sweeper's period (a single burst right after
    // the cache starts would line up with its ticks and look punctual).
    let mut inserted = Vec::with_capacity(entries);
    let groups = 100;
    for g in 0..groups {
        for k in (g * entries / groups)..((g + 1) * entries / groups) {
            inserted.push(Instant::now());
            SlidingTtlCache::insert(&cache, k as u64, k as u64);
        }
        std::thread::sleep(interval * 2 / groups as u32);
    }
    let give_up = Instant::now() + tti + interval * 20 + Duration::from_secs(2);
    while lock(&removed).len() < entries && Instant::now() < give_up {
        std::thread::sleep(interval / 10);
    }
    drop(cache);
    let removed = lock(&removed).clone();
    let mut late_ms: Vec<f64> = removed
        .iter()
        .filter_map(|&(k, at)| {
            let deadline = *inserted.get(usize::try_from(k).ok()?)? + tti;
            Some(match at.checked_duration_since(deadline) {
                Some(d) => d.as_secs_f64() * 1e3,
                None => -(deadline.duration_since(at).as_secs_f64() * 1e3),
            })
        })
        .collect();
    late_ms.sort_by(f64::total_cmp);
    let q = |p: f64| late_ms.get(((late_ms.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    Ok(Lateness {
        backend: name.to_string(),
        tti,
        interval,
        entries,
        reclaimed: removed.len(),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: q(1.0),
        min_ms: q(0.0),
    })
}
