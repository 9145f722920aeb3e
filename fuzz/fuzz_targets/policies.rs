//! Every eviction policy driven by one operation sequence, `validate()`
//! after each step.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlkit_fuzz::policies(data));
