//! The `lirs` trace reader: arbitrary bytes never panic, and plain input
//! yields exactly the keys and the error an independent parser expects.
#![no_main]

use ttlkit_strategies::trace::TraceFormat;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ttlkit_fuzz::trace(TraceFormat::Lirs, data));
