//! The timer wheel (ttlkit's expiry index) against a model of sorted
//! deadlines: schedule, lower-bound extensions, cancel, relocate, clear and
//! budgeted walks, checked after each step.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlkit_fuzz::timer_wheel(data));
