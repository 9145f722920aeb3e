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
#[path = "conformance/list.rs"]
mod list;
#[path = "conformance/loads.rs"]
mod loads;
#[path = "conformance/oversized.rs"]
mod oversized;
#[path = "support/removal_log.rs"]
mod removal_log;
#[path = "conformance/sweeping.rs"]
mod sweeping;
#[path = "support/target.rs"]
mod target;

use libtest_mimic::{Arguments, Trial};
use target::{InProcess, Need, Target};

/// One case of the list, for targets of type `T`.
struct Case<T> {
    name: &'static str,
    needs: &'static [Need],
    run: fn(&T),
}

/// Expands the case list into a `Vec<Case<T>>`.
macro_rules! registry {
    ($target:ty ; $($module:ident :: $case:ident [$($need:ident),*]),* $(,)?) => {
        vec![$(Case::<$target> {
            name: concat!(stringify!($module), "::", stringify!($case)),
            needs: &[$(Need::$need),*],
            run: $module::$case::<$target>,
        }),*]
    };
}

/// A test; a panic fails it (libtest-mimic catches it).
fn trial(name: String, f: impl FnOnce() + Send + 'static) -> Trial {
    Trial::test(name, move || {
        f();
        Ok(())
    })
}

/// One trial per case whose needs `target` meets, named `{prefix}::{case}`
/// (the case's file module is left out: `mutex_lru::sliding_refresh_on_get`).
fn trials<T: Target + Clone>(prefix: &str, target: T, cases: Vec<Case<T>>) -> Vec<Trial> {
    cases
        .into_iter()
        .filter(|c| c.needs.iter().all(|&n| target.has(n)))
        .map(|c| {
            let t = target.clone();
            let short = c.name.rsplit("::").next().unwrap_or(c.name);
            trial(format!("{prefix}::{short}"), move || {
                (c.run)(&t);
                t.finish();
            })
        })
        .collect()
}

/// The panics the cases cause on purpose (a panicking listener, `init` or
/// weigher, a recursive load).
const DELIBERATE: &[&str] =
    &["init bug", "leader's init fails", "listener bug", "recursive load of the same key", "weigher fault"];

/// Keeps the deliberate panics out of the output (libtest-mimic does not
/// capture it); every other panic is printed as usual.
fn quiet_deliberate_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload.downcast_ref::<&str>().copied().or(payload.downcast_ref::<String>().map(String::as_str));
        let msg = msg.unwrap_or("");
        if !DELIBERATE.iter().any(|d| msg.contains(d)) {
            default(info);
        }
    }));
}

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
    let once: [(&str, fn()); 3] = [
        ("moka_refuses_the_policies_it_does_not_run", bad_input::moka_refuses_the_policies_it_does_not_run),
        ("unknown_policy_name_is_a_typed_error", bad_input::unknown_policy_name_is_a_typed_error),
        ("unknown_backend_name_is_a_typed_error", bad_input::unknown_backend_name_is_a_typed_error),
    ];
    for (name, f) in once {
        all.push(trial(format!("bad_input::{name}"), f));
    }
    libtest_mimic::run(&args, all).exit();
}
