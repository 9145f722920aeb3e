//! The performance targets, judged on one run. A throughput target is
//! met only if both halves of the run (rows in order, then in reverse)
//! meet it, each half against the anchors' same half.

use std::time::Duration;

use ttlkit::{BackendKind, PolicyKind};

use crate::cli::{cores, Plan};
use crate::expiry::Deadlines;
use crate::report::{Cell, Check, Memory, Report};
use crate::targets::RowKind;
use crate::PURGE_EXPIRED;

/// The get-or-insert workloads the sharded backend must lead on.
const GET_OR_INSERT: &[&str] = &["zipf-0.9", "zipf-1.1", "uniform", "scan+zipf-0.9"];
const GET_HIT: &str = "get-hit-zipf-1.1";

/// Heap per `u64 -> u64` entry, with sliding expiry, for the mutex and
/// sharded backends under each policy named here.
const HEAP_LIMITS: &[(PolicyKind, f64)] =
    &[(PolicyKind::Lru, 64.0), (PolicyKind::Clock, 64.0), (PolicyKind::Sieve, 64.0), (PolicyKind::S3Fifo, 80.0)];
/// The moka backend's heap per entry against moka's own.
const MOKA_HEAP_FACTOR: f64 = 1.1;
/// The candidate default policy against `lru` in the same backend: its
/// get-or-insert throughput at least this share of `lru`'s...
const CANDIDATE_SPEED: f64 = 0.9;
/// ...and its heap per entry at most this much more.
const CANDIDATE_HEAP: f64 = 16.0;

/// The rows whose heap figures the targets need.
pub fn heap_rows() -> Vec<RowKind> {
    let ours = [BackendKind::Mutex, BackendKind::Sharded]
        .into_iter()
        .flat_map(|backend| HEAP_LIMITS.iter().map(move |&(policy, _)| RowKind::Ours { backend, policy }));
    let moka =
        [PolicyKind::Lru, PolicyKind::WTinyLfu].map(|policy| RowKind::Ours { backend: BackendKind::Moka, policy });
    ours.chain(moka).chain([RowKind::MokaDirect]).collect()
}

/// 1, 2 and 2x cores threads, as the targets name them.
fn target_threads() -> Vec<usize> {
    let mut t = vec![1, 2, 2 * cores()];
    t.dedup();
    t
}

/// A row against the fastest of some anchors: overall, and per half
/// against the fastest anchor of that half.
struct Against<'a> {
    cell: &'a Cell,
    overall: f64,
    halves: [f64; 2],
}

impl Against<'_> {
    fn worst(&self) -> f64 {
        self.halves[0].min(self.halves[1])
    }

    fn show(&self) -> String {
        format!(
            "{} {:.2}x (halves {:.2}x, {:.2}x)",
            self.cell.kind.policy(),
            self.overall,
            self.halves[0],
            self.halves[1]
        )
    }
}

/// The highest of `mops` over `anchors`.
fn fastest(anchors: &[&Cell], mops: impl Fn(&Cell) -> f64) -> Option<f64> {
    anchors.iter().map(|a| mops(a)).reduce(f64::max)
}

fn against<'a>(cell: &'a Cell, anchors: &[&Cell]) -> Option<Against<'a>> {
    let overall = cell.m.mops() / fastest(anchors, |a| a.m.mops())?;
    let halves =
        [cell.halves[0] / fastest(anchors, |a| a.halves[0])?, cell.halves[1] / fastest(anchors, |a| a.halves[1])?];
    Some(Against { cell, overall, halves })
}

fn cells_at<'a>(report: &'a Report, workload: &'a str, threads: usize) -> impl Iterator<Item = &'a Cell> + 'a {
    report.cells.iter().filter(move |c| c.workload == workload && c.threads == threads)
}

fn sharded(c: &Cell) -> bool {
    matches!(c.kind, RowKind::Ours { backend: BackendKind::Sharded, .. })
}

/// "Every sharded row on `workload` at `threads` runs at least `goal`
/// times the fastest of `anchors`", in both halves.
fn lead(
    report: &Report,
    workload: &str,
    threads: usize,
    anchors: &dyn Fn(&Cell) -> bool,
    goal: f64,
    whom: &str,
) -> Check {
    let target = format!("sharded, {workload}, {threads} thr: >= {goal:.1}x {whom}");
    let anchor_cells: Vec<&Cell> = cells_at(report, workload, threads).filter(|c| anchors(c)).collect();
    let fastest = anchor_cells.iter().max_by(|a, b| a.m.mops().total_cmp(&b.m.mops()));
    let mut ours: Vec<Against> =
        cells_at(report, workload, threads).filter(|c| sharded(c)).filter_map(|c| against(c, &anchor_cells)).collect();
    let Some(fastest) = fastest else {
        return Check { target, figure: format!("no anchor row at {threads} thr in this run"), met: None };
    };
    if ours.is_empty() {
        return Check { target, figure: format!("no sharded row at {threads} thr in this run"), met: None };
    }
    let met = ours.iter().all(|a| a.worst() >= goal);
    ours.sort_by(|a, b| a.overall.total_cmp(&b.overall));
    let anchor = format!("{} {:.2} Mops/s", fastest.kind.backend(), fastest.m.mops());
    let (lowest, highest) = (&ours[0], &ours[ours.len() - 1]);
    let figure = if ours.len() == 1 {
        format!("{} vs {anchor}", lowest.show())
    } else {
        format!("lowest {}, highest {} vs {anchor}", lowest.show(), highest.show())
    };
    Check { target, figure, met: Some(met) }
}

/// The throughput targets of the workloads this run measured.
fn throughput(report: &Report, out: &mut Vec<Check>) {
    let ran = |workload: &str| report.cells.iter().any(|c| c.workload == workload);
    let any_anchor = |c: &Cell| c.kind.is_anchor();
    for &workload in GET_OR_INSERT.iter().filter(|w| ran(w)) {
        for &t in &target_threads() {
            out.push(lead(report, workload, t, &any_anchor, 1.0, "the fastest anchor"));
        }
    }
    if !ran(GET_HIT) {
        return;
    }
    let quick = |c: &Cell| c.kind == RowKind::QuickDirect;
    out.push(lead(report, GET_HIT, 1, &quick, 1.0, "quick_cache"));
    for &t in target_threads().iter().filter(|&&t| t > 1) {
        out.push(lead(report, GET_HIT, t, &any_anchor, 1.0, "the fastest anchor"));
    }
    let moka = |c: &Cell| c.kind == RowKind::MokaDirect;
    out.push(lead(report, GET_HIT, 2, &moka, 5.0, "moka"));
}

/// The candidate default policy's costs against `lru` in the same backend
/// (speed on the sharded backend's get-or-insert rows, in both halves;
/// heap on both the mutex and sharded backends), where the run has both.
fn candidate(report: &Report, out: &mut Vec<Check>) {
    let row = |policy| RowKind::Ours { backend: BackendKind::Sharded, policy };
    let (auto, lru) = (row(PolicyKind::WTinyLfuAuto), row(PolicyKind::Lru));
    for &workload in GET_OR_INSERT {
        for &t in &target_threads() {
            let find = |kind: &RowKind| cells_at(report, workload, t).find(|c| &c.kind == kind);
            let (Some(a), Some(l)) = (find(&auto), find(&lru)) else { continue };
            let halves = [a.halves[0] / l.halves[0], a.halves[1] / l.halves[1]];
            out.push(Check {
                target: format!("sharded/w-tinylfu-auto, {workload}, {t} thr: >= {CANDIDATE_SPEED:.1}x sharded/lru"),
                figure: format!("{:.2}x (halves {:.2}x, {:.2}x)", a.m.mops() / l.m.mops(), halves[0], halves[1]),
                met: Some(halves.iter().all(|&h| h >= CANDIDATE_SPEED)),
            });
        }
    }
    for backend in [BackendKind::Mutex, BackendKind::Sharded] {
        let find = |policy| report.memory.iter().find(|m| m.kind == RowKind::Ours { backend, policy });
        let (Some(a), Some(l)) = (find(PolicyKind::WTinyLfuAuto), find(PolicyKind::Lru)) else { continue };
        let over = a.bytes_per_entry - l.bytes_per_entry;
        out.push(Check {
            target: format!("{backend}/w-tinylfu-auto: heap <= {backend}/lru + {CANDIDATE_HEAP:.0} B/entry"),
            figure: format!("{:.1} vs {:.1} B/entry = +{over:.1}", a.bytes_per_entry, l.bytes_per_entry),
            met: Some(over <= CANDIDATE_HEAP),
        });
    }
}

fn heap(report: &Report, plan: &Plan, out: &mut Vec<Check>) {
    let find = |kind: &RowKind| report.memory.iter().find(|m| &m.kind == kind);
    let bytes = |m: &Memory| format!("{:.1} B/entry ({} held)", m.bytes_per_entry, m.entries);
    for backend in [BackendKind::Mutex, BackendKind::Sharded] {
        for &(policy, limit) in HEAP_LIMITS {
            let target = format!(
                "{backend}/{policy}: heap <= {limit:.0} B/entry (u64 -> u64, sliding expiry, {} entries)",
                plan.mem_entries
            );
            out.push(match find(&RowKind::Ours { backend, policy }) {
                Some(m) => Check { target, figure: bytes(m), met: Some(m.bytes_per_entry <= limit) },
                None => Check { target, figure: "not measured in this run".into(), met: None },
            });
        }
    }
    let Some(moka) = find(&RowKind::MokaDirect) else { return };
    for m in report.memory.iter().filter(|m| matches!(m.kind, RowKind::Ours { backend: BackendKind::Moka, .. })) {
        let ratio = m.bytes_per_entry / moka.bytes_per_entry;
        out.push(Check {
            target: format!("moka/{}: heap <= {MOKA_HEAP_FACTOR:.1}x moka's own", m.kind.policy()),
            figure: format!("{} vs {:.1} = {ratio:.2}x", bytes(m), moka.bytes_per_entry),
            met: Some(ratio <= MOKA_HEAP_FACTOR),
        });
    }
}

/// "Purging 10k expired among the big map costs at most 2x purging 10k of
/// 10k" for the purge rows labelled `label`, if the run has both (each
/// figure the median of its runs).
fn purge_ratio(report: &Report, label: &str, plan: &Plan) -> Option<Check> {
    let find = |total: usize| report.purges.iter().find(|p| p.backend == label && p.total == total);
    let (small, big) = (find(PURGE_EXPIRED)?, find(plan.mem_entries as usize)?);
    let target = format!("{label}: purge 10k of {} within 2x of 10k of 10k", big.total);
    Some(match (small.time, big.time) {
        (Some(s), Some(b)) => {
            let ratio = b.as_secs_f64() / s.as_secs_f64();
            let figure = format!("{:.3} ms vs {:.3} ms = {ratio:.2}x", b.as_secs_f64() * 1e3, s.as_secs_f64() * 1e3);
            Check { target, figure, met: Some(ratio <= 2.0) }
        }
        _ => Check { target, figure: "a purge did not finish".into(), met: Some(false) },
    })
}

fn purge(report: &Report, plan: &Plan, out: &mut Vec<Check>) {
    let labels = std::iter::once(BackendKind::Mutex.name().to_owned())
        .chain(BackendKind::ALL.iter().map(|&name| Deadlines::PerEntry.label(name)));
    out.extend(labels.filter_map(|label| purge_ratio(report, &label, plan)));
    let find = |total: usize| report.purges.iter().find(|p| p.backend == BackendKind::Mutex.name() && p.total == total);
    if let (Some(small), Some(big)) = (find(PURGE_EXPIRED), find(plan.mem_entries as usize)) {
        let target = "mutex: longest lock hold during the purge < 1 ms".to_owned();
        out.push(match (small.longest_hold, big.longest_hold) {
            (Some(s), Some(b)) => {
                let hold = s.max(b);
                let figure = format!("<= {:.3} ms (upper bound)", hold.as_secs_f64() * 1e3);
                Check { target, figure, met: Some(hold < Duration::from_millis(1)) }
            }
            _ => Check { target, figure: "a purge did not finish".into(), met: Some(false) },
        });
    }
}

/// Every target, judged on this run.
pub fn checks(report: &Report, plan: &Plan) -> Vec<Check> {
    let mut out = Vec::new();
    throughput(report, &mut out);
    candidate(report, &mut out);
    heap(report, plan, &mut out);
    purge(report, plan, &mut out);
    out
}
