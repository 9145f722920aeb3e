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
//!   began, `Explicit` exactly for the values a `remove` returned or a
//!   `retain` rejected (a `retain` removes at most what it rejected, and
//!   everything it rejected leaves),
//!   `Cleared` only after a `clear` began); no unknown value is reported;
//! * a load's value may go unstored only if a write of its key (or a
//!   `clear` or `retain`) raced it,
//!   and must go unstored if an insert or remove of its key ran entirely
//!   while its `init` ran (that write wins);
//! * a read returns only a value stored for that key, by a call that had
//!   begun, and never one the listener had already been told was removed;
//! * `len()` stays within the bound plus the in-flight slack (one entry
//!   per thread but for `mutex`), and after the final `purge_expired()`
//!   `len()` is the live count and the live weight is within the bound;
//! * `iter` yields each key at most once, only values a begun call stored
//!   and the listener had not reported gone, and of those stored before it
//!   began no more than the `len()` bound; `entry_info` reports the weight
//!   of a stored value of its key and times left within the configured
//!   timeouts; `set_max_capacity` (a shrink, later undone by the same
//!   thread) is refused with its typed error exactly on moka and on a
//!   cache without a bound (`concurrent/verify_looks.rs`);
//! * nothing but a read or a write of its key keeps an entry alive: no
//!   look (`iter`, `entry_info`, `peek`, `contains_key`) finds it, nor is
//!   it live at the end, once the idle timeout passed since the last one;
//! * a single-threaded refill of fresh keys fills the cache to its bound
//!   (`concurrent/refill.rs`): bookkeeping that drifted shows here;
//! * statistics: hits + misses + coalesced loads are the lookups made,
//!   loads started the `init`s run, load failures the failing ones,
//!   removals by cause what the listener was told.
//!
//! A watchdog aborts a case that hangs, naming each thread's current op.
//! Two fixed shapes run beside the random cases: writers racing in one
//! shard, then the refill; and a load whose `init` loads the same key.
//!
//! The model runs over any `SlidingTtlCache<u64, u64>`: a `Flavor`
//! (`concurrent/flavor.rs`) says what the cache is allowed beyond the
//! contract, a closure builds it from the case's `CacheBuilder`, and
//! `driver::check_every_case` (`concurrent/driver.rs`, whose opening lists
//! the `#[path]` modules another test binary needs) runs all of the above
//! over it with one call.
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
#[path = "concurrent/driver.rs"]
mod driver;
#[path = "concurrent/flavor.rs"]
mod flavor;
#[path = "concurrent/refill.rs"]
mod refill;
#[path = "concurrent/run.rs"]
mod run;
#[path = "concurrent/verify.rs"]
mod verify;
#[path = "concurrent/watchdog.rs"]
mod watchdog;

use std::time::Instant;

use ttlkit::{AnyCache, BackendKind, CacheBuilder, MutexCache};

use driver::{random_cases, Flavor};

#[test]
fn every_backend_keeps_the_contract_under_concurrency() {
    let only = std::env::var("CONCURRENT_BACKENDS").ok();
    let mut failures = Vec::new();
    for &backend in BackendKind::ALL {
        if only.as_ref().is_some_and(|o| !o.split(',').any(|b| BackendKind::from_name(b) == Ok(backend))) {
            continue;
        }
        if let Err(e) = random_cases(Flavor::of(backend), |b| AnyCache::new(backend, b)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} backend(s) failed:\n{}", failures.len(), failures.join("\n\n"));
}

/// The shape of a race on the cache-wide weight, made likely: four threads
/// inserting distinct keys and removing some, all in one shard, then the
/// refill. The cache-wide weight counter must still equal the weight held.
#[test]
fn one_shard_writers_then_refill() {
    for &backend in BackendKind::ALL {
        if let Err(e) = driver::one_shard_writers_then_refill(Flavor::of(backend), |b| AnyCache::new(backend, b)) {
            panic!("{e}");
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
            (backend, driver::start_recursive_load(Flavor::of(backend), |b| AnyCache::new(backend, b)).unwrap())
        })
        .collect();
    let deadline = Instant::now() + driver::RECURSIVE_LOAD_LIMIT;
    let hung: Vec<_> = waits
        .into_iter()
        .filter(|(_, finished)| finished.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err())
        .map(|(backend, _)| backend)
        .collect();
    assert!(hung.is_empty(), "get_or_insert_with(7) whose init loads 7 again hung (deadlock) on: {hung:?}");
}

/// The entry point another test binary uses (`driver::check_every_case`),
/// over a cache type given only by its build closure: `MutexCache`, held to
/// exact bounds and the `lru` policy as a cache from outside ttlkit is.
#[test]
fn generic_entry_point_runs_a_plain_cache() {
    driver::check_every_case(Flavor::exact("mutex-via-closure"), |b: CacheBuilder<u64, u64>| {
        b.build::<MutexCache<u64, u64>>()
    });
}
