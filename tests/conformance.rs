//! The conformance suite: every rule of the `SlidingTtlCache` contract,
//! written once (in `conformance/*.rs`, listed in `conformance/list.rs`) and
//! run against every in-process backend × policy pair of
//! `BackendKind::ALL × PolicyKind::ALL` that the backend runs. The matrix is
//! built at run time (`harness = false`, libtest-mimic), so a new backend or
//! policy needs no edit here. Test names carry backend and policy:
//! `cargo test --test conformance -- mutex_lru`, `-- --list`.
//!
//! Another cache runs the suite by implementing `Target`
//! (`support/target.rs`) and one more `trials(..)` line in `main`.
//!
//! Driven by `MockClock`; no test sleeps. The Redis binary runs the cases
//! that need no mock clock on `RedisCache` and `TieredCache`.

#![allow(clippy::unwrap_used)]

#[path = "conformance/bad_input.rs"]
mod bad_input;
#[path = "conformance/cases.rs"]
mod cases;
#[path = "conformance/entry.rs"]
mod entry;
#[path = "conformance/expiry_kinds.rs"]
mod expiry_kinds;
#[path = "conformance/inspection.rs"]
mod inspection;
#[path = "conformance/list.rs"]
mod list;
#[path = "conformance/loads.rs"]
mod loads;
#[path = "conformance/oversized.rs"]
mod oversized;
#[path = "conformance/per_entry.rs"]
mod per_entry;
#[path = "conformance/refresh.rs"]
mod refresh;
#[path = "conformance/reloader.rs"]
mod reloader;
#[path = "support/removal_log.rs"]
mod removal_log;
#[path = "conformance/resize.rs"]
mod resize;
#[path = "conformance/suite.rs"]
mod suite;
#[path = "conformance/sweeping.rs"]
mod sweeping;
#[path = "support/target.rs"]
mod target;

use libtest_mimic::Arguments;
use suite::{quiet_deliberate_panics, trial, trials};
use target::InProcess;

fn main() {
    let args = Arguments::from_args();
    quiet_deliberate_panics();
    let mut all = Vec::new();
    for target in InProcess::all() {
        let prefix = target.name();
        all.extend(trials(&prefix, target, crate::for_each_case!(registry, InProcess)));
        // Cases about `AnyCache` and `BackendKind` themselves.
        all.push(trial(format!("{prefix}::zero_capacity_is_a_typed_error"), move || {
            bad_input::zero_capacity_is_a_typed_error(&target)
        }));
        all.push(trial(format!("{prefix}::unsupported_policy_is_a_typed_error"), move || {
            bad_input::unsupported_policy_is_a_typed_error(&target)
        }));
    }
    let once: &[(&str, fn())] = &[
        #[cfg(feature = "moka")]
        ("moka_refuses_the_policies_it_does_not_run", bad_input::moka_refuses_the_policies_it_does_not_run),
        ("unknown_policy_name_is_a_typed_error", bad_input::unknown_policy_name_is_a_typed_error),
        ("unknown_backend_name_is_a_typed_error", bad_input::unknown_backend_name_is_a_typed_error),
    ];
    for &(name, f) in once {
        all.push(trial(format!("bad_input::{name}"), f));
    }
    libtest_mimic::run(&args, all).exit();
}
