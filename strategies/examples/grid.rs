//! Runs policies over the default policy's grid (see
//! `tests/common/grid.rs`: every trace of `shared/traces` at its grid
//! sizes, and the generated workloads) and prints one CSV row per
//! policy and cell: `trace,size,policy,requests,hits,hit_ratio`.
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example grid -- \
//!     --policy all --threads 2 > strategies/tests/data/grid.csv
//! ```
//!
//! `--policy` takes policy names, `all` (every policy) or `opt`; `--only`
//! keeps the traces whose short names are listed (`gen` for the generated
//! ones); `--threads` runs cells in parallel. Traces are read from
//! `shared/traces` beside the repository.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ttlkit_strategies::opt::{belady_hits, NextUse};
use ttlkit_strategies::sim::{Run, SimPolicy};

#[path = "../tests/common/grid.rs"]
mod grid;

fn main() {
    let mut policies: Vec<SimPolicy> = Vec::new();
    let mut only: Vec<String> = Vec::new();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{flag} needs a value");
            std::process::exit(2);
        };
        match flag.as_str() {
            "--policy" => {
                for name in value.split(',') {
                    if name == "all" {
                        policies.extend(SimPolicy::all());
                        continue;
                    }
                    match SimPolicy::from_name(name) {
                        Ok(p) => policies.push(p),
                        Err(e) => {
                            eprintln!("{e}");
                            std::process::exit(2);
                        }
                    }
                }
            }
            "--only" => only = value.split(',').map(str::to_owned).collect(),
            "--threads" => threads = value.parse().unwrap_or(1),
            _ => {
                eprintln!("unknown flag {flag} (--policy, --only, --threads)");
                std::process::exit(2);
            }
        }
    }
    if policies.is_empty() {
        policies = SimPolicy::all();
    }
    policies.dedup();
    let Some(dir) = grid::traces_dir() else {
        eprintln!("no shared/traces beside the repository");
        std::process::exit(2);
    };
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut traces: Vec<(String, Vec<u64>, Vec<usize>)> = grid::cells()
        .into_iter()
        .filter(|t| wanted(t.name))
        .map(|t| (t.path.to_owned(), grid::load(&dir, t.path), t.sizes))
        .collect();
    if wanted("gen") {
        traces.extend(grid::generated().into_iter().map(|(name, keys, size)| (name, keys, vec![size])));
    }
    // Work items, the longest first, so the threads finish together.
    let mut work: Vec<(usize, usize, SimPolicy)> = Vec::new();
    for (t, (_, _, sizes)) in traces.iter().enumerate() {
        for &size in sizes {
            work.extend(policies.iter().map(|&p| (t, size, p)));
        }
    }
    work.sort_by_key(|&(t, size, _)| std::cmp::Reverse((traces[t].1.len(), size)));
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while let Some(&(t, size, policy)) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (path, keys, _) = &traces[t];
                    let hits = match replay(keys, size, policy) {
                        Ok(h) => h,
                        Err(e) => {
                            eprintln!("{path} at {size}, {policy}: {e}");
                            std::process::exit(1);
                        }
                    };
                    let ratio = 100.0 * hits as f64 / keys.len().max(1) as f64;
                    if let Ok(mut rows) = out.lock() {
                        rows.push((path.clone(), size, policy, keys.len(), hits, ratio));
                    }
                }
            });
        }
    });
    let mut rows = out.into_inner().unwrap_or_default();
    // A stable order: by trace, size, then the policies' order.
    let rank = |p: &SimPolicy| policies.iter().position(|q| q == p).unwrap_or(usize::MAX);
    rows.sort_by(|a, b| (&a.0, a.1, rank(&a.2)).cmp(&(&b.0, b.1, rank(&b.2))));
    let mut text = String::from("trace,size,policy,requests,hits,hit_ratio\n");
    for (path, size, policy, requests, hits, ratio) in rows {
        text.push_str(&format!("{path},{size},{policy},{requests},{hits},{ratio:.4}\n"));
    }
    if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
        eprintln!("cannot write: {e}");
        std::process::exit(1);
    }
}

/// Hits of `policy` at `size` over `keys`.
fn replay(keys: &[u64], size: usize, policy: SimPolicy) -> Result<u64, String> {
    match policy {
        SimPolicy::Policy(kind) => {
            let mut run = Run::new(kind, size);
            for &k in keys {
                run.access(k)?;
            }
            Ok(run.counts().1)
        }
        SimPolicy::Opt => {
            let mut next = NextUse::default();
            for &k in keys {
                next.push(k).map_err(|e| e.to_string())?;
            }
            Ok(belady_hits(&next.finish(), size))
        }
    }
}
