//! The trace-reader targets: the reader must never panic, and on plain
//! (uncompressed) input it must yield exactly what an independent parser,
//! written here from the format descriptions, expects: the same keys, then
//! the same error at the same line (text) or record (binary).

use std::io::Cursor;

use ttlkit_strategies::trace::{Compression, TraceError, TraceFormat, TraceReader};

/// Keys compared per input (an ARC line can expand to 2^64 keys).
const MAX_KEYS: usize = 4096;

/// What the reference parser expects next.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Key(u64),
    /// A malformed text line (1-based).
    Malformed(u64),
    /// A binary stream ending inside a record.
    Truncated {
        records: u64,
        trailing: usize,
    },
}

/// The first input byte picks the compression (mostly none); the rest is the
/// trace.
pub fn trace(format: TraceFormat, data: &[u8]) {
    let Some((&first, body)) = data.split_first() else { return };
    let compression = match first {
        0..=191 => Compression::None,
        192..=212 => Compression::Gzip,
        213..=233 => Compression::Xz,
        _ => Compression::Zstd,
    };
    let reader = match TraceReader::from_reader(Cursor::new(body.to_vec()), format, compression) {
        Ok(r) => r,
        // Only a zstd decoder can fail to start, and only with an I/O error.
        Err(e) => {
            assert!(matches!(e, TraceError::Read { .. }), "{e:?}");
            return;
        }
    };
    let got: Vec<Result<u64, TraceError>> = reader.take(MAX_KEYS).collect();
    for (i, item) in got.iter().enumerate() {
        if let Err(e) = item {
            assert_eq!(i + 1, got.len(), "the reader went on after an error");
            assert!(!e.to_string().is_empty());
        }
    }
    if compression != Compression::None {
        return;
    }
    let want = expected(format, body);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let same = match (g, w) {
            (Ok(k), Expect::Key(w)) => k == w,
            (Err(TraceError::Malformed { line, .. }), Expect::Malformed(w)) => line == w,
            (Err(TraceError::Truncated { records, trailing, .. }), Expect::Truncated { records: r, trailing: t }) => {
                (records, trailing) == (r, t)
            }
            _ => false,
        };
        assert!(same, "{format} item {i}: the reader gave {g:?}, the reference parser expects {w:?}");
    }
    assert_eq!(
        got.len(),
        want.len(),
        "{format}: the reader gave {} items, the reference parser {}",
        got.len(),
        want.len()
    );
}

/// The reference parser: up to `MAX_KEYS` items, ending at the first error.
fn expected(format: TraceFormat, body: &[u8]) -> Vec<Expect> {
    let mut out = Vec::new();
    match format {
        TraceFormat::BeI32 | TraceFormat::BeI64 => {
            let width = if format == TraceFormat::BeI32 { 4 } else { 8 };
            let mut chunks = body.chunks(width);
            for (n, chunk) in chunks.by_ref().enumerate() {
                if out.len() == MAX_KEYS {
                    break;
                }
                if chunk.len() < width {
                    out.push(Expect::Truncated { records: n as u64, trailing: chunk.len() });
                    break;
                }
                let key = if width == 4 {
                    i64::from(i32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                } else {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(chunk);
                    i64::from_be_bytes(b)
                };
                out.push(Expect::Key(key as u64));
            }
        }
        TraceFormat::Arc | TraceFormat::Lirs => {
            // Lines end at '\n'; a last line without one still counts.
            let mut lines = body.split_inclusive(|&b| b == b'\n');
            let mut number = 0u64;
            while out.len() < MAX_KEYS {
                let Some(line) = lines.next() else { break };
                number += 1;
                if !text_line(format, line, number, &mut out) {
                    break;
                }
            }
            out.truncate(MAX_KEYS);
        }
    }
    out
}

/// Parses one text line into `out`; `false` after an error.
fn text_line(format: TraceFormat, line: &[u8], number: u64, out: &mut Vec<Expect>) -> bool {
    let words: Vec<&[u8]> = line.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
    if format == TraceFormat::Lirs {
        // One key per line; blank lines and `*` markers are skipped. The
        // key is the whole trimmed line, so inner spaces make it malformed.
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() || trimmed == b"*" {
            return true;
        }
        match decimal(trimmed) {
            Some(k) => out.push(Expect::Key(k)),
            None => {
                out.push(Expect::Malformed(number));
                return false;
            }
        }
        return true;
    }
    // ARC: `start count ...`, expanded to `start .. start + count`.
    let Some(&start) = words.first() else { return true };
    let range = match (decimal(start), words.get(1).and_then(|c| decimal(c))) {
        (Some(s), Some(c)) => s.checked_add(c).map(|end| s..end),
        _ => None,
    };
    let Some(range) = range else {
        out.push(Expect::Malformed(number));
        return false;
    };
    out.extend(range.take(MAX_KEYS - out.len()).map(Expect::Key));
    true
}

/// A non-negative decimal integer: ASCII digits only (any number of leading
/// zeros), fitting a `u64`.
fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}
