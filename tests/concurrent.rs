//! The concurrent model test: 2 to 8 threads of random operations over a
//! random configuration (the model test's space, widened: capacity 1 to
//! 10,000 or none, with and without a weigher, every policy, 1 to 8
//! shards, idle timeouts and lifetimes from nanoseconds to an hour), on
//! every backend in `BackendKind::ALL`, sharing one `MockClock` that the
//! threads themselves advance.
//!
//! Every stored value is a unique id (thread, serial), so each listener
//! report and each read names exactly one stored value. Calls are stamped
//! at call and at return with a global counter, and the checks after the
//! join (`concurrent/verify.rs`) assert only what holds under every
//! interleaving:
//!
//! * every value ever stored is live at the end or was reported to the
//!   listener exactly once, with a cause something could have called for
//!   (`Expired` only once its shortest deadline had passed, `Capacity`
//!   only with a bound, `Replaced` only after another write of its key
//!   began, `Explicit` exactly for the values a `remove` returned,
//!   `Cleared` only after a `clear` began); no unknown value is reported;
//! * a load's value may go unstored only if a write of its key raced it,
//!   and must go unstored if an insert or remove of its key ran entirely
//!   while its `init` ran (that write wins);
//! * a read returns only a value stored for that key, by a call that had
//!   begun, and never one the listener had already been told was removed;
//! * `len()` stays within the bound plus the in-flight slack (one entry
//!   per thread but for `mutex`), and after the final `purge_expired()`
//!   `len()` is the live count and the live weight is within the bound;
//! * a single-threaded refill of fresh keys fills the cache to its bound
//!   (`concurrent/refill.rs`): bookkeeping that drifted shows here;
//! * statistics: hits + misses are the lookups made, load failures the
//!   failing `init`s, removals by cause what the listener was told.
//!
//! A watchdog aborts a case that hangs, naming each thread's current op.
//! Two fixed shapes run beside the random cases: writers racing in one
//! shard, then the refill; and a load whose `init` loads the same key.
//!
//! Budget: `CONCURRENT_CASES` cases per backend (default 16) of
//! `CONCURRENT_OPS` operations per thread (default 150), or, with
//! `CONCURRENT_SECS`, as many cases as fit in that many seconds per
//! backend. `CONCURRENT_SEED` sets the first case's seed (each failure
//! prints its own; `CONCURRENT_SEED=<it> CONCURRENT_CASES=1` replays the
//! configuration and operations, though not the interleaving);
//! `CONCURRENT_BACKENDS=moka,sharded` picks backends.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "model/harness.rs"]
mod harness;

#[path = "concurrent/case.rs"]
mod case;
#[path = "concurrent/refill.rs"]
mod refill;
#[path = "concurrent/run.rs"]
mod run;
#[path = "concurrent/verify.rs"]
mod verify;
#[path = "concurrent/watchdog.rs"]
mod watchdog;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlkit::{BackendKind, SlidingTtlCache};

use case::{Act, Case};
use run::{Progress, Subject};
use verify::History;
use watchdog::Watchdog;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| {
        let s = s.trim();
        s.strip_prefix("0x").map_or_else(|| s.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
    })
}

/// How long a case may run before the watchdog calls it a hang.
fn watchdog_limit() -> Duration {
    Duration::from_secs(env_u64("CONCURRENT_WATCHDOG_SECS").unwrap_or(60))
}

/// Runs one case on one backend and checks it.
fn run_case(backend: BackendKind, case: Arc<Case>) -> Result<(), String> {
    let s = Subject::build(backend, &case)?;
    let progress = Arc::new(Progress::new(case.threads));
    let dog = {
        let (case, progress, backend) = (Arc::clone(&case), Arc::clone(&progress), backend);
        Watchdog::start(watchdog_limit(), move || {
            let mut dump = format!("{backend}, {case:?}\n");
            for (t, at) in progress.0.iter().enumerate() {
                let i = at.load(Ordering::Relaxed);
                let act = case.acts[t].get(i).map_or("finished".to_owned(), |a| format!("{a:?}"));
                dump += &format!("  thread {t}: op {i}: {act}\n");
            }
            dump
        })
    };
    let recs: Vec<_> = run::run_workers(&s, &case, &progress).into_iter().flatten().collect();
    if case.drain {
        // Every deadline is at most one idle timeout after the last access.
        s.clock.advance(case.config.idle);
    }
    let before = s.reports().len();
    let purged = s.cache.purge_expired();
    let reports = s.reports();
    let expired = reports[before..].iter().filter(|r| r.cause == ttlkit::RemovalCause::Expired).count();
    let result = (|| {
        if purged != expired {
            return Err(format!("the final purge_expired() returned {purged} but reported {expired} expired entries"));
        }
        let mut h = History::new(&case, backend, recs, reports);
        h.check_reports()?;
        h.check_results()?;
        let live = h.check_final(&s, case.drain)?;
        refill::check(&s, &case, backend, &live)
    })();
    dog.stop();
    result
}

#[test]
fn every_backend_keeps_the_contract_under_concurrency() {
    let base = env_u64("CONCURRENT_SEED").unwrap_or(0x7710_c0de);
    let cases = env_u64("CONCURRENT_CASES").unwrap_or(16);
    let ops = env_u64("CONCURRENT_OPS").unwrap_or(150) as usize;
    let budget = env_u64("CONCURRENT_SECS").map(Duration::from_secs);
    let mut failures = Vec::new();
    let only = std::env::var("CONCURRENT_BACKENDS").ok();
    for &backend in BackendKind::ALL {
        if only.as_ref().is_some_and(|o| !o.split(',').any(|b| BackendKind::from_name(b) == Ok(backend))) {
            continue;
        }
        let started = Instant::now();
        let mut ran = 0u64;
        loop {
            let more = match budget {
                Some(b) => started.elapsed() < b,
                None => ran < cases,
            };
            if !more {
                break;
            }
            let seed = base.wrapping_add(ran);
            let case = Arc::new(Case::generate(seed, ops));
            ran += 1;
            if let Err(e) = run_case(backend, Arc::clone(&case)) {
                failures.push(format!("{backend}: {e}\n  case {case:?}"));
                break;
            }
        }
        println!("{backend}: {ran} cases in {:.1?}", started.elapsed());
    }
    assert!(failures.is_empty(), "{} backend(s) failed:\n{}", failures.len(), failures.join("\n\n"));
}

/// Defect 1's shape, made likely: four threads inserting distinct keys and
/// removing some, all in one shard, then the refill. The cache-wide weight
/// counter must still equal the weight held.
#[test]
fn one_shard_writers_then_refill() {
    for &backend in BackendKind::ALL {
        for round in 0..4u64 {
            let mut case = Case::generate(round, 0);
            case.config.capacity = Some(2_000);
            case.config.shards = Some(1);
            case.config.lifetime = None;
            case.config.idle = Duration::from_secs(3600);
            case.weigher = None;
            case.threads = 4;
            case.drain = false;
            case.acts = (0..4u64)
                .map(|t| {
                    (0..400u64)
                        .map(|i| {
                            let k = t * 1_000 + i;
                            if i % 3 == 2 {
                                Act::Op(harness::Op::Remove(k - 1))
                            } else {
                                Act::Op(harness::Op::Insert(k))
                            }
                        })
                        .collect()
                })
                .collect();
            let case = Arc::new(case);
            if let Err(e) = run_case(backend, Arc::clone(&case)) {
                panic!("{backend}, round {round}: {e}");
            }
        }
    }
}

/// A load whose `init` loads the same key on the same thread must end
/// (the contract: it panics with a clear message) rather than wait for
/// itself forever. Each backend's call runs on its own thread, so a hang
/// fails this test after a few seconds instead of stalling the run (the
/// stuck thread is left behind; it holds no cache lock).
#[test]
fn a_recursive_load_of_the_same_key_does_not_hang() {
    let waits: Vec<_> = BackendKind::ALL
        .iter()
        .map(|&backend| {
            let b = ttlkit::CacheBuilder::<u64, u64>::new(Duration::from_secs(60))
                .clock(ttlkit::MockClock::new())
                .no_sweeper();
            let cache = ttlkit::AnyCache::new(backend, b).unwrap();
            let (done, finished) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cache.get_or_insert_with(7, || cache.get_or_insert_with(7, || 1))
                }));
                let _ = done.send(outcome.is_ok());
            });
            (backend, finished)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let hung: Vec<_> = waits
        .into_iter()
        .filter(|(_, finished)| finished.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err())
        .map(|(backend, _)| backend)
        .collect();
    assert!(hung.is_empty(), "get_or_insert_with(7) whose init loads 7 again hung (deadlock) on: {hung:?}");
}
