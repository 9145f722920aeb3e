//! `compare.svg`: throughput by backend and thread count, one panel per
//! workload, horizontal bars (one per thread count) for each row.

use std::path::Path;

use plotters::prelude::*;

use crate::report::Cell;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing the chart: {e}")
}

pub fn write(cells: &[Cell], path: &Path) -> Result<(), String> {
    let mut workloads: Vec<&str> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut threads: Vec<usize> = Vec::new();
    for c in cells {
        if !workloads.contains(&c.workload.as_str()) {
            workloads.push(&c.workload);
        }
        let label = format!("{} / {}", c.kind.backend(), c.kind.policy());
        if !labels.contains(&label) {
            labels.push(label);
        }
        if !threads.contains(&c.threads) {
            threads.push(c.threads);
        }
    }
    if workloads.is_empty() {
        return Ok(());
    }
    let n = labels.len();
    let cols = workloads.len().min(2);
    let grid_rows = workloads.len().div_ceil(cols);
    let panel_h = (n as u32 * 12 * threads.len() as u32 + 120).max(320);
    let size = (cols as u32 * 820, grid_rows as u32 * panel_h);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((grid_rows, cols));
    let band = 0.8 / threads.len() as f64;
    for (area, workload) in panels.iter().zip(&workloads) {
        let mine: Vec<&Cell> = cells.iter().filter(|c| c.workload == *workload).collect();
        let xmax = mine.iter().map(|c| c.m.mops()).fold(0.0, f64::max).max(0.01) * 1.3;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{workload}: Mops/s by thread count"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(260)
            .build_cartesian_2d(0f64..xmax, 0f64..n as f64)
            .map_err(err)?;
        let row_name = |y: &f64| {
            let r = y - 0.5;
            if (r - r.round()).abs() > 1e-6 || r < 0.0 {
                return String::new();
            }
            let i = n.saturating_sub(1 + r.round() as usize);
            labels.get(i).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(2 * n + 1)
            .y_label_formatter(&row_name)
            .x_desc("Mops/s (higher is better)")
            .draw()
            .map_err(err)?;
        for (j, &t) in threads.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let bars = mine.iter().filter(|c| c.threads == t).filter_map(|c| {
                let label = format!("{} / {}", c.kind.backend(), c.kind.policy());
                let i = labels.iter().position(|l| *l == label)?;
                // Row 0 at the top, and within a row the fewest threads on top.
                let y0 = (n - i) as f64 - 0.1 - band * (j + 1) as f64;
                Some(Rectangle::new([(0.0, y0), (c.m.mops(), y0 + band)], color.filled()))
            });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(format!("{t} thread{}", if t == 1 { "" } else { "s" }))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}
