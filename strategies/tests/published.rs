//! Trust before claims: the simulator must reproduce published hit ratios.
//!
//! Traces and figures come from `shared/traces` (see its README and
//! `published.csv`), read in place from beside the repository. LRU and OPT
//! are deterministic, so they must match within 0.02 points (OPT figures
//! read off a plot within 0.05); ARC varies by about 0.2 between
//! implementations, so within 0.3.
//!
//! Sources: Megiddo & Modha, "Outperforming LRU with an Adaptive Replacement
//! Cache Algorithm", IEEE Computer 37(4), 2004 (the ARC traces may be used on
//! condition that the ARC paper is cited); Einziger, Friedman & Manes,
//! "TinyLFU: A Highly Efficient Cache Admission Policy", ACM ToS 13(4), 2017;
//! Caffeine's simulator and issue #106 (scarab); the LIRS traces of Jiang &
//! Zhang via the Caffeine simulator.
//!
//! The small traces run by default. The long ones are `#[ignore]`d; run them
//! in release mode: `cargo test --release -p ttlkit-strategies -- --ignored`.

use std::path::PathBuf;

use ttlkit_strategies::sim::{simulate, SimPolicy, SimResult};
use ttlkit_strategies::trace::TraceReader;

fn traces() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/traces"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: no trace folder at {} (shared/traces beside the repository)", dir.display());
        None
    }
}

/// Runs `policies` × `sizes` over `trace`; `None` when traces are missing.
fn run(trace: &str, policies: &[&str], sizes: &[usize]) -> Option<Vec<SimResult>> {
    let path = traces()?.join(trace);
    let reader = match TraceReader::open(&path, None) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let runs: Vec<(SimPolicy, usize)> = policies
        .iter()
        .flat_map(|p| {
            let p = SimPolicy::from_name(p).unwrap_or_else(|e| panic!("{e}"));
            sizes.iter().map(move |&s| (p, s))
        })
        .collect();
    Some(simulate(reader, &runs, |_| {}).unwrap_or_else(|e| panic!("{trace}: {e}")))
}

/// Checks `(policy, size, published %, tolerance)` rows against `results`.
fn check(trace: &str, results: &[SimResult], expected: &[(&str, usize, f64, f64)]) {
    let mut failures = Vec::new();
    for &(policy, size, published, tolerance) in expected {
        let Some(r) = results.iter().find(|r| r.policy.name() == policy && r.size == size) else {
            panic!("{trace}: no result for {policy} at {size}");
        };
        let got = r.hit_ratio();
        let line = format!("{trace} {policy:>9} @ {size:>6}: {got:6.2}% (published {published:.2} ± {tolerance})");
        eprintln!("{line}");
        if (got - published).abs() > tolerance + 1e-9 {
            failures.push(line);
        }
    }
    assert!(failures.is_empty(), "off the published figures:\n{}", failures.join("\n"));
}

#[test]
fn glimpse_lru_opt_arc() {
    let Some(r) = run("lirs/gli.trace.gz", &["lru", "opt", "arc"], &[1000, 2000]) else { return };
    assert_eq!(r[0].requests, 6015);
    check(
        "glimpse",
        &r,
        &[
            // LRU at 1000 is ~11.2 (a bar chart read ~0.03 high: 11.22).
            ("lru", 1000, 11.20, 0.02),
            ("lru", 2000, 57.42, 0.02),
            ("opt", 1000, 53.15, 0.02),
            ("opt", 2000, 57.96, 0.02),
            ("arc", 1000, 21.29, 0.3),
            ("arc", 2000, 57.42, 0.3),
        ],
    );
}

/// cpp against the cache2k benchmark's bar chart: LRU, CLOCK and OPT at
/// every size. Its bars read about 0.03 points high (as its LRU bars show
/// against exact LRU figures elsewhere), so each figure is taken 0.03 lower,
/// within ±0.03.
///
/// `published.csv` also lists OPT on cpp from assertions in Caffeine's tests
/// (26.4 at 20 ... 82.51 at 100), up to 1.2 points lower than both this
/// simulator and cache2k's (27.63 vs 27.65 at 20). Every other OPT figure —
/// OLTP, P12, glimpse, scarab — matches here to 0.01, so those assertions
/// are taken to measure a different trace copy or OPT variant and are not
/// checked.
#[test]
fn cpp_lru_clock_opt_match_cache2k() {
    let sizes = [20, 35, 50, 80, 100, 300, 500];
    let Some(r) = run("lirs/cpp.trace.gz", &["lru", "clock", "opt"], &sizes) else { return };
    let bars: [(&str, [f64; 7]); 3] = [
        ("lru", [0.65, 0.88, 9.29, 44.27, 69.73, 83.52, 84.81]),
        ("clock", [0.65, 1.04, 10.47, 52.64, 71.51, 83.94, 85.62]),
        ("opt", [27.65, 47.59, 63.48, 79.37, 82.62, 86.5, 86.5]),
    ];
    let expected: Vec<(&str, usize, f64, f64)> =
        bars.iter().flat_map(|(p, v)| sizes.iter().zip(v).map(move |(&s, &x)| (*p, s, x - 0.03, 0.03))).collect();
    check("cpp", &r, &expected);
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn oltp_lru_opt_arc() {
    let Some(r) = run("arc/OLTP.lis.zst", &["lru", "opt", "arc"], &[1000, 2000, 5000]) else { return };
    assert_eq!(r[0].requests, 914_145);
    check(
        "OLTP",
        &r,
        &[
            ("lru", 1000, 32.83, 0.02),
            ("lru", 2000, 42.47, 0.02),
            ("lru", 5000, 53.65, 0.02),
            ("opt", 1000, 53.61, 0.02),
            ("opt", 2000, 60.40, 0.02),
            ("opt", 5000, 68.27, 0.02),
            ("arc", 1000, 38.93, 0.3),
            ("arc", 2000, 46.08, 0.3),
            ("arc", 5000, 55.25, 0.3),
        ],
    );
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn oltp_lru_at_10000() {
    let Some(r) = run("arc/OLTP.lis.zst", &["lru"], &[10_000]) else { return };
    check("OLTP", &r, &[("lru", 10_000, 60.70, 0.02)]);
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn p12_lru_opt_arc() {
    let Some(r) = run("arc/P12.lis.zst", &["lru", "opt", "arc"], &[32_768]) else { return };
    assert_eq!(r[0].requests, 13_208_930);
    check(
        "P12",
        &r,
        &[
            ("lru", 32_768, 8.93, 0.02),
            // Read off a plot (about ±0.05).
            ("opt", 32_768, 30.74, 0.05),
            ("arc", 32_768, 15.94, 0.3),
        ],
    );
}

#[test]
#[ignore = "long: run with --release -- --ignored"]
fn scarab_lru_opt_arc() {
    let Some(r) = run("scarab/scarab-recs.trace.xz", &["lru", "opt", "arc"], &[100_000]) else { return };
    assert_eq!(r[0].requests, 1_245_184);
    check("scarab", &r, &[("lru", 100_000, 75.91, 0.02), ("opt", 100_000, 79.25, 0.02), ("arc", 100_000, 76.09, 0.3)]);
}

/// The hit-ratio goal for our best policy, `w-tinylfu-v2` (one setting for
/// every trace): OLTP at 1,000 / 2,000 >= 41.9 / 47.6, P12 at 32,768 >= 18.5,
/// glimpse at 1,000 >= 51.3, scarab-recs at 100,000 not below LRU (75.91).
/// All five are asserted; each figure is printed next to the default
/// `w-tinylfu`, the best published W-TinyLFU figure and OPT.
#[test]
#[ignore = "long: run with --release -- --ignored"]
fn w_tinylfu_v2_meets_the_goal() {
    let cases: [(&str, usize, f64, f64); 5] = [
        // (trace, size, best published W-TinyLFU, goal)
        ("arc/OLTP.lis.zst", 1000, 41.38, 41.9),
        ("arc/OLTP.lis.zst", 2000, 47.14, 47.6),
        ("arc/P12.lis.zst", 32_768, 17.96, 18.5),
        ("lirs/gli.trace.gz", 1000, 50.80, 51.3),
        ("scarab/scarab-recs.trace.xz", 100_000, 71.57, 75.91),
    ];
    let mut failures = Vec::new();
    for (trace, size, published, goal) in cases {
        let Some(r) = run(trace, &["w-tinylfu-v2", "w-tinylfu", "opt"], &[size]) else { return };
        let (ours, old, opt) = (r[0].hit_ratio(), r[1].hit_ratio(), r[2].hit_ratio());
        eprintln!(
            "{trace} @ {size}: w-tinylfu-v2 {ours:.2}% (w-tinylfu {old:.2}, published W-TinyLFU {published}, \
             goal {goal}, OPT {opt:.2})"
        );
        if ours + 1e-9 < goal {
            failures.push(format!("{trace} @ {size}: {ours:.2} below the goal {goal}"));
        }
        // The default keeps at least the published line (glimpse's is read
        // off a plot, within 0.1).
        if old + 0.1 < published {
            failures.push(format!("{trace} @ {size}: w-tinylfu {old:.2} below published {published}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
