//! `cargo bench --bench compare`: every backend and policy side by side with
//! other caches used directly (moka, quick_cache, TinyUFO, mini-moka, and
//! foyer under each of its policies) and the original `Mutex<HashMap>`
//! design, on the same workloads, in one process.
//!
//! Prints a table (or `--format csv`), writes `target/ttlkit/compare.md`,
//! `compare.svg` (throughput against threads) and `hit-ratio.svg`.
//! `--quick` is the CI mode; `--help` lists the flags. The parts live in
//! `benches/compare/`.

#![allow(missing_docs)] // clap's derive and the bench-only modules

#[path = "../../tests/support/counting_alloc.rs"]
mod alloc;
#[path = "compare/anchors.rs"]
mod anchors;
#[path = "compare/chart.rs"]
mod chart;
#[path = "compare/cli.rs"]
mod cli;
#[path = "compare/expiry.rs"]
mod expiry;
#[path = "compare/goals.rs"]
mod goals;
#[path = "compare/loads.rs"]
mod loads;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/run.rs"]
mod run;
#[path = "compare/summary.rs"]
mod summary;
#[path = "compare/targets.rs"]
mod targets;
#[path = "compare/workloads.rs"]
mod workloads;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use ttlkit::BackendKind;

use anchors::FoyerPolicy;
use cli::{Args, Format, Plan};
use expiry::Deadlines;
use report::{Cell, Memory, Report};
use targets::{with_target, Built, RowKind, Target};
use workloads::{Shape, Workload};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting::IN_MEASURE;

/// Expired entries in the purge figures.
const PURGE_EXPIRED: usize = 10_000;
/// Idle timeout of the lateness figure (real time).
const LATE_TTI: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let shown = shown_command();
    match args.plan().and_then(|plan| compare(&plan, &shown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::from(2)
        }
    }
}

/// The command as a user would type it.
fn shown_command() -> String {
    let flags: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if flags.is_empty() {
        "cargo bench --bench compare".into()
    } else {
        format!("cargo bench --bench compare -- {}", flags.join(" "))
    }
}

fn rows(plan: &Plan) -> Vec<RowKind> {
    let mut rows = Vec::new();
    // A block per policy, foyer's same policy beside ours.
    for &policy in &plan.policies {
        // A backend gets a row per asked-for policy it runs (moka: lru and
        // w-tinylfu only; it refuses the rest rather than run its own).
        let runs = BackendKind::ALL.iter().filter(|b| b.supports(policy));
        rows.extend(runs.map(|&backend| RowKind::Ours { backend, policy }));
        if let Some(foyer) = FoyerPolicy::same_as(policy).map(RowKind::FoyerDirect) {
            if !rows.contains(&foyer) {
                rows.push(foyer);
            }
        }
    }
    rows.extend([
        RowKind::MokaDirect,
        RowKind::MiniMokaDirect,
        RowKind::QuickDirect,
        RowKind::TinyUfoDirect,
        RowKind::Original,
    ]);
    rows.retain(|r| plan.wants_backend(&r.backend()));
    rows
}

/// The 1-minute load average: other processes share the cores.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:32}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The workload generators by name, so a `--workload` filter skips the
/// generation of the others.
type Generator = fn(Shape) -> Result<Workload, String>;
const GENERATORS: &[(&str, Generator)] = &[
    ("zipf-0.9", |s| workloads::zipf(s, 0.9)),
    ("zipf-1.1", |s| workloads::zipf(s, 1.1)),
    ("uniform", |s| Ok(workloads::uniform(s))),
    ("scan+zipf-0.9", workloads::scan_mix),
    ("get-hit-zipf-1.1", workloads::hits),
    ("per-entry-ttl-zipf-0.9", workloads::per_entry),
];

fn workloads(plan: &Plan, bar: &ProgressBar) -> Result<Vec<Workload>, String> {
    let shape = Shape { keys: plan.keys, len: plan.stream_len, capacity: plan.capacity };
    let wanted = |name: &str| plan.workloads.is_empty() || plan.workloads.iter().any(|w| name.starts_with(w.as_str()));
    let mut out = Vec::new();
    for (name, generate) in GENERATORS.iter().filter(|(name, _)| wanted(name)) {
        bar.set_message(format!("generating {name}"));
        out.push(generate(shape)?);
    }
    if let Some(path) = plan.trace.as_ref().filter(|_| wanted("trace")) {
        bar.set_message(format!("reading {}", path.display()));
        out.push(workloads::trace(path)?);
    }
    if out.is_empty() {
        return Err(format!("--workload {:?} matches no workload", plan.workloads.join(",")));
    }
    Ok(out)
}

/// Heap bytes per entry held after `n` inserts into a cache of capacity `n`.
fn memory(kind: &RowKind, n: u64) -> Result<Memory, String> {
    let (bytes, built) = alloc::measure(|| -> Result<Built, String> {
        let built = Built::new(kind, n)?;
        with_target!(&built, t => {
            for k in 0..n {
                t.insert(k, k);
            }
            t.settle();
        });
        Ok(built)
    });
    let built = built?;
    // Counted outside the measure: a count by lookups may allocate.
    let held = with_target!(&built, t => t.held(n));
    drop(built);
    Ok(Memory { kind: kind.clone(), entries: held, bytes_per_entry: bytes as f64 / held.max(1) as f64 })
}

fn compare(plan: &Plan, shown: &str) -> Result<(), String> {
    let began = Instant::now();
    let load_before = load_average();
    let rows = rows(plan);
    if rows.is_empty() {
        return Err(format!("--backend {:?} matches no row", plan.backends.join(",")));
    }
    let bar = progress(0);
    let workloads = workloads(plan, &bar)?;
    // The heap targets' rows that are not among the timed ones.
    let heap_only: Vec<RowKind> =
        goals::heap_rows().into_iter().filter(|k| !rows.contains(k) && plan.wants_backend(&k.backend())).collect();
    let expiry_names = if plan.expiry { BackendKind::ALL.len() } else { 0 };
    let heaps = rows.len() + heap_only.len();
    // The last 1: the loads rows.
    let total =
        rows.len() * workloads.len() * plan.threads.len() + heaps + expiry_names * 5 + usize::from(plan.expiry) + 1;
    bar.set_length(total as u64);
    let clock = quanta::Clock::new();
    let mut report = Report::default();

    for kind in rows.iter().chain(&heap_only) {
        bar.set_message(format!("heap: {} / {}", kind.backend(), kind.policy()));
        match memory(kind, plan.mem_entries) {
            Ok(m) => report.memory.push(m),
            Err(e) => report.skipped.push(format!("heap bytes for {}: {e}", kind.backend())),
        }
        bar.inc(1);
    }

    for w in &workloads {
        measure_workload(plan, w, &rows, &clock, &mut report, &bar)?;
    }

    bar.set_message("loads: async get-or-insert, refresh-ahead");
    match loads::figures(plan) {
        Ok(rows) => report.loads = rows,
        Err(e) => report.skipped.push(format!("load figures: {e}")),
    }
    bar.inc(1);

    if plan.expiry {
        expiry_figures(plan, &mut report, &bar);
    }
    report.derive();
    report.checks = goals::checks(&report, plan);
    bar.finish_and_clear();

    report.header = vec![
        ("command".into(), shown.to_owned()),
        ("machine".into(), format!("{} cores (nproc), {}", cli::cores(), cpu_model())),
        ("mode".into(), if plan.quick { "--quick (CI)".into() } else { "default".to_owned() }),
        ("policies (mutex, sharded)".into(), plan.policy_note.clone()),
        (
            "workloads".into(),
            format!(
                "{} keys, capacity {}, idle timeout 1 h, sweepers on; {} ms per cell after {} warm-up ops; threads {:?}",
                plan.keys,
                plan.capacity,
                plan.cell.as_millis(),
                plan.warmup_ops,
                plan.threads
            ),
        ),
        (
            "trace".into(),
            match &plan.trace {
                Some(p) => format!("{}, looped (ARC trace: Megiddo & Modha, FAST'03; cite when shown)", p.display()),
                None => "none (--no-trace, or no --trace PATH and ../shared/traces/arc/OLTP.lis.zst not found)".into(),
            },
        ),
        ("timer overhead".into(), format!("{} ns per timed op, included in latencies", run::timer_overhead_ns(&clock))),
        ("run took".into(), format!("{:.0} s", began.elapsed().as_secs_f64())),
        (
            "load average (1 min)".into(),
            format!("{load_before} at the start, {} at the end (other processes share the cores)", load_average()),
        ),
    ];

    match plan.format {
        Format::Csv => print!("{}", report::csv(&report.cells)),
        Format::Table => print!("{}", text(&report)),
    }
    write_files(plan, &report)
}

/// Every row on one workload. All rows are built and warmed first; then,
/// per thread count, each row runs half the cell time in row order and the
/// other half in reverse order (ABBA), so a drift in the machine's
/// background load biases neither the rows nor their ratios to the anchors.
fn measure_workload(
    plan: &Plan,
    w: &Workload,
    rows: &[RowKind],
    clock: &quanta::Clock,
    report: &mut Report,
    bar: &ProgressBar,
) -> Result<(), String> {
    let mut live = Vec::with_capacity(rows.len());
    for kind in rows {
        bar.set_message(format!("{}: warming {} / {}", w.name, kind.backend(), kind.policy()));
        match Built::with_expiry(kind, plan.capacity, w.per_entry) {
            Ok(built) => {
                let cursor = with_target!(&built, t => run::warm(t, w, plan.warmup_ops));
                live.push((kind, built, cursor));
            }
            Err(e) => {
                report.skipped.push(format!("{} / {} on {}: {e}", kind.backend(), kind.policy(), w.name));
                bar.inc(plan.threads.len() as u64);
            }
        }
    }
    let half = plan.cell / 2;
    for &threads in &plan.threads {
        bar.set_message(format!("{}: {threads} thread(s)", w.name));
        let mut runs: Vec<Vec<run::Run>> = live.iter().map(|_| Vec::with_capacity(2)).collect();
        let order: Vec<usize> = (0..live.len()).chain((0..live.len()).rev()).collect();
        for i in order {
            let (_, built, cursor) = &live[i];
            let r = with_target!(built, t => run::timed(t, w, threads, half, clock, cursor))?;
            runs[i].push(r);
            if runs[i].len() == 2 {
                bar.inc(1);
            }
        }
        for ((kind, _, _), halves) in live.iter().zip(runs) {
            if let [first, second] = &halves[..] {
                let mut both = first.clone();
                both.add(second)?;
                report.cells.push(Cell {
                    kind: (*kind).clone(),
                    workload: w.name.clone(),
                    threads,
                    m: both.measured(),
                    halves: [first.measured().mops(), second.measured().mops()],
                    bytes_per_entry: None,
                    vs: Vec::new(),
                });
            }
        }
    }
    Ok(())
}

fn expiry_figures(plan: &Plan, report: &mut Report, bar: &ProgressBar) {
    // Lateness first: a purge that hangs leaves a spinning thread behind,
    // which would skew later real-time figures.
    for &name in BackendKind::ALL {
        bar.set_message(format!("sweeper lateness: {name}"));
        match expiry::lateness(name, PURGE_EXPIRED, LATE_TTI) {
            Ok(l) => report.lateness.push(l),
            Err(e) => report.skipped.push(format!("lateness figure: {e}")),
        }
        bar.inc(1);
    }
    let sizes = [PURGE_EXPIRED, plan.mem_entries as usize];
    bar.set_message("purge: original design");
    for total in sizes {
        match expiry::purge_original(PURGE_EXPIRED, total, plan.purge_reps) {
            Ok(p) => report.purges.push(p),
            Err(e) => report.skipped.push(format!("purge figure: {e}")),
        }
    }
    bar.inc(1);
    let kinds = BackendKind::ALL.iter().flat_map(|&n| [(n, Deadlines::Idle), (n, Deadlines::PerEntry)]);
    for (name, deadlines) in kinds {
        for total in sizes {
            bar.set_message(format!("purge {PURGE_EXPIRED} of {total}: {}", deadlines.label(name)));
            let result = expiry::purge(name, deadlines, PURGE_EXPIRED, total, plan.purge_reps, plan.purge_limit);
            bar.inc(1);
            match result {
                Ok(p) => report.purges.push(p),
                Err(expiry::PurgeError::Other(e)) => report.skipped.push(format!("purge figure: {e}")),
                Err(expiry::PurgeError::Hung(e)) => {
                    report.purges.push(expiry::Purge {
                        backend: deadlines.label(name),
                        expired: PURGE_EXPIRED,
                        total,
                        time: None,
                        longest_hold: None,
                    });
                    report.skipped.push(format!(
                        "{name}: purging {PURGE_EXPIRED} expired of {total}: {e}; abandoned (its thread keeps a core \
                         busy until the process exits), so the rest of {name}'s purge figures were skipped"
                    ));
                    bar.inc((sizes.len() - 1) as u64);
                    break;
                }
            }
        }
    }
}

fn text(report: &Report) -> String {
    let mut s = String::new();
    for (k, v) in &report.header {
        s += &format!("{k}: {v}\n");
    }
    s += "\n";
    s += &report::main_table(&report.cells, false);
    s += &format!("\n{}\n", report::HOW_TO_READ);
    s += "\nThe best anchor on each workload:\n";
    s += &summary::best_anchor_table(&report.cells, false);
    s += &format!("\nScaling with threads. {}\n", summary::scaling_note(&report.cells));
    s += &summary::scaling_table(&report.cells, false);
    s += "\nHeap per entry (a counting allocator):\n";
    s += &report::memory_table(&report.memory, false);
    if !report.loads.is_empty() {
        s += "\nLoads (async: tokio, 2 workers, Zipf 0.9 with misses; refresh-ahead: 1 thread, 1,000 hot keys):\n";
        s += &loads::table(&report.loads, false);
    }
    if !report.purges.is_empty() {
        s += &format!(
            "\nPurge of {PURGE_EXPIRED} expired entries (MockClock; median wall time; lock hold: see compare.md):\n"
        );
        s += &report::purge_table(&report.purges, false);
    }
    if !report.lateness.is_empty() {
        s += "\nHow late the sweeper reclaims an entry after its deadline (real clock, listener stamps):\n";
        s += &report::lateness_table(&report.lateness, false);
    }
    if !report.checks.is_empty() {
        s += "\nTargets:\n";
        s += &report::checks_table(&report.checks, false);
    }
    for skipped in &report.skipped {
        s += &format!("skipped: {skipped}\n");
    }
    s
}

fn markdown(report: &Report) -> String {
    let mut s = String::from("# ttlkit compare\n\n");
    for (k, v) in &report.header {
        s += &format!("- **{k}**: {v}\n");
    }
    s += "\n## Throughput, latency, hit ratio\n\n";
    s += &report::main_table(&report.cells, true);
    s += &format!("\n{}\n", report::HOW_TO_READ);
    s += "\n## The best anchor on each workload\n\n";
    s += &summary::best_anchor_table(&report.cells, true);
    s += "\n## Scaling with threads\n\n";
    s += &format!("{}\n\n", summary::scaling_note(&report.cells));
    s += &summary::scaling_table(&report.cells, true);
    s += "\n## Heap per entry\n\n";
    s += &report::memory_table(&report.memory, true);
    s += "\n## Loads\n\n";
    s += "Async get-or-insert under tokio (2 workers, Zipf 0.9 with misses) beside \
          `moka::future::Cache::get_with`; refresh-ahead `get_or_insert_with` hits (1 thread, 1,000 hot keys, \
          `refresh_after(1 ms)`) beside the same cache without it and moka's sync `get_with`. See \
          `tools/benches/compare/loads.rs`.\n\n";
    s += &loads::table(&report.loads, true);
    s += "\n## Expiry\n\n";
    s += &format!("{}\n\n", EXPIRY_METHOD);
    s += &report::purge_table(&report.purges, true);
    s += "\n";
    s += &report::lateness_table(&report.lateness, true);
    s += "\n## Targets\n\n";
    s += &report::checks_table(&report.checks, true);
    if !report.skipped.is_empty() {
        s += "\n## Skipped\n\n";
        for skipped in &report.skipped {
            s += &format!("- {skipped}\n");
        }
    }
    s
}

const EXPIRY_METHOD: &str = "\
Purge: a MockClock makes exactly 10,000 entries expire (inserted 61 s ago
with a 60 s idle timeout) among 10,000 or among 1,000,000 (250,000 with
--quick; the rest inserted 31 s ago); then one `purge_expired()` is timed (median of the runs). Its cost
must follow the expired count, not the map size. Longest lock hold: an upper
bound through the public API only. Backends purge in batches (lock, remove up
to 256, unlock, then call the removal listener for each); a listener stamps
each call with the TSC, and every lock hold lies inside one gap of `start,
call 1, ..., call n, end`, so the longest gap bounds it (listener and
bookkeeping cost included). For the original design the scan is one lock
hold, timed directly (the longest of the runs). A purge that does not return
within 10 s (2 s with --quick) is abandoned and shown as DID NOT FINISH.
Lateness: 10,000 entries inserted over two sweep intervals with a 100 ms idle
timeout and the default sweeper (every 50 ms); a listener stamps each expiry;
lateness = stamp - (insert time + 100 ms). Negative means early, which the
refresh granularity allows (up to idle/64).";

fn write_files(plan: &Plan, report: &Report) -> Result<(), String> {
    let dir = &plan.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let md = dir.join("compare.md");
    std::fs::write(&md, markdown(report)).map_err(|e| format!("cannot write {}: {e}", md.display()))?;
    let mut wrote = vec![md.display().to_string()];
    let mut failed = Vec::new();
    let charts: [(&str, chart::Draw); 2] =
        [("compare.svg", chart::write_scaling), ("hit-ratio.svg", chart::write_hit_ratio)];
    for (name, draw) in charts {
        let svg = dir.join(name);
        match draw(&report.cells, &svg) {
            Ok(()) => wrote.push(svg.display().to_string()),
            Err(e) => {
                let _ = std::fs::remove_file(&svg);
                failed.push(format!("no {name}: {e}"));
            }
        }
    }
    eprintln!("wrote {}", wrote.join(", "));
    // The charts bring their own font, so failing to draw one is a bug:
    // fail the run (CI's quick run included) rather than skip it.
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}
