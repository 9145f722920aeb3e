//! Rendering: the stdout table, CSV, the markdown file.

use std::fmt::Write as _;

use crate::expiry::{Lateness, Purge};
use crate::run::Measured;
use crate::targets::RowKind;

/// One measured cell: a row kind on a workload at a thread count.
#[derive(Debug, Clone)]
pub struct Cell {
    pub kind: RowKind,
    pub workload: String,
    pub threads: usize,
    /// Both halves together.
    pub m: Measured,
    /// Mops/s of each half: all rows in order, then in reverse.
    pub halves: [f64; 2],
    pub bytes_per_entry: Option<f64>,
    /// This row's Mops/s over each anchor's in [`VS`], same workload and threads.
    pub vs: Vec<Option<f64>>,
}

impl Cell {
    /// How far each half lies from their mean, in percent of it.
    pub fn spread_pct(&self) -> f64 {
        let [a, b] = self.halves;
        if a + b > 0.0 {
            (a - b).abs() / (a + b) * 100.0
        } else {
            0.0
        }
    }
}

/// A ratio column: this row's Mops/s over an anchor's.
pub struct VsColumn {
    pub header: &'static str,
    pub csv: &'static str,
    /// The row a cell is divided by (foyer: the same policy as the cell's, if foyer has it).
    pub anchor: fn(&RowKind) -> Option<RowKind>,
}

/// The anchors with a ratio column.
pub const VS: &[VsColumn] = &[
    VsColumn { header: "vs quick_cache", csv: "vs_quick_cache", anchor: |_| Some(RowKind::QuickDirect) },
    VsColumn { header: "vs moka", csv: "vs_moka", anchor: |_| Some(RowKind::MokaDirect) },
    VsColumn { header: "vs TinyUFO", csv: "vs_tinyufo", anchor: |_| Some(RowKind::TinyUfoDirect) },
    VsColumn { header: "vs mini-moka", csv: "vs_mini_moka", anchor: |_| Some(RowKind::MiniMokaDirect) },
    VsColumn { header: "vs foyer", csv: "vs_foyer", anchor: RowKind::foyer_twin },
];

/// Heap held per entry by one row kind.
#[derive(Debug, Clone)]
pub struct Memory {
    pub kind: RowKind,
    pub entries: usize,
    pub bytes_per_entry: f64,
}

/// A performance target, checked against this run.
#[derive(Debug, Clone)]
pub struct Check {
    pub target: String,
    pub figure: String,
    pub met: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Report {
    /// `key: value` lines: machine, command, settings.
    pub header: Vec<(String, String)>,
    pub cells: Vec<Cell>,
    pub memory: Vec<Memory>,
    pub purges: Vec<Purge>,
    pub lateness: Vec<Lateness>,
    /// Async get-or-insert and refresh-ahead (`loads.rs`).
    pub loads: Vec<crate::loads::LoadRow>,
    pub checks: Vec<Check>,
    /// Things that could not be measured, with why.
    pub skipped: Vec<String>,
}

impl Report {
    /// Fills in bytes per entry and the ratios to the anchors (used
    /// directly) on the same workload and thread count.
    pub fn derive(&mut self) {
        let mops_of = |cells: &[Cell], kind: &RowKind, workload: &str, threads: usize| {
            cells.iter().find(|c| &c.kind == kind && c.workload == workload && c.threads == threads).map(|c| c.m.mops())
        };
        let snapshot = self.cells.clone();
        for c in &mut self.cells {
            let mops = c.m.mops();
            c.vs = VS
                .iter()
                .map(|column| {
                    let anchor = (column.anchor)(&c.kind)?;
                    mops_of(&snapshot, &anchor, &c.workload, c.threads).map(|a| mops / a)
                })
                .collect();
            c.bytes_per_entry = self.memory.iter().find(|m| m.kind == c.kind).map(|m| m.bytes_per_entry);
        }
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// A table as aligned text (`md = false`) or GitHub markdown. Columns whose
/// header is in `left` are left-aligned, the rest right-aligned.
pub fn render(headers: &[&str], rows: &[Vec<String>], left: usize, md: bool) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut parts = Vec::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            parts.push(if i < left { format!("{cell:<w$}") } else { format!("{cell:>w$}") });
        }
        if md {
            let _ = writeln!(out, "| {} |", parts.join(" | "));
        } else {
            let _ = writeln!(out, "{}", parts.join("  ").trim_end());
        }
    };
    line(&mut out, &mut headers.iter().copied());
    if md {
        let seps: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i < left { "-".repeat(*w) } else { format!("{}:", "-".repeat(w - 1)) })
            .collect();
        let _ = writeln!(out, "| {} |", seps.join(" | "));
    } else {
        let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let _ = writeln!(out, "{}", "-".repeat(total));
    }
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

pub fn main_table(cells: &[Cell], md: bool) -> String {
    let mut headers = vec![
        "backend",
        "policy",
        "expiry",
        "workload",
        "thr",
        "Mops/s",
        "± halves",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
        "hit %",
        "B/entry",
    ];
    headers.extend(VS.iter().map(|column| column.header));
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let mut row = vec![
                c.kind.backend(),
                c.kind.policy(),
                c.kind.expiry().into(),
                c.workload.clone(),
                c.threads.to_string(),
                format!("{:.2}", c.m.mops()),
                format!("{:.0}%", c.spread_pct()),
                c.m.p50_ns.to_string(),
                c.m.p99_ns.to_string(),
                c.m.p999_ns.to_string(),
                format!("{:.1}", c.m.hit_ratio() * 100.0),
                opt(c.bytes_per_entry, 0),
            ];
            row.extend(c.vs.iter().map(|v| opt(*v, 2)));
            row
        })
        .collect();
    render(&headers, &rows, 4, md)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(String::new, |v| format!("{v:.digits$}"))
}

pub fn csv(cells: &[Cell]) -> String {
    let mut out =
        "backend,policy,workload,threads,mops,mops_half1,mops_half2,p50_ns,p99_ns,hit_ratio,bytes_per_entry".to_owned();
    for column in VS {
        out += &format!(",{}", column.csv);
    }
    out += "\n";
    for c in cells {
        let _ = write!(
            out,
            "{},{},{},{},{:.4},{:.4},{:.4},{},{},{:.4},{}",
            csv_field(&c.kind.backend()),
            csv_field(&c.kind.policy()),
            csv_field(&c.workload),
            c.threads,
            c.m.mops(),
            c.halves[0],
            c.halves[1],
            c.m.p50_ns,
            c.m.p99_ns,
            c.m.hit_ratio(),
            csv_opt(c.bytes_per_entry, 1),
        );
        for v in &c.vs {
            let _ = write!(out, ",{}", csv_opt(*v, 4));
        }
        out += "\n";
    }
    out
}

fn ms(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

pub fn memory_table(mem: &[Memory], md: bool) -> String {
    let rows: Vec<Vec<String>> = mem
        .iter()
        .map(|m| vec![m.kind.backend(), m.kind.policy(), m.entries.to_string(), format!("{:.1}", m.bytes_per_entry)])
        .collect();
    render(&["backend", "policy", "entries held", "heap bytes/entry"], &rows, 2, md)
}

pub fn purge_table(purges: &[Purge], md: bool) -> String {
    let rows: Vec<Vec<String>> = purges
        .iter()
        .map(|p| {
            let base = purges.iter().find(|b| b.backend == p.backend && b.expired == p.expired && b.total == p.expired);
            let ratio = match (p.time, base.and_then(|b| b.time)) {
                (Some(t), Some(b)) => Some(t.as_secs_f64() / b.as_secs_f64()),
                _ => None,
            };
            vec![
                p.backend.clone(),
                p.expired.to_string(),
                p.total.to_string(),
                p.time.map_or_else(|| "DID NOT FINISH".into(), ms),
                opt(p.time.map(|t| t.as_secs_f64() * 1e9 / p.expired as f64), 1),
                opt(ratio, 2),
                p.longest_hold.map_or_else(|| "-".into(), ms),
            ]
        })
        .collect();
    let headers =
        ["backend", "expired", "of total", "purge ms", "ns/expired", "vs 10k-of-10k", "longest lock hold ms (bound)"];
    render(&headers, &rows, 1, md)
}

pub fn lateness_table(late: &[Lateness], md: bool) -> String {
    let rows: Vec<Vec<String>> = late
        .iter()
        .map(|l| {
            vec![
                l.backend.clone(),
                format!("{} ms", l.tti.as_millis()),
                format!("{} ms", l.interval.as_millis()),
                format!("{}/{}", l.reclaimed, l.entries),
                format!("{:.2}", l.min_ms),
                format!("{:.2}", l.p50_ms),
                format!("{:.2}", l.p99_ms),
                format!("{:.2}", l.max_ms),
            ]
        })
        .collect();
    let headers = [
        "backend",
        "idle timeout",
        "sweep every",
        "reclaimed",
        "late min ms",
        "late p50 ms",
        "late p99 ms",
        "late max ms",
    ];
    render(&headers, &rows, 1, md)
}

pub fn checks_table(checks: &[Check], md: bool) -> String {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let met = match c.met {
                Some(true) => "MET",
                Some(false) => "NOT MET",
                None => "n/a",
            };
            vec![c.target.clone(), c.figure.clone(), met.into()]
        })
        .collect();
    render(&["target", "this run", "verdict"], &rows, 2, md)
}

/// How to read the table; printed under it and written into compare.md.
pub const HOW_TO_READ: &str = "\
How to read it: each row is one cache on one workload at one thread count,
driving get_or_insert (get-hit-zipf-1.1: plain get on resident keys) for a
fixed time after an untimed warm-up, in two halves: all rows in order, then
in reverse, so a drift in background load biases no row against another.
Mops/s is total operations over wall time across all threads; ± halves is
how far each half's Mops/s lies from their mean (a target counts as met
only if both halves meet it). Latencies come from every 32nd operation,
timed with the TSC, and include the timer's own cost (shown in the header).
hit % is over the timed window (1 - init calls / operations). B/entry is
heap bytes requested per entry held after N inserts into a cache of
capacity N (N = 1,000,000; 250,000 with --quick), by a counting global
allocator (malloc's own per-block overhead excluded).
Rows come in a block per policy: our backends, then foyer's same policy.
The vs columns divide this row's Mops/s by an anchor's (used directly, not
through our trait) on the same workload and threads: above 1 is faster;
vs foyer is against foyer under the same policy. quick_cache, TinyUFO and
foyer track no time at all (expiry NONE): the ceiling for a cache that does
no expiry work. moka-direct and mini-moka-direct have the same sliding
expiry (time_to_idle) as ours; mini-moka has no per-entry expiry, so it
sits out that workload like the NONE rows. moka and quick_cache load
through their own get_with / get_or_insert_with (one load per key at a
time); TinyUFO, foyer and mini-moka have no such synchronous call, so a
miss is get, then insert. original is the naive design a cache like this
replaces: Mutex<HashMap>, a clock read and refresh on every hit, a ticker
scanning the whole map under the lock every second, and no bound (its hit %
is not comparable: it never evicts).";
