//! Running the concurrent model over any cache: `run_case` runs one case
//! and checks it, `random_cases` the budget of random ones. A test binary
//! that includes this needs, at its root, the modules `harness`
//! (`model/harness.rs`), `case`, `flavor`, `refill`, `run`, `verify`,
//! `watchdog` and `driver` (`concurrent/*.rs`), under those names.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlkit::{BuildError, CacheBuilder, SlidingTtlCache};

use crate::case::Case;
use crate::flavor::Flavor;
use crate::refill;
use crate::run::{self, Progress, Subject};
use crate::verify::History;
use crate::watchdog::Watchdog;

pub fn env_u64(name: &str) -> Option<u64> {
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
pub fn run_case<C: SlidingTtlCache<u64, u64>>(
    flavor: Flavor,
    make: impl FnOnce(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
    case: Arc<Case>,
) -> Result<(), String> {
    let s = Subject::build(flavor, &case, make)?;
    let progress = Arc::new(Progress::new(case.threads));
    let dog = {
        let (case, progress) = (Arc::clone(&case), Arc::clone(&progress));
        Watchdog::start(watchdog_limit(), move || {
            let mut dump = format!("{flavor}, {case:?}\n");
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
        let mut h = History::new(&case, flavor, recs, reports);
        h.check_reports()?;
        h.check_results()?;
        let live = h.check_final(&s, case.drain)?;
        refill::check(&s, &case, flavor, &live)
    })();
    dog.stop();
    result
}

/// Runs the budget of random cases (`CONCURRENT_CASES`, default 16, or as
/// many as fit in `CONCURRENT_SECS`; `CONCURRENT_SEED`, `CONCURRENT_OPS`)
/// on one cache; returns how many ran, or the first failure.
pub fn random_cases<C: SlidingTtlCache<u64, u64>>(
    flavor: Flavor,
    make: impl Fn(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
) -> Result<u64, String> {
    let base = env_u64("CONCURRENT_SEED").unwrap_or(0x7710_c0de);
    let cases = env_u64("CONCURRENT_CASES").unwrap_or(16);
    let ops = env_u64("CONCURRENT_OPS").unwrap_or(150) as usize;
    let budget = env_u64("CONCURRENT_SECS").map(Duration::from_secs);
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
        let case = Arc::new(Case::generate(base.wrapping_add(ran), ops));
        ran += 1;
        run_case(flavor, &make, Arc::clone(&case)).map_err(|e| format!("{flavor}: {e}\n  case {case:?}"))?;
    }
    println!("{flavor}: {ran} cases in {:.1?}", started.elapsed());
    Ok(ran)
}
