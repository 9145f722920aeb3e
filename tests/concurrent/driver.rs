//! Running the concurrent model over any cache: `check_every_case` runs
//! all of it (the random cases and the fixed shapes) over one cache type
//! and panics with the failures; `run_case` runs one case and checks it,
//! `random_cases` the budget of random ones.
//!
//! A test binary that includes this needs, at its root, these modules
//! under these names (the files name each other as `crate::harness`,
//! `crate::case`, ...):
//!
//! ```text
//! #[allow(dead_code)]
//! #[path = "model/harness.rs"]
//! mod harness;
//! #[allow(dead_code)]
//! #[path = "concurrent/case.rs"]
//! mod case;
//! #[allow(dead_code)]
//! #[path = "concurrent/driver.rs"]
//! mod driver;
//! #[allow(dead_code)]
//! #[path = "concurrent/flavor.rs"]
//! mod flavor;
//! #[allow(dead_code)]
//! #[path = "concurrent/refill.rs"]
//! mod refill;
//! #[allow(dead_code)]
//! #[path = "concurrent/run.rs"]
//! mod run;
//! #[allow(dead_code)]
//! #[path = "concurrent/verify.rs"]
//! mod verify;
//! #[allow(dead_code)]
//! #[path = "concurrent/watchdog.rs"]
//! mod watchdog;
//! ```
//!
//! and then one call, with a build closure for its cache type `MyCache`:
//!
//! ```text
//! driver::check_every_case(driver::Flavor::exact("my-cache"), |b| b.build::<MyCache>());
//! ```
//!
//! `Flavor::exact` holds the cache to exact bounds (no slack over the
//! capacity, none while inserts are in flight) and runs every case with
//! the `lru` policy, whatever policy the case drew.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ttlkit::clock::MockClock;
use ttlkit::{BuildError, CacheBuilder, SlidingTtlCache};

use crate::case::{Act, Case};
pub use crate::flavor::Flavor;
use crate::harness::Op;
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

/// Runs one case on the cache `make` builds and checks it.
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
    restore_bound(flavor, &s, &case, &recs);
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
        let mut h = History::new(&case, flavor, recs, reports, s.rejections(), s.yields());
        h.check_reports()?;
        h.check_results()?;
        h.check_computes()?;
        h.check_looks()?;
        let live = h.check_final(&s, case.drain)?;
        h.check_nothing_else_refreshes(&live, s.now())?;
        refill::check(&s, &case, flavor, &live)
    })();
    dog.stop();
    result
}

/// Each thread's last resize restores the built bound (`case::draw_looks`),
/// so a cache whose resizes apply in one order ends at it: ttlkit's
/// front-end holds a lock across each, and the refill then checks that the
/// concurrent resizes left the bound (and the weight books) right. A cache
/// from outside ttlkit promises no such order: it gets its bound back here,
/// before the checks that hold it to that bound (a refusal was checked per
/// call, so its result is not looked at again).
fn restore_bound<C: SlidingTtlCache<u64, u64>>(flavor: Flavor, s: &Subject<C>, case: &Case, recs: &[run::Rec]) {
    let resized = recs.iter().any(|r| matches!(r.act, Act::Op(Op::SetCapacity(_))));
    if let (true, None, Some(cap)) = (resized, flavor.kind, case.config.capacity) {
        let _ = s.cache.set_max_capacity(cap);
    }
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

/// Defect 1's shape, made likely: four threads inserting distinct keys and
/// removing some, all in one shard (a cache that does not shard ignores
/// the setting), then the refill. The cache-wide weight counter must still
/// equal the weight held. Four rounds; the first failure is returned.
pub fn one_shard_writers_then_refill<C: SlidingTtlCache<u64, u64>>(
    flavor: Flavor,
    make: impl Fn(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
) -> Result<(), String> {
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
                            Act::Op(Op::Remove(k - 1))
                        } else {
                            Act::Op(Op::Insert(k))
                        }
                    })
                    .collect()
            })
            .collect();
        run_case(flavor, &make, Arc::new(case)).map_err(|e| format!("{flavor}, round {round}: {e}"))?;
    }
    Ok(())
}

/// Starts, on its own thread, a `get_or_insert_with(7, ..)` whose `init`
/// loads 7 again on the same cache. The contract: it ends (it panics with a
/// clear message) rather than wait for itself forever. The receiver gets a
/// message once the call ended, by returning or by panicking; none if it
/// hangs (the stuck thread is then left behind; it holds no cache lock).
pub fn start_recursive_load<C: SlidingTtlCache<u64, u64>>(
    flavor: Flavor,
    make: impl FnOnce(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
) -> Result<mpsc::Receiver<bool>, String> {
    let b = CacheBuilder::<u64, u64>::new().time_to_idle(Duration::from_secs(60)).clock(MockClock::new()).no_sweeper();
    let cache = make(b).map_err(|e| format!("build {flavor}: {e}"))?;
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get_or_insert_with(7, || cache.get_or_insert_with(7, || 1))
        }));
        let _ = done.send(outcome.is_ok());
    });
    Ok(finished)
}

/// How long the recursive load may take before it counts as a hang.
pub const RECURSIVE_LOAD_LIMIT: Duration = Duration::from_secs(5);

/// [`start_recursive_load`], waiting [`RECURSIVE_LOAD_LIMIT`] for it to end.
pub fn a_recursive_load_of_the_same_key_does_not_hang<C: SlidingTtlCache<u64, u64>>(
    flavor: Flavor,
    make: impl FnOnce(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
) -> Result<(), String> {
    let finished = start_recursive_load(flavor, make)?;
    finished.recv_timeout(RECURSIVE_LOAD_LIMIT).map(drop).map_err(|_| {
        format!("{flavor}: get_or_insert_with(7) whose init loads 7 again did not end in {RECURSIVE_LOAD_LIMIT:?} (deadlock)")
    })
}

/// The whole concurrent model over the cache `make` builds: the budget of
/// random cases ([`random_cases`]: `CONCURRENT_CASES`, default 16, or
/// `CONCURRENT_SECS`; `CONCURRENT_SEED`, `CONCURRENT_OPS`), the one-shard
/// writers and refill, and the recursive load. Every part runs even if an
/// earlier one failed; then it panics naming every failure.
pub fn check_every_case<C: SlidingTtlCache<u64, u64>>(
    flavor: Flavor,
    make: impl Fn(CacheBuilder<u64, u64>) -> Result<C, BuildError>,
) {
    let mut failures = Vec::new();
    if let Err(e) = random_cases(flavor, &make) {
        failures.push(format!("random cases: {e}"));
    }
    if let Err(e) = one_shard_writers_then_refill(flavor, &make) {
        failures.push(format!("one-shard writers then refill: {e}"));
    }
    if let Err(e) = a_recursive_load_of_the_same_key_does_not_hang(flavor, &make) {
        failures.push(format!("recursive load: {e}"));
    }
    assert!(
        failures.is_empty(),
        "the concurrent model failed on {flavor} ({} part(s)):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
