//! Summaries over the measured cells: the best anchor on each workload and
//! thread count, and how far each row scales with threads.

use crate::report::{render, Cell};

/// The distinct values of `key` over `cells`, in first-seen order.
pub fn distinct<T: PartialEq>(cells: &[Cell], key: impl Fn(&Cell) -> T) -> Vec<T> {
    let mut out = Vec::new();
    for c in cells {
        let k = key(c);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// A row's name: its backend and policy.
pub fn label(c: &Cell) -> String {
    format!("{} / {}", c.kind.backend(), c.kind.policy())
}

/// Per workload and thread count: the fastest anchor, the anchor with the
/// best hit ratio, and the fastest of our rows against that fastest anchor.
pub fn best_anchor_table(cells: &[Cell], md: bool) -> String {
    let mut rows = Vec::new();
    for workload in distinct(cells, |c| c.workload.clone()) {
        for threads in distinct(cells, |c| c.threads) {
            let here: Vec<&Cell> = cells.iter().filter(|c| c.workload == workload && c.threads == threads).collect();
            let by_mops = |a: &&&Cell, b: &&&Cell| a.m.mops().total_cmp(&b.m.mops());
            let anchors = || here.iter().filter(|c| c.kind.is_anchor());
            let (Some(fastest), Some(best_hit)) =
                (anchors().max_by(by_mops), anchors().max_by(|a, b| a.m.hit_ratio().total_cmp(&b.m.hit_ratio())))
            else {
                continue;
            };
            let ours = here.iter().filter(|c| matches!(c.kind, crate::targets::RowKind::Ours { .. })).max_by(by_mops);
            rows.push(vec![
                workload.clone(),
                threads.to_string(),
                label(fastest),
                format!("{:.2}", fastest.m.mops()),
                // On a stream of hits only, every cache hits.
                if best_hit.m.hit_ratio() < 0.999 { label(best_hit) } else { "(every anchor hits)".into() },
                format!("{:.1}", best_hit.m.hit_ratio() * 100.0),
                ours.map_or_else(|| "-".into(), |c| label(c)),
                ours.map_or_else(|| "-".into(), |c| format!("{:.2}x", c.m.mops() / fastest.m.mops())),
            ]);
        }
    }
    let headers =
        ["workload", "thr", "fastest anchor", "Mops/s", "best hit-ratio anchor", "hit %", "fastest of ours", "vs it"];
    render(&headers, &rows, 1, md)
}

/// Per row and workload: its best Mops/s over any thread count against its
/// Mops/s at the fewest threads, and where that best was.
pub fn scaling_table(cells: &[Cell], md: bool) -> String {
    let workloads = distinct(cells, |c| c.workload.clone());
    let fewest = distinct(cells, |c| c.threads).into_iter().min().unwrap_or(1);
    let mut rows = Vec::new();
    for row in distinct(cells, label) {
        let mut line = vec![row.clone()];
        for w in &workloads {
            let mine: Vec<&Cell> = cells.iter().filter(|c| label(c) == row && &c.workload == w).collect();
            let base = mine.iter().find(|c| c.threads == fewest).map(|c| c.m.mops());
            let peak = mine.iter().max_by(|a, b| a.m.mops().total_cmp(&b.m.mops()));
            line.push(match (base, peak) {
                (Some(base), Some(peak)) if base > 0.0 => format!("{:.1}x @{}", peak.m.mops() / base, peak.threads),
                _ => "-".into(),
            });
        }
        rows.push(line);
    }
    let mut headers = vec!["backend / policy"];
    headers.extend(workloads.iter().map(String::as_str));
    render(&headers, &rows, 1, md)
}

/// How to read [`scaling_table`].
pub fn scaling_note(cells: &[Cell]) -> String {
    let fewest = distinct(cells, |c| c.threads).into_iter().min().unwrap_or(1);
    format!(
        "Each cell: the row's best Mops/s at any thread count over its Mops/s at {fewest} thread(s), and the thread \
         count of that best (@N). 1.0x @{fewest} means more threads never helped. On a machine with fewer cores than \
         threads, the extra threads only share the cores."
    )
}
