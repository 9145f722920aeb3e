//! The `mutex` backend against the reference model (tests/model/harness.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlkit_fuzz::model(ttlkit_fuzz::BackendKind::Mutex, data));
