//! Extreme builder settings and weights over every backend: typed build
//! errors, no panics but the weigher's own, and such a panic changes nothing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlkit_fuzz::builder_inputs(data));
