//! The candidate default policy, `w-tinylfu-auto`, on the default-policy
//! grid (`tests/common/grid.rs`): every trace of `shared/traces` at the
//! sizes of `published.csv` and the others the grid names, and the
//! generated workloads of `ttlkit_strategies::synthetic`.
//!
//! Every policy's hit ratio on every cell is recorded in
//! `tests/data/grid.csv`, from one run of the `grid` example. This test
//! replays only `w-tinylfu-auto` (a minute or so in release on two cores)
//! and checks:
//!
//! * that it reproduces the recorded hits exactly, cell by cell (the
//!   record is current, so the figures below are this code's);
//! * the bar, against the best of every other policy recorded on the
//!   cell: within 0.5 points on a trace cell (and at least the best
//!   published W-TinyLFU figure, within its precision), within 1 point on
//!   a generated one. Cells that miss it are printed, with their shortfall
//!   and the policy that wins there, and counted; the count may not grow
//!   past [`MISSES_AT_MOST`].
//!
//! After a change to the policy (or to another policy), regenerate the
//! record and commit it with the change:
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example grid -- \
//!     --policy all --threads 2 > strategies/tests/data/grid.csv
//! ```
//!
//! Run: `cargo test --release -p ttlkit-strategies --test default_policy -- --ignored`.
//! Without `shared/traces` beside the repository it prints `SKIPPED`.

use std::collections::BTreeMap;

use ttlkit_strategies::sim::Run;
use ttlkit_strategies::PolicyKind;

mod common;

use common::grid;

/// The policy under test.
const CANDIDATE: PolicyKind = PolicyKind::WTinyLfuAuto;

/// Cells (trace and generated) allowed below the bar: how many the
/// recorded run misses. Lower it when the policy improves.
const MISSES_AT_MOST: usize = 28;

/// Points below the best policy allowed on a trace cell, and on a
/// generated one.
const BAR_TRACE: f64 = 0.5;
const BAR_GENERATED: f64 = 1.0;

/// `(trace, size) -> (policy -> (requests, hits))` from `tests/data/grid.csv`.
type Record = BTreeMap<(String, usize), BTreeMap<String, (u64, u64)>>;

fn record() -> Record {
    let text = include_str!("data/grid.csv");
    let mut out = Record::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [trace, size, policy, requests, hits, _] = f.as_slice() else { panic!("grid.csv: bad line {line:?}") };
        let (Ok(size), Ok(requests), Ok(hits)) = (size.parse(), requests.parse(), hits.parse()) else {
            panic!("grid.csv: bad numbers in {line:?}")
        };
        out.entry((trace.to_string(), size)).or_default().insert(policy.to_string(), (requests, hits));
    }
    out
}

/// The candidate's hits on `keys` at each of `sizes`, two sizes at a time.
fn replay(keys: &[u64], sizes: &[usize]) -> Vec<u64> {
    let one = |size: usize| {
        let mut run = Run::new(CANDIDATE, size);
        for &k in keys {
            if let Err(e) = run.access(k) {
                panic!("{CANDIDATE} at {size}: {e}");
            }
        }
        run.counts().1
    };
    sizes
        .chunks(2)
        .flat_map(|pair| {
            std::thread::scope(|s| {
                let runs: Vec<_> = pair.iter().map(|&size| s.spawn(move || one(size))).collect();
                runs.into_iter().map(|r| r.join().unwrap_or_else(|_| panic!("a replay panicked"))).collect::<Vec<_>>()
            })
        })
        .collect()
}

/// The best hit ratio of any other policy on a recorded cell, and which.
fn best_other(cell: &BTreeMap<String, (u64, u64)>) -> (f64, String) {
    cell.iter()
        .filter(|(p, _)| p.as_str() != CANDIDATE.name() && p.as_str() != "opt")
        .map(|(p, &(r, h))| (100.0 * h as f64 / r.max(1) as f64, p.clone()))
        .fold((f64::MIN, String::new()), |a, b| if b.0 > a.0 { b } else { a })
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn candidate_default_on_the_grid() {
    let Some(dir) = grid::traces_dir() else {
        eprintln!("SKIPPED: no shared/traces beside the repository");
        return;
    };
    let record = record();
    let published = grid::published_wtinylfu(&dir);
    let mut stale = Vec::new();
    let mut misses = Vec::new();
    let mut cells = 0;
    let mut check = |trace: &str, size: usize, hits: u64, requests: u64, bar: f64| {
        cells += 1;
        let Some(cell) = record.get(&(trace.to_owned(), size)) else {
            stale.push(format!("{trace} @ {size}: not in grid.csv"));
            return;
        };
        if cell.get(CANDIDATE.name()) != Some(&(requests, hits)) {
            stale.push(format!("{trace} @ {size}: {hits} hits now, grid.csv has {:?}", cell.get(CANDIDATE.name())));
        }
        let ours = 100.0 * hits as f64 / requests.max(1) as f64;
        let (best, who) = best_other(cell);
        if ours + bar < best - 1e-9 {
            misses.push(format!("{trace} @ {size}: {ours:.2} vs {who} {best:.2} ({:+.2})", ours - best));
        } else if let Some(&(figure, precision)) = published.get(&(trace.to_owned(), size)) {
            if ours + precision < figure {
                misses.push(format!("{trace} @ {size}: {ours:.2} below published W-TinyLFU {figure:.2}"));
            }
        }
    };
    for t in grid::cells() {
        let keys = grid::load(&dir, t.path);
        for (&size, hits) in t.sizes.iter().zip(replay(&keys, &t.sizes)) {
            check(t.path, size, hits, keys.len() as u64, BAR_TRACE);
        }
    }
    for (name, keys, size) in grid::generated() {
        let hits = replay(&keys, &[size])[0];
        check(&name, size, hits, keys.len() as u64, BAR_GENERATED);
    }
    eprintln!("{CANDIDATE}: {} of {cells} cells below the bar:\n{}", misses.len(), misses.join("\n"));
    assert!(
        stale.is_empty(),
        "grid.csv is not this code's (regenerate it, see the module docs):\n{}",
        stale.join("\n")
    );
    assert!(misses.len() <= MISSES_AT_MOST, "{} cells below the bar, at most {MISSES_AT_MOST} allowed", misses.len());
}
