//! Streaming readers for published cache traces.
//!
//! A trace is read as an iterator of `u64` keys, one per request, without
//! ever holding the whole trace in memory. Four formats (see
//! `shared/traces/README.md`):
//!
//! * [`TraceFormat::Arc`] — ARC `.lis` text: each line `start count x y`
//!   expands to the keys `start .. start + count`.
//! * [`TraceFormat::Lirs`] — one non-negative integer key per line; lines
//!   that are exactly `*` are breakpoint markers and are skipped.
//! * [`TraceFormat::BeI32`] / [`TraceFormat::BeI64`] — raw streams of
//!   big-endian signed integers (cache2k; scarab and corda). Negative keys
//!   are sign-extended and reinterpreted as `u64`.
//!
//! Files ending in `.zst`, `.gz` or `.xz` are decompressed on the fly. The
//! format is guessed from the file name (see [`TraceFormat::guess`]) unless
//! given. Blank lines are skipped; any other malformed line ends the stream
//! with an error naming its line number.
//!
//! ```
//! use ttlkit_strategies::trace::{Compression, TraceFormat, TraceReader};
//!
//! let text = "10 3 0 0\n7 1 0 0\n";
//! let keys: Vec<u64> = TraceReader::from_reader(text.as_bytes(), TraceFormat::Arc, Compression::None)?
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(keys, [10, 11, 12, 7]);
//! # Ok::<(), ttlkit_strategies::trace::TraceError>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// How the keys of a trace are written.
///
/// ```
/// use std::path::Path;
/// use ttlkit_strategies::trace::TraceFormat;
///
/// assert_eq!(TraceFormat::guess(Path::new("traces/OLTP.lis.zst")), Some(TraceFormat::Arc));
/// assert_eq!("lirs".parse::<TraceFormat>()?, TraceFormat::Lirs);
/// assert_eq!(TraceFormat::BeI32.name(), "i32");
/// # Ok::<(), ttlkit_strategies::trace::TraceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    /// ARC `.lis` text, `start count x y` per line, expanded to `count` keys.
    Arc,
    /// LIRS text, one key per line, `*` lines skipped.
    Lirs,
    /// Big-endian 4-byte signed integers.
    BeI32,
    /// Big-endian 8-byte signed integers.
    BeI64,
}

impl TraceFormat {
    /// Every format, in a stable order.
    pub const ALL: &'static [TraceFormat] =
        &[TraceFormat::Arc, TraceFormat::Lirs, TraceFormat::BeI32, TraceFormat::BeI64];

    /// The format's name as [`FromStr`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Arc => "arc",
            TraceFormat::Lirs => "lirs",
            TraceFormat::BeI32 => "i32",
            TraceFormat::BeI64 => "i64",
        }
    }

    /// Guesses the format from a path: a `.lis` name is ARC; otherwise the
    /// folder names the suite (`arc`, `lirs`, `cache2k` = i32, `scarab` or
    /// `corda` = i64); otherwise `.i32`, `.i64`, `.lirs`, `.txt` extensions.
    /// Compression extensions are ignored.
    pub fn guess(path: &Path) -> Option<TraceFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let stem =
            ["zst", "zstd", "gz", "xz"].iter().find_map(|ext| name.strip_suffix(&format!(".{ext}"))).unwrap_or(&name);
        let ext = stem.rsplit_once('.').map(|(_, e)| e);
        if ext == Some("lis") {
            return Some(TraceFormat::Arc);
        }
        let dir = path.parent().and_then(Path::file_name).and_then(|d| d.to_str()).map(str::to_ascii_lowercase);
        match dir.as_deref() {
            Some("arc") => return Some(TraceFormat::Arc),
            Some("lirs") => return Some(TraceFormat::Lirs),
            Some("cache2k") => return Some(TraceFormat::BeI32),
            Some("scarab" | "corda") => return Some(TraceFormat::BeI64),
            _ => {}
        }
        match ext {
            Some("i32") => Some(TraceFormat::BeI32),
            Some("i64") => Some(TraceFormat::BeI64),
            Some("lirs" | "txt") => Some(TraceFormat::Lirs),
            _ => None,
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TraceFormat {
    type Err = TraceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "arc" | "lis" => Ok(TraceFormat::Arc),
            "lirs" | "text" => Ok(TraceFormat::Lirs),
            "i32" | "be-i32" | "cache2k" => Ok(TraceFormat::BeI32),
            "i64" | "be-i64" | "scarab" | "corda" => Ok(TraceFormat::BeI64),
            _ => Err(TraceError::UnknownFormatName { name: s.to_owned() }),
        }
    }
}

/// How a trace file is compressed.
///
/// ```
/// use std::path::Path;
/// use ttlkit_strategies::trace::Compression;
///
/// assert_eq!(Compression::from_path(Path::new("OLTP.lis.zst")), Compression::Zstd);
/// assert_eq!(Compression::from_path(Path::new("trace.gz")), Compression::Gzip);
/// assert_eq!(Compression::from_path(Path::new("trace.txt")), Compression::None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Plain.
    None,
    /// Zstandard (`.zst`).
    Zstd,
    /// Gzip (`.gz`), possibly several members.
    Gzip,
    /// XZ (`.xz`), possibly several streams.
    Xz,
}

impl Compression {
    /// The compression a file name's extension implies.
    pub fn from_path(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("zst" | "zstd") => Compression::Zstd,
            Some("gz") => Compression::Gzip,
            Some("xz") => Compression::Xz,
            _ => Compression::None,
        }
    }
}

/// Why a trace could not be read.
///
/// ```
/// use ttlkit_strategies::trace::{TraceError, TraceReader};
///
/// let err = TraceReader::open("/no/such/trace.lis", None).unwrap_err();
/// assert!(matches!(err, TraceError::Open { .. }));
/// assert!(matches!("csv".parse::<ttlkit_strategies::trace::TraceFormat>(), Err(TraceError::UnknownFormatName { .. })));
/// ```
#[derive(Debug)]
pub enum TraceError {
    /// The file could not be opened.
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The format could not be guessed from the file name.
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A format name that is not known.
    UnknownFormatName {
        /// The name given.
        name: String,
    },
    /// Reading or decompressing failed.
    Read {
        /// Where: a line number for text, a byte offset for binary.
        at: String,
        /// What the reader said.
        source: io::Error,
    },
    /// A text line is not in the format.
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: &'static str,
        /// The line (truncated to 80 characters).
        text: String,
    },
    /// A binary trace ends inside a record.
    Truncated {
        /// Whole records read.
        records: u64,
        /// Bytes left over.
        trailing: usize,
        /// Record width in bytes.
        width: usize,
    },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Open { path, source } => write!(f, "cannot open trace {}: {source}", path.display()),
            TraceError::UnknownFormat { path } => write!(
                f,
                "cannot tell the format of trace {} from its name; name it (arc, lirs, i32 or i64)",
                path.display()
            ),
            TraceError::UnknownFormatName { name } => {
                write!(f, "unknown trace format {name:?}; known formats: arc, lirs, i32, i64")
            }
            TraceError::Read { at, source } => write!(f, "reading the trace failed near {at}: {source}"),
            TraceError::Malformed { line, reason, text } => write!(f, "line {line}: {reason}: {text:?}"),
            TraceError::Truncated { records, trailing, width } => write!(
                f,
                "the trace ends with {trailing} stray bytes after record {records} (records are {width} bytes)"
            ),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Open { source, .. } | TraceError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How far a [`TraceReader`] over a file has read, for progress bars.
///
/// ```
/// use ttlkit_strategies::trace::TraceReader;
///
/// let path = std::env::temp_dir().join(format!("ttlkit-doc-progress-{}.lirs", std::process::id()));
/// std::fs::write(&path, "1\n2\n3\n")?;
/// let mut reader = TraceReader::open(&path, Some(ttlkit_strategies::trace::TraceFormat::Lirs))?;
/// assert_eq!(reader.by_ref().count(), 3);
/// let progress = reader.progress().expect("reading a file");
/// assert_eq!(progress.total_bytes(), 6);
/// assert!(progress.bytes_read() <= progress.total_bytes());
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TraceProgress {
    read: std::sync::Arc<AtomicU64>,
    total: u64,
}

impl TraceProgress {
    /// Bytes of the (compressed) file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The (compressed) file's size in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }
}

struct Counting<R> {
    inner: R,
    read: std::sync::Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A streaming iterator over a trace's keys.
///
/// It yields `Ok(key)` per request and, on the first error, one `Err` after
/// which it ends.
///
/// ```
/// use std::io::Cursor;
/// use ttlkit_strategies::trace::{Compression, TraceFormat, TraceReader};
///
/// let text = b"1\n*\n2\n1\n".to_vec();
/// let reader = TraceReader::from_reader(Cursor::new(text), TraceFormat::Lirs, Compression::None)?;
/// let keys: Vec<u64> = reader.collect::<Result<_, _>>()?;
/// assert_eq!(keys.len(), 3, "`*` lines are skipped");
/// assert_eq!(keys[0], keys[2]);
/// # Ok::<(), ttlkit_strategies::trace::TraceError>(())
/// ```
pub struct TraceReader {
    input: Box<dyn BufRead + Send>,
    format: TraceFormat,
    progress: Option<TraceProgress>,
    /// Lines (text) or records (binary) read so far.
    count: u64,
    line: Vec<u8>,
    /// ARC: the rest of the current block, `next .. end`.
    block: (u64, u64),
    done: bool,
}

impl fmt::Debug for TraceReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceReader").field("format", &self.format).field("count", &self.count).finish()
    }
}

const BUF: usize = 1 << 17;

impl TraceReader {
    /// Opens a trace file, in `format` or the one its name implies,
    /// decompressing by extension.
    pub fn open(path: impl AsRef<Path>, format: Option<TraceFormat>) -> Result<TraceReader, TraceError> {
        let path = path.as_ref();
        let format = match format {
            Some(f) => f,
            None => TraceFormat::guess(path).ok_or_else(|| TraceError::UnknownFormat { path: path.to_owned() })?,
        };
        let open_err = |source| TraceError::Open { path: path.to_owned(), source };
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if meta.is_dir() {
            return Err(open_err(io::Error::other("is a directory")));
        }
        let read = std::sync::Arc::new(AtomicU64::new(0));
        let progress = TraceProgress { read: read.clone(), total: meta.len() };
        let counting = BufReader::with_capacity(BUF, Counting { inner: file, read });
        let mut reader = Self::from_reader(counting, format, Compression::from_path(path)).map_err(|e| match e {
            TraceError::Read { source, .. } => open_err(source),
            other => other,
        })?;
        reader.progress = Some(progress);
        Ok(reader)
    }

    /// Reads a trace from any byte stream.
    pub fn from_reader(
        input: impl Read + Send + 'static,
        format: TraceFormat,
        compression: Compression,
    ) -> Result<TraceReader, TraceError> {
        let read_err = |source| TraceError::Read { at: "the start".into(), source };
        let input: Box<dyn BufRead + Send> = match compression {
            Compression::None => Box::new(BufReader::with_capacity(BUF, input)),
            Compression::Zstd => Box::new(BufReader::with_capacity(BUF, zstd::Decoder::new(input).map_err(read_err)?)),
            Compression::Gzip => Box::new(BufReader::with_capacity(BUF, flate2::read::MultiGzDecoder::new(input))),
            Compression::Xz => {
                // A memory limit: a crafted header may otherwise ask liblzma
                // for gigabytes of dictionary (real traces use a few MiB).
                let stream = xz2::stream::Stream::new_stream_decoder(XZ_MEMORY_LIMIT, xz2::stream::CONCATENATED)
                    .map_err(|e| read_err(io::Error::other(e)))?;
                Box::new(BufReader::with_capacity(BUF, xz2::read::XzDecoder::new_stream(input, stream)))
            }
        };
        Ok(TraceReader { input, format, progress: None, count: 0, line: Vec::new(), block: (0, 0), done: false })
    }

    /// The format being read.
    pub fn format(&self) -> TraceFormat {
        self.format
    }

    /// Progress through the file, when reading one.
    pub fn progress(&self) -> Option<TraceProgress> {
        self.progress.clone()
    }

    fn malformed(&self, reason: &'static str) -> TraceError {
        let text = String::from_utf8_lossy(&self.line);
        let text: String = text.trim_end().chars().take(80).collect();
        TraceError::Malformed { line: self.count, reason, text }
    }

    /// Reads the next line into `self.line`; `false` at the end.
    fn next_line(&mut self) -> Result<bool, TraceError> {
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|source| TraceError::Read { at: format!("line {}", self.count + 1), source })?;
        if n == 0 {
            return Ok(false);
        }
        self.count += 1;
        Ok(true)
    }

    fn next_arc(&mut self) -> Result<Option<u64>, TraceError> {
        loop {
            let (next, end) = self.block;
            if next < end {
                self.block.0 += 1;
                return Ok(Some(next));
            }
            if !self.next_line()? {
                return Ok(None);
            }
            let mut fields = self.line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
            let Some(start) = fields.next() else { continue };
            let start = parse_u64(start).ok_or_else(|| self.malformed("the start block is not an integer"))?;
            let count = fields.next().ok_or_else(|| self.malformed("no block count"))?;
            let count = parse_u64(count).ok_or_else(|| self.malformed("the block count is not an integer"))?;
            let end = start.checked_add(count).ok_or_else(|| self.malformed("the block range overflows"))?;
            self.block = (start, end);
        }
    }

    fn next_lirs(&mut self) -> Result<Option<u64>, TraceError> {
        loop {
            if !self.next_line()? {
                return Ok(None);
            }
            let t = self.line.trim_ascii();
            if t.is_empty() || t == b"*" {
                continue;
            }
            return parse_u64(t).map(Some).ok_or_else(|| self.malformed("not a non-negative integer key"));
        }
    }

    fn next_binary(&mut self, width: usize) -> Result<Option<u64>, TraceError> {
        let mut buf = [0u8; 8];
        let mut got = 0;
        while got < width {
            match self.input.read(&mut buf[got..width]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    let at = format!("byte {}", self.count * width as u64 + got as u64);
                    return Err(TraceError::Read { at, source });
                }
            }
        }
        if got == 0 {
            return Ok(None);
        }
        if got < width {
            return Err(TraceError::Truncated { records: self.count, trailing: got, width });
        }
        self.count += 1;
        let key = if width == 4 {
            i64::from(i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])) as u64
        } else {
            i64::from_be_bytes(buf) as u64
        };
        Ok(Some(key))
    }
}

impl Iterator for TraceReader {
    type Item = Result<u64, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = match self.format {
            TraceFormat::Arc => self.next_arc(),
            TraceFormat::Lirs => self.next_lirs(),
            TraceFormat::BeI32 => self.next_binary(4),
            TraceFormat::BeI64 => self.next_binary(8),
        };
        match r {
            Ok(Some(k)) => Some(Ok(k)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses ASCII decimal digits (at least one, nothing else) into a `u64`.
/// The most memory the xz decoder may use (real traces need a few MiB).
const XZ_MEMORY_LIMIT: u64 = 256 << 20;

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    // No length limit: leading zeros are fine, and the checked arithmetic
    // catches any value past u64::MAX.
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: TraceFormat) -> Result<Vec<u64>, TraceError> {
        TraceReader::from_reader(std::io::Cursor::new(text.as_bytes().to_vec()), format, Compression::None)?.collect()
    }

    #[test]
    fn arc_expands_blocks_and_reports_bad_lines() {
        assert_eq!(read("5 2 0 0\n\n9 0 1 1\n1 1 0 0", TraceFormat::Arc).ok(), Some(vec![5, 6, 1]));
        let err = read("5 2 0 0\nx 1 0 0\n", TraceFormat::Arc).err();
        assert!(matches!(err, Some(TraceError::Malformed { line: 2, .. })), "{err:?}");
        let err = read("5\n", TraceFormat::Arc).err();
        assert!(matches!(err, Some(TraceError::Malformed { line: 1, .. })), "{err:?}");
    }

    #[test]
    fn lirs_skips_markers() {
        assert_eq!(read("3\n*\n 4 \n\n3\n", TraceFormat::Lirs).ok(), Some(vec![3, 4, 3]));
        let err = read("3\n-4\n", TraceFormat::Lirs).err();
        assert!(matches!(err, Some(TraceError::Malformed { line: 2, .. })), "{err:?}");
    }

    #[test]
    fn binary_streams() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&7i32.to_be_bytes());
        bytes.extend_from_slice(&(-1i32).to_be_bytes());
        let keys = TraceReader::from_reader(std::io::Cursor::new(bytes.clone()), TraceFormat::BeI32, Compression::None)
            .map(|r| r.collect::<Result<Vec<u64>, _>>());
        assert_eq!(keys.ok().and_then(Result::ok), Some(vec![7, u64::MAX]));
        bytes.push(1);
        let r = TraceReader::from_reader(std::io::Cursor::new(bytes), TraceFormat::BeI32, Compression::None)
            .map(|r| r.collect::<Result<Vec<u64>, _>>());
        assert!(matches!(r, Ok(Err(TraceError::Truncated { records: 2, trailing: 1, width: 4 }))));
    }

    #[test]
    fn guesses_formats_from_names() {
        let g = |p: &str| TraceFormat::guess(Path::new(p));
        assert_eq!(g("x/arc/OLTP.lis.zst"), Some(TraceFormat::Arc));
        assert_eq!(g("shared/traces/lirs/gli.trace.gz"), Some(TraceFormat::Lirs));
        assert_eq!(g("t/cache2k/web07.trace.xz"), Some(TraceFormat::BeI32));
        assert_eq!(g("t/scarab/scarab-recs.trace.xz"), Some(TraceFormat::BeI64));
        assert_eq!(g("t/corda/trace_vaultservice.gz"), Some(TraceFormat::BeI64));
        assert_eq!(g("keys.i64"), Some(TraceFormat::BeI64));
        assert_eq!(g("mystery.bin"), None);
        assert_eq!(Compression::from_path(Path::new("a.lis.zst")), Compression::Zstd);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = TraceReader::open("/nonexistent/OLTP.lis", None).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("cannot open trace /nonexistent/OLTP.lis"), "{msg}");
    }
}
