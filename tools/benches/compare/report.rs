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
    pub m: Measured,
    pub bytes_per_entry: Option<f64>,
    pub vs_quick: Option<f64>,
    pub vs_moka: Option<f64>,
}

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
    /// Fills in bytes per entry and the ratios to quick_cache and moka
    /// (used directly) on the same workload and thread count.
    pub fn derive(&mut self) {
        let mops_of = |cells: &[Cell], kind: &RowKind, workload: &str, threads: usize| {
            cells.iter().find(|c| &c.kind == kind && c.workload == workload && c.threads == threads).map(|c| c.m.mops())
        };
        let snapshot = self.cells.clone();
        for c in &mut self.cells {
            let mops = c.m.mops();
            c.vs_quick = mops_of(&snapshot, &RowKind::QuickDirect, &c.workload, c.threads).map(|q| mops / q);
            c.vs_moka = mops_of(&snapshot, &RowKind::MokaDirect, &c.workload, c.threads).map(|q| mops / q);
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
    let headers = [
        "backend",
        "policy",
        "expiry",
        "workload",
        "thr",
        "Mops/s",
        "p50 ns",
        "p99 ns",
        "p99.9 ns",
        "hit %",
        "B/entry",
        "vs quick_cache",
        "vs moka",
    ];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            vec![
                c.kind.backend(),
                c.kind.policy(),
                c.kind.expiry().into(),
                c.workload.clone(),
                c.threads.to_string(),
                format!("{:.2}", c.m.mops()),
                c.m.p50_ns.to_string(),
                c.m.p99_ns.to_string(),
                c.m.p999_ns.to_string(),
                format!("{:.1}", c.m.hit_ratio() * 100.0),
                opt(c.bytes_per_entry, 0),
                opt(c.vs_quick, 2),
                opt(c.vs_moka, 2),
            ]
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

pub const CSV_HEADER: &str =
    "backend,policy,workload,threads,mops,p50_ns,p99_ns,hit_ratio,bytes_per_entry,vs_quick_cache,vs_moka";

pub fn csv(cells: &[Cell]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for c in cells {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.4},{},{},{:.4},{},{},{}",
            csv_field(&c.kind.backend()),
            csv_field(&c.kind.policy()),
            csv_field(&c.workload),
            c.threads,
            c.m.mops(),
            c.m.p50_ns,
            c.m.p99_ns,
            c.m.hit_ratio(),
            csv_opt(c.bytes_per_entry, 1),
            csv_opt(c.vs_quick, 4),
            csv_opt(c.vs_moka, 4),
        );
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
Mops/s is total operations over wall time across all threads. Latencies come from every 32nd operation, timed with
the TSC, and include the timer's own cost (shown in the header). hit % is
over the timed window (1 - init calls / operations). B/entry is heap bytes
requested per entry held after N inserts into a cache of capacity N (N =
1,000,000; 250,000 with --quick), by a counting global allocator (malloc's
own per-block overhead excluded).
vs quick_cache / vs moka divide this row's Mops/s by quick_cache's / moka's
(used directly, not through our trait) on the same workload and threads:
above 1 is faster. quick_cache tracks no time at all (expiry NONE), so it is
the ceiling for a cache that does no expiry work; moka-direct has the same
sliding expiry (time_to_idle) as ours. original is the naive design a
cache like this replaces: Mutex<HashMap>, a clock read and refresh on every hit, a ticker
scanning the whole map under the lock every second, and no bound (its hit %
is not comparable: it never evicts).";
