//! Replays a cache trace against eviction policies and reports hit ratios.
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example simulate -- \
//!     --trace ../shared/traces/arc/OLTP.lis.zst --policy lru,arc,w-tinylfu,opt \
//!     --size 1000,2000 --format csv
//! ```
//!
//! Traces and published figures: `shared/traces/README.md` (the ARC traces
//! may be used on condition that the ARC paper is cited: Megiddo & Modha,
//! "Outperforming LRU with an Adaptive Replacement Cache Algorithm", IEEE
//! Computer 37(4), 2004).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plotters::prelude::*;
use ttlkit_strategies::sim::{simulate, SimPolicy, SimResult};
use ttlkit_strategies::trace::{TraceFormat, TraceReader};

/// Shown with every result, as the traces' README asks.
const CITATION: &str = "see shared/traces/README.md; ARC traces: Megiddo & Modha, \
    \"Outperforming LRU with an Adaptive Replacement Cache Algorithm\", IEEE Computer 37(4), 2004";

/// Line colours, dark enough to read on white.
const COLORS: &[RGBColor] = &[
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x00, 0x00, 0x00),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// An aligned table.
    Table,
    /// `policy,size,requests,hits,hit_ratio`.
    Csv,
}

/// Replay a cache trace against eviction policies and report hit ratios.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The trace file (.zst, .gz, .xz are decompressed on the fly).
    #[arg(long)]
    trace: PathBuf,
    /// The trace format, if its name does not tell: arc, lirs, i32 or i64.
    #[arg(long, value_parser = parse_format)]
    trace_format: Option<TraceFormat>,
    /// Policies, comma separated, or `all` (every policy and opt).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    policy: Vec<String>,
    /// Cache sizes in entries, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    size: Vec<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    format: Output,
    /// Also draw hit ratio against cache size to this .svg or .png file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Never show a progress bar.
    #[arg(long)]
    quiet: bool,
}

fn parse_format(s: &str) -> Result<TraceFormat, String> {
    s.parse().map_err(|e: ttlkit_strategies::trace::TraceError| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn policies(names: &[String]) -> Result<Vec<SimPolicy>, String> {
    let mut out = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if name.eq_ignore_ascii_case("all") {
            out.extend(SimPolicy::all());
        } else {
            out.push(SimPolicy::from_name(name).map_err(|e| e.to_string())?);
        }
    }
    if out.is_empty() {
        return Err("no policy given".into());
    }
    out.dedup();
    Ok(out)
}

fn run(args: &Args) -> Result<(), String> {
    let policies = policies(&args.policy)?;
    let runs: Vec<(SimPolicy, usize)> = policies.iter().flat_map(|&p| args.size.iter().map(move |&s| (p, s))).collect();
    let reader = TraceReader::open(&args.trace, args.trace_format).map_err(|e| e.to_string())?;
    let progress = reader.progress();
    let bar = match (&progress, args.quiet) {
        (Some(p), false) => {
            let bar = ProgressBar::with_draw_target(Some(p.total_bytes()), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})",
            )
            .map_err(|e| e.to_string())?;
            bar.set_style(style);
            Some(bar)
        }
        _ => None,
    };
    let started = Instant::now();
    let results = simulate(reader, &runs, |requests| {
        if let (Some(bar), Some(p)) = (&bar, &progress) {
            bar.set_position(p.bytes_read());
            bar.set_message(format!("{requests} requests"));
        }
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let results = results.map_err(|e| e.to_string())?;
    if !args.quiet {
        eprintln!("simulated {} runs in {:.1} s", runs.len(), started.elapsed().as_secs_f64());
    }
    let mut out = String::new();
    match args.format {
        Output::Csv => {
            out.push_str("policy,size,requests,hits,hit_ratio\n");
            for r in &results {
                let line = format!("{},{},{},{},{:.2}\n", r.policy, r.size, r.requests, r.hits, r.hit_ratio());
                out.push_str(&line);
            }
        }
        Output::Table => out = table(&args.trace, &results),
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(format!("cannot write: {e}")),
        _ => {}
    }
    if let Some(path) = &args.plot {
        plot(path, &args.trace, &policies, &results)?;
    }
    Ok(())
}

fn table(trace: &Path, results: &[SimResult]) -> String {
    let name = trace.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let requests = results.first().map_or(0, |r| r.requests);
    let mut out = format!("{name}: {requests} requests, cold caches\n");
    out.push_str(&format!("{:<12} {:>10} {:>12} {:>10}\n", "policy", "size", "hits", "hit ratio"));
    for r in results {
        out.push_str(&format!("{:<12} {:>10} {:>12} {:>9.2}%\n", r.policy.name(), r.size, r.hits, r.hit_ratio()));
    }
    out.push_str(&format!("trace source: {CITATION}\n"));
    out
}

fn plot(path: &Path, trace: &Path, policies: &[SimPolicy], results: &[SimResult]) -> Result<(), String> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => {
            register_font()?;
            draw(SVGBackend::new(path, (900, 600)).into_drawing_area(), trace, policies, results)
        }
        Some("png") => {
            register_font()?;
            draw(BitMapBackend::new(path, (900, 600)).into_drawing_area(), trace, policies, results)
        }
        _ => Err(format!("cannot plot to {}: the name must end in .svg or .png", path.display())),
    }
}

/// Plotters lays text out with a TrueType font: take a common system one.
fn register_font() -> Result<(), String> {
    const CANDIDATES: &[&str] = &[
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/Library/Fonts/Arial.ttf",
        "C:\\Windows\\Fonts\\arial.ttf",
    ];
    let bytes = CANDIDATES
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or("plotting needs a TrueType font (DejaVu Sans, Liberation Sans or Arial) and none was found")?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| "the font could not be loaded".to_string())
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    trace: &Path,
    policies: &[SimPolicy],
    results: &[SimResult],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let (area, footer) = area.split_vertically(575);
    footer
        .draw_text(&format!("traces: {CITATION}"), &("sans-serif", 11).into_text_style(&footer), (10, 5))
        .map_err(err)?;
    let (min_size, max_size) = results.iter().fold((usize::MAX, 0), |(lo, hi), r| (lo.min(r.size), hi.max(r.size)));
    let (min_size, max_size) = (min_size.max(1) as f64, max_size.max(1) as f64);
    let max_ratio = results.iter().map(SimResult::hit_ratio).fold(0.0, f64::max);
    let name = trace.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let caption = format!("hit ratio on {name}");
    let x_range = (min_size * 0.9)..(max_size * 1.1);
    let y_range = 0.0..(max_ratio * 1.1 + 1.0).min(100.0);
    let mut chart = ChartBuilder::on(&area)
        .caption(caption, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x_range.log_scale(), y_range)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("cache size (entries)")
        .y_desc("hit ratio (%)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(err)?;
    for (i, &p) in policies.iter().enumerate() {
        let color = if p == SimPolicy::Opt { BLACK } else { COLORS[i % COLORS.len()] };
        let mut points: Vec<(f64, f64)> =
            results.iter().filter(|r| r.policy == p).map(|r| (r.size.max(1) as f64, r.hit_ratio())).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(p.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|pt| Circle::new(pt, 3, color.filled()))).map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}
