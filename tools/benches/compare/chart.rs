//! The charts. `compare.svg`: throughput against thread count, a panel per
//! workload and a line per row (log scale, so equal slopes are equal
//! speed-ups). `hit-ratio.svg`: each row's hit ratio per workload, rows in
//! the table's order, so each policy's rows sit together.
//!
//! Plotters lays text out with a TrueType font; the charts bring their own
//! (Roboto, cut down to ASCII, Apache-2.0: `tools/assets/fonts/`), so they
//! draw on a machine with no fonts installed.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::Cell;
use crate::summary::{distinct, label};

const FONT: &[u8] = include_bytes!("../../assets/fonts/Roboto-Regular-ascii.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the embedded font as plotters' sans-serif, once.
fn font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the embedded font could not be read".to_string())
        })
        .clone()
}

/// A chart drawn from the cells into an SVG file.
pub type Draw = fn(&[Cell], &Path) -> Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing the chart: {e}")
}

/// A colour per backend or anchor; the rows of one backend share it.
fn color(backend: &str) -> RGBColor {
    match backend {
        "mutex" => RGBColor(31, 119, 180),
        "sharded" => RGBColor(255, 127, 14),
        "moka" => RGBColor(44, 160, 44),
        "foyer-direct" => RGBColor(148, 103, 189),
        "moka-direct" => RGBColor(140, 86, 75),
        "mini-moka-direct" => RGBColor(188, 189, 34),
        "quick_cache-direct" => RGBColor(214, 39, 40),
        "tinyufo-direct" => RGBColor(60, 60, 60),
        "original" => RGBColor(23, 190, 207),
        other => {
            let h = other.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
            RGBColor((h % 200) as u8, (h / 200 % 200) as u8, (h / 40_000 % 200) as u8)
        }
    }
}

/// One row of the table, as the charts draw it.
struct Series {
    label: String,
    color: RGBColor,
    /// Which of its backend's rows it is: picks the marker and dash.
    variant: usize,
}

/// The rows in table order, each with its style.
fn series(cells: &[Cell]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for c in cells {
        let label = label(c);
        if out.iter().any(|s| s.label == label) {
            continue;
        }
        let backend = c.kind.backend();
        let variant = out.iter().filter(|s| s.color == color(&backend)).count();
        out.push(Series { label, color: color(&backend), variant });
    }
    out
}

/// Draws `s`'s marker at `at` (in `area`'s coordinates).
fn marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    s: &Series,
    at: CT::From,
) -> Result<(), String> {
    let style = s.color.filled();
    let hollow = s.color.stroke_width(2);
    let at = EmptyElement::at(at);
    match s.variant % 5 {
        0 => area.draw(&(at + Circle::new((0, 0), 4, style))),
        1 => area.draw(&(at + TriangleMarker::new((0, 0), 5, style))),
        2 => area.draw(&(at + Rectangle::new([(-4, -4), (4, 4)], style))),
        3 => area.draw(&(at + Cross::new((0, 0), 4, hollow))),
        _ => area.draw(&(at + Circle::new((0, 0), 4, hollow))),
    }
    .map_err(err)
}

/// A legend of every series in `area`, in columns.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, all: &[Series], columns: usize) -> Result<(), String> {
    let (w, _) = area.dim_in_pixel();
    let col_w = (w as usize / columns.max(1)) as i32;
    for (i, s) in all.iter().enumerate() {
        let (x, y) = ((i % columns) as i32 * col_w + 16, (i / columns) as i32 * 20 + 12);
        let dash = if s.variant == 0 { 30 } else { 30 / (s.variant as i32 + 1) };
        let mut from = x;
        while from < x + 30 {
            let to = (from + dash).min(x + 30);
            area.draw(&PathElement::new(vec![(from, y), (to, y)], s.color.stroke_width(2))).map_err(err)?;
            from = to + if s.variant == 0 { 0 } else { 4 };
        }
        marker(area, s, (x + 15, y))?;
        area.draw(&Text::new(s.label.clone(), (x + 40, y - 7), (FAMILY, 14))).map_err(err)?;
    }
    Ok(())
}

/// `compare.svg`: Mops/s against thread count.
pub fn write_scaling(cells: &[Cell], path: &Path) -> Result<(), String> {
    font()?;
    let workloads = distinct(cells, |c| c.workload.clone());
    let mut threads = distinct(cells, |c| c.threads);
    threads.sort_unstable();
    if workloads.is_empty() {
        return Ok(());
    }
    let all = series(cells);
    let cols = workloads.len().min(2);
    let grid_rows = workloads.len().div_ceil(cols);
    // Legend columns wide enough for the longest labels.
    let legend_cols = (cols * 2).max(2);
    let legend_h = (all.len().div_ceil(legend_cols) * 20 + 24) as u32;
    let size = (cols as u32 * 760, grid_rows as u32 * 440 + legend_h);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(size.1 - legend_h);
    let x_of = |t: usize| threads.iter().position(|&x| x == t).unwrap_or(0) as f64;
    let x_max = (threads.len().max(2) - 1) as f64;
    for (area, workload) in top.split_evenly((grid_rows, cols)).iter().zip(&workloads) {
        let mine: Vec<&Cell> = cells.iter().filter(|c| &c.workload == workload).collect();
        let y_max = mine.iter().map(|c| c.m.mops()).fold(0.0, f64::max).max(0.01) * 1.5;
        let y_min = mine.iter().map(|c| c.m.mops()).filter(|&m| m > 0.0).fold(f64::INFINITY, f64::min).min(y_max) / 1.5;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{workload}: Mops/s against threads"), (FAMILY, 18))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.15..x_max + 0.15, (y_min..y_max).log_scale())
            .map_err(err)?;
        let thread_label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            threads.get(i as usize).map_or_else(String::new, |t| t.to_string())
        };
        chart
            .configure_mesh()
            .x_labels(threads.len().max(2))
            .x_label_formatter(&thread_label)
            .y_labels(8)
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc("threads")
            .y_desc("Mops/s (log scale)")
            .label_style((FAMILY, 13))
            .draw()
            .map_err(err)?;
        for s in &all {
            let mut points: Vec<(f64, f64)> =
                mine.iter().filter(|c| label(c) == s.label).map(|c| (x_of(c.threads), c.m.mops())).collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            if points.is_empty() {
                continue;
            }
            let style = s.color.stroke_width(2);
            if s.variant == 0 {
                chart.draw_series(LineSeries::new(points.clone(), style)).map_err(err)?;
            } else {
                let dash = 12 / s.variant as i32 + 2;
                chart.draw_series(DashedLineSeries::new(points.clone(), dash, 4, style)).map_err(err)?;
            }
            for p in points {
                marker(chart.plotting_area(), s, p)?;
            }
        }
    }
    legend(&bottom, &all, legend_cols)?;
    root.present().map_err(err)
}

/// `hit-ratio.svg`: hit % of each row per workload, at the fewest threads.
/// Workloads where every row hits (the get-hit stream) and the unbounded
/// original design (it never evicts) are left out.
pub fn write_hit_ratio(cells: &[Cell], path: &Path) -> Result<(), String> {
    font()?;
    let fewest = cells.iter().map(|c| c.threads).min().unwrap_or(1);
    let shown: Vec<&Cell> = cells
        .iter()
        .filter(|c| c.threads == fewest && c.kind != crate::targets::RowKind::Original)
        .filter(|c| cells.iter().any(|o| o.workload == c.workload && o.m.hit_ratio() < 0.999))
        .collect();
    let shown_cells: Vec<Cell> = shown.iter().map(|c| (*c).clone()).collect();
    let workloads = distinct(&shown_cells, |c| c.workload.clone());
    if workloads.is_empty() {
        return Ok(());
    }
    let all = series(&shown_cells);
    let n = all.len();
    let cols = workloads.len().min(2);
    let grid_rows = workloads.len().div_ceil(cols);
    let panel_h = (n as u32 * 18 + 90).max(300);
    let size = (cols as u32 * 760, grid_rows as u32 * panel_h);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    for (area, workload) in root.split_evenly((grid_rows, cols)).iter().zip(&workloads) {
        let mine: Vec<&Cell> = shown.iter().copied().filter(|c| &c.workload == workload).collect();
        let hits = mine.iter().map(|c| c.m.hit_ratio() * 100.0);
        let lo = (hits.clone().fold(100.0, f64::min) - 8.0).max(0.0).floor();
        let hi = (hits.fold(0.0, f64::max) + 6.0).min(100.0).ceil();
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{workload}: hit % at {fewest} thread{}", if fewest == 1 { "" } else { "s" }),
                (FAMILY, 18),
            )
            .margin(14)
            .x_label_area_size(34)
            .y_label_area_size(250)
            .build_cartesian_2d(lo..hi, 0f64..n as f64)
            .map_err(err)?;
        let row_name = |y: &f64| {
            let r = y - 0.5;
            if (r - r.round()).abs() > 1e-6 || r < 0.0 {
                return String::new();
            }
            let i = n.saturating_sub(1 + r.round() as usize);
            all.get(i).map_or_else(String::new, |s| s.label.clone())
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(2 * n + 1)
            .y_label_formatter(&row_name)
            .x_desc("hit % (higher is better)")
            .label_style((FAMILY, 13))
            .draw()
            .map_err(err)?;
        for (i, s) in all.iter().enumerate() {
            let y = (n - i) as f64;
            let Some(c) = mine.iter().find(|c| label(c) == s.label) else {
                // A row that cannot run this workload (no per-entry expiry).
                let note = Text::new(" not run", (lo, y - 0.3), (FAMILY, 12));
                chart.draw_series([note]).map_err(err)?;
                continue;
            };
            let hit = c.m.hit_ratio() * 100.0;
            let bar = Rectangle::new([(lo, y - 0.85), (hit, y - 0.15)], s.color.filled());
            chart.draw_series([bar]).map_err(err)?;
            let value = Text::new(format!(" {hit:.1}"), (hit, y - 0.3), (FAMILY, 12));
            chart.draw_series([value]).map_err(err)?;
        }
    }
    root.present().map_err(err)
}
