//! The default policy's grid: every trace in `shared/traces` at the sizes
//! of `published.csv`, Caffeine's OLTP grid, scarab at 100,000 and
//! 256,000, corda at 8,192, web07 and web12 at 16,384, and each LIRS trace
//! at 10%, 50% and 90% of its unique keys. Shared by the
//! `default_policy` test and the `grid` example, which records every
//! policy's hit ratio on every cell in `tests/data/grid.csv`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use ttlkit_strategies::trace::TraceReader;

/// A trace and the cache sizes it is run at.
pub struct TraceCells {
    /// Path under `shared/traces`.
    pub path: &'static str,
    /// A short name for tables.
    pub name: &'static str,
    pub sizes: Vec<usize>,
}

/// LIRS traces, their unique keys, and the three sizes (10%, 50% and 90%
/// of the unique keys, rounded) they are run at besides published sizes.
pub const LIRS: &[(&str, &str, usize)] = &[
    ("lirs/2_pools.trace.gz", "2_pools", 9_939),
    ("lirs/backf.trace.gz", "backf", 751),
    ("lirs/cpp.trace.gz", "cpp", 1_223),
    ("lirs/cs.trace.gz", "cs", 1_409),
    ("lirs/gli.trace.gz", "gli", 2_529),
    ("lirs/loop.trace.gz", "loop", 1_011),
    ("lirs/multi1.trace.gz", "multi1", 2_606),
    ("lirs/scan.trace.gz", "scan", 2_001),
    ("lirs/zigzag.trace.gz", "zigzag", 2_001),
];

/// Caffeine's OLTP grid, with its shipped W-TinyLFU's published figures.
pub const CAFFEINE_OLTP: &[(usize, f64)] =
    &[(560, 34.81), (1_868, 44.62), (5_606, 55.07), (18_688, 61.52), (37_376, 64.80), (74_752, 73.05)];

/// Every trace of the grid with its sizes, ascending.
pub fn cells() -> Vec<TraceCells> {
    let mut by_path: BTreeMap<&'static str, (&'static str, Vec<usize>)> = BTreeMap::new();
    let mut add = |path: &'static str, name: &'static str, sizes: &[usize]| {
        by_path.entry(path).or_insert((name, Vec::new())).1.extend_from_slice(sizes);
    };
    add("arc/OLTP.lis.zst", "OLTP", &[250, 500, 750, 1000, 1250, 1500, 1750, 2000, 5000, 10_000, 15_000]);
    add("arc/OLTP.lis.zst", "OLTP", &CAFFEINE_OLTP.iter().map(|c| c.0).collect::<Vec<_>>());
    add("arc/P12.lis.zst", "P12", &[1024, 2048, 4096, 8192, 16_384, 32_768, 65_536, 131_072, 262_144, 524_288]);
    add("cache2k/web07.trace.xz", "web07", &[75, 300, 1200, 3000, 16_384]);
    add("cache2k/web12.trace.xz", "web12", &[75, 300, 1200, 3000, 16_384]);
    add("lirs/cpp.trace.gz", "cpp", &[20, 35, 50, 80, 100, 300, 500]);
    add("lirs/gli.trace.gz", "gli", &[100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
    add("lirs/multi1.trace.gz", "multi1", &[500]);
    add("scarab/scarab-recs.trace.xz", "scarab", &[100_000, 256_000]);
    add("corda/trace_vaultservice.gz", "corda", &[8192]);
    for &(path, name, unique) in LIRS {
        let at = |pct: usize| (unique * pct + 50) / 100;
        add(path, name, &[at(10), at(50), at(90)]);
    }
    by_path
        .into_iter()
        .map(|(path, (name, mut sizes))| {
            sizes.sort_unstable();
            sizes.dedup();
            TraceCells { path, name, sizes }
        })
        .collect()
}

/// Cache sizes the generated workloads run at (each at its own size).
pub const GENERATED_SIZES: &[usize] = &[1000, 10_000];
/// The seed of the generated workloads.
pub const GENERATED_SEED: u64 = 17;

/// The generated family: `(name, keys, size)` for every workload of
/// [`ttlkit_strategies::synthetic`] at every size of [`GENERATED_SIZES`].
pub fn generated() -> Vec<(String, Vec<u64>, usize)> {
    use ttlkit_strategies::synthetic::{generate, Workload};
    let mut out = Vec::new();
    for &w in Workload::ALL {
        for &size in GENERATED_SIZES {
            out.push((format!("gen/{}", w.name()), generate(w, size, GENERATED_SEED), size));
        }
    }
    out
}

/// `shared/traces` beside the repository, if it is there.
pub fn traces_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/traces"));
    dir.is_dir().then_some(dir)
}

/// A trace's keys, read whole.
pub fn load(dir: &std::path::Path, path: &str) -> Vec<u64> {
    TraceReader::open(dir.join(path), None)
        .and_then(|r| r.collect::<Result<Vec<u64>, _>>())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The best published W-TinyLFU figure per `(trace path, size)`, with its
/// precision (0.05 for figures read off a chart), from `published.csv`
/// and Caffeine's OLTP grid. Only W-TinyLFU settings count (Caffeine's and
/// the papers'), not TinyLFU in front of a plain LRU.
pub fn published_wtinylfu(dir: &std::path::Path) -> BTreeMap<(String, usize), (f64, f64)> {
    let mut best: BTreeMap<(String, usize), (f64, f64)> = BTreeMap::new();
    let mut keep = |trace: String, size: usize, ratio: f64, precision: f64| {
        let e = best.entry((trace, size)).or_insert((ratio, precision));
        if ratio > e.0 {
            *e = (ratio, precision);
        }
    };
    for &(size, ratio) in CAFFEINE_OLTP {
        keep("arc/OLTP.lis.zst".into(), size, ratio, 0.05);
    }
    let csv = std::fs::read_to_string(dir.join("published.csv")).unwrap_or_else(|e| panic!("published.csv: {e}"));
    for line in csv.lines().skip(1) {
        let fields = split_csv(line);
        let [trace, size, policy, ratio, precision, ..] = fields.as_slice() else { continue };
        if !(policy.contains("W-TinyLFU") || policy.contains("Caffeine")) {
            continue;
        }
        let (Ok(size), Ok(ratio)) = (size.parse::<usize>(), ratio.parse::<f64>()) else { continue };
        let precision = if precision.starts_with("digitized") { 0.05 } else { 0.005 };
        keep(trace.clone(), size, ratio, precision);
    }
    best
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}
