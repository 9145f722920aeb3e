//! Minimal reproductions of what the fuzz targets (`fuzz/`) found, with the
//! target that found it (kept as regression tests once fixed).

#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use ttlkit_strategies::trace::{Compression, TraceFormat, TraceReader};

fn keys(format: TraceFormat, text: &str) -> Result<Vec<u64>, String> {
    let reader = TraceReader::from_reader(Cursor::new(text.as_bytes().to_vec()), format, Compression::None)
        .map_err(|e| e.to_string())?;
    reader.collect::<Result<Vec<u64>, _>>().map_err(|e| e.to_string())
}

/// Was a BUG (trace readers), found by `trace_lirs` and `trace_arc`: a
/// number written with more than 20 digits was reported malformed even when
/// it fits a `u64` (leading zeros). Fixed: overflow alone decides.
#[test]
fn zero_padded_keys_longer_than_20_digits() {
    assert_eq!(keys(TraceFormat::Lirs, "000000000000000000007\n"), Ok(vec![7]));
    assert_eq!(keys(TraceFormat::Arc, "000000000000000000007 2 0 0\n"), Ok(vec![7, 8]));
}

/// The 20-digit limit itself is right for numbers without leading zeros:
/// they do not fit a `u64`.
#[test]
fn numbers_past_u64_are_malformed() {
    let err = keys(TraceFormat::Lirs, "1\n18446744073709551616\n").unwrap_err();
    assert!(err.starts_with("line 2:"), "{err}");
    assert_eq!(keys(TraceFormat::Lirs, "18446744073709551615\n"), Ok(vec![u64::MAX]));
}
