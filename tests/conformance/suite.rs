//! Running the case list against a target: one libtest-mimic trial per
//! case the target meets the needs of. Shared by every binary that runs the
//! suite (`conformance.rs`, `third_party_core.rs`); each includes the case
//! files, `list.rs`, `support/target.rs` and `support/removal_log.rs` too.

#![allow(dead_code)] // Each binary that includes this uses part of it.

use crate::target::{Need, Target};
use libtest_mimic::Trial;

/// One case of the list, for targets of type `T`.
pub struct Case<T> {
    pub name: &'static str,
    pub needs: &'static [Need],
    pub run: fn(&T),
}

/// Expands the case list into a `Vec<Case<T>>`.
#[macro_export]
macro_rules! registry {
    ($target:ty ; $($module:ident :: $case:ident [$($need:ident),*]),* $(,)?) => {
        vec![$($crate::suite::Case::<$target> {
            name: concat!(stringify!($module), "::", stringify!($case)),
            needs: &[$($crate::target::Need::$need),*],
            run: $crate::$module::$case::<$target>,
        }),*]
    };
}

/// A test; a panic fails it (libtest-mimic catches it).
pub fn trial(name: String, f: impl FnOnce() + Send + 'static) -> Trial {
    Trial::test(name, move || {
        f();
        Ok(())
    })
}

/// One trial per case whose needs `target` meets, named `{prefix}::{case}`
/// (the case's file module is left out: `mutex_lru::sliding_refresh_on_get`).
pub fn trials<T: Target + Clone>(prefix: &str, target: T, cases: Vec<Case<T>>) -> Vec<Trial> {
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
const DELIBERATE: &[&str] = &[
    "init bug",
    "leader's init fails",
    "listener bug",
    "recursive load of the same key",
    "weigher fault",
    "gave up waiting",
    "wrote the key it computes",
    "reloader bug",
];

/// Keeps the deliberate panics out of the output (libtest-mimic does not
/// capture it); every other panic is printed as usual.
pub fn quiet_deliberate_panics() {
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
