//! The fuzz targets' bodies (each target in `fuzz_targets/` is one line).
//!
//! * `model_<backend>`: operation sequences decoded from the input, run
//!   against the reference model shared with `tests/model.rs`.
//! * `trace_<format>`: the trace readers on arbitrary bytes, checked against
//!   an independent parser (`oracle.rs`).
//! * `policies`: every eviction policy, `validate()` after each step.
//! * `timer_wheel`: the expiry index of the `mutex` and `sharded` cores
//!   against its model of sorted deadlines (`src/timer_wheel/model.rs`,
//!   shared with the wheel's property test).
//! * `builder_inputs`: extreme builder settings and weights, and a weigher
//!   that panics, over every backend.

mod builder_inputs;
#[path = "../../tests/model/harness.rs"]
pub mod harness;
mod oracle;
mod policy;
// The wheel is crate-private in ttlkit, so it is compiled here from its
// source, with its model (which names nothing outside the module).
#[allow(dead_code)]
#[path = "../../src/timer_wheel/mod.rs"]
mod timer_wheel;

pub use builder_inputs::builder_inputs;
pub use oracle::trace;
pub use policy::policies;

pub use ttlkit::BackendKind;

/// Decodes `data` into timer wheel operations and checks each against the
/// model of sorted deadlines; panics on the first difference.
pub fn timer_wheel(data: &[u8]) {
    let ops = timer_wheel::model::decode(data);
    if let Err(e) = timer_wheel::model::check(&ops) {
        panic!("{e}\n  ops: {ops:?}");
    }
}

/// Decodes `data` into a configuration and an operation sequence and checks
/// `backend` against the model; panics (a crash for libFuzzer) on the first
/// broken rule.
pub fn model(backend: BackendKind, data: &[u8]) {
    let (config, ops) = harness::decode(data);
    if let Err(e) = harness::check(backend, &config, &ops) {
        panic!("{e}\n  config: {config:?}\n  ops: {ops:?}");
    }
}
