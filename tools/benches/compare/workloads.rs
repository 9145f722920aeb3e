//! Key streams, generated (or read) before any timing starts.

use std::path::Path;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use ttlkit_strategies::trace::TraceReader;

/// What each operation of a workload does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `get_or_insert_with(key, || key)`.
    GetOrInsert,
    /// `get(key)` on a cache pre-filled with every key the stream uses.
    Get,
}

/// A named key stream.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub op: Op,
    pub keys: Arc<Vec<u64>>,
    /// For `Op::Get`: the keys `0..prefill` are inserted before timing.
    pub prefill: u64,
    /// Whether every entry gets a deadline of its own ([`ttl_of`]), from
    /// the cache's per-entry expiry (ours: `Expiry`; moka's: `moka::Expiry`).
    pub per_entry: bool,
}

/// The time to live of `key` in the per-entry workload: 1 s to 1 h,
/// spread by a hash of the key (the same for every row).
pub fn ttl_of(key: u64) -> std::time::Duration {
    std::time::Duration::from_millis(1_000 + ttlkit_strategies::mix64(key) % 3_599_000)
}

/// How the streams are shaped.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Distinct keys of the Zipf and uniform streams.
    pub keys: u64,
    /// Operations per generated stream (threads start at spread-out offsets
    /// and wrap around).
    pub len: usize,
    /// Cache capacity; the hit-only stream draws from `capacity / 2` keys so
    /// every key fits in every cache.
    pub capacity: u64,
}

const SEED: u64 = 0x7474_6c6b_6974; // "ttlkit"

fn zipf_stream(n: u64, s: f64, len: usize, seed: u64) -> Result<Vec<u64>, String> {
    let zipf = Zipf::new(n as f64, s).map_err(|e| format!("zipf(n={n}, s={s}): {e}"))?;
    let mut rng = SmallRng::seed_from_u64(seed);
    // Zipf yields ranks 1..=n as floats; rank 1 is the hottest key.
    Ok((0..len).map(|_| zipf.sample(&mut rng) as u64 - 1).collect())
}

pub fn zipf(shape: Shape, s: f64) -> Result<Workload, String> {
    Ok(Workload {
        name: format!("zipf-{s}"),
        op: Op::GetOrInsert,
        keys: Arc::new(zipf_stream(shape.keys, s, shape.len, SEED ^ s.to_bits())?),
        prefill: 0,
        per_entry: false,
    })
}

/// Zipf 0.9 get-or-insert where each entry lives its own [`ttl_of`].
pub fn per_entry(shape: Shape) -> Result<Workload, String> {
    Ok(Workload {
        name: "per-entry-ttl-zipf-0.9".into(),
        op: Op::GetOrInsert,
        keys: Arc::new(zipf_stream(shape.keys, 0.9, shape.len, SEED + 5)?),
        prefill: 0,
        per_entry: true,
    })
}

pub fn uniform(shape: Shape) -> Workload {
    let mut rng = SmallRng::seed_from_u64(SEED + 1);
    let keys = (0..shape.len).map(|_| rng.random_range(0..shape.keys)).collect();
    Workload { name: "uniform".into(), op: Op::GetOrInsert, keys: Arc::new(keys), prefill: 0, per_entry: false }
}

/// Zipf 0.9 with one-pass scans mixed in: the stream is built of runs of
/// 1,000 operations, each run (with probability 0.2) either a scan over
/// 1,000 consecutive keys never used before (from a range disjoint from the
/// Zipf keys) or 1,000 Zipf draws. A scan-resistant policy keeps its hit
/// ratio; LRU lets the scans flush hot keys.
pub fn scan_mix(shape: Shape) -> Result<Workload, String> {
    const RUN: usize = 1_000;
    let mut zipf = zipf_stream(shape.keys, 0.9, shape.len, SEED + 2)?.into_iter();
    let mut rng = SmallRng::seed_from_u64(SEED + 3);
    let mut next_scan = shape.keys;
    let mut keys = Vec::with_capacity(shape.len);
    while keys.len() < shape.len {
        let run = RUN.min(shape.len - keys.len());
        if rng.random_bool(0.2) {
            keys.extend(next_scan..next_scan + run as u64);
            next_scan += run as u64;
        } else {
            keys.extend(zipf.by_ref().take(run));
        }
    }
    Ok(Workload {
        name: "scan+zipf-0.9".into(),
        op: Op::GetOrInsert,
        keys: Arc::new(keys),
        prefill: 0,
        per_entry: false,
    })
}

/// Pure `get` hits: Zipf 1.1 over `capacity / 2` keys, all inserted first.
pub fn hits(shape: Shape) -> Result<Workload, String> {
    let n = (shape.capacity / 2).max(1);
    Ok(Workload {
        name: "get-hit-zipf-1.1".into(),
        op: Op::Get,
        keys: Arc::new(zipf_stream(n, 1.1, shape.len, SEED + 4)?),
        prefill: n,
        per_entry: false,
    })
}

/// A real trace, replayed as get-or-insert (looped when a run outlasts it).
pub fn trace(path: &Path) -> Result<Workload, String> {
    let reader = TraceReader::open(path, None).map_err(|e| e.to_string())?;
    let mut keys = Vec::new();
    for key in reader {
        keys.push(key.map_err(|e| format!("{}: {e}", path.display()))?);
    }
    if keys.is_empty() {
        return Err(format!("{}: the trace holds no requests", path.display()));
    }
    let file = path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned());
    let stem = file.split('.').next().unwrap_or(&file).to_owned();
    Ok(Workload {
        name: format!("trace:{stem}"),
        op: Op::GetOrInsert,
        keys: Arc::new(keys),
        prefill: 0,
        per_entry: false,
    })
}
