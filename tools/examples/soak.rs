//! Real-time soak: churn every backend at full speed with the sweeper on,
//! record resident memory every few seconds and draw it, so anyone can see
//! memory stay flat while millions of keys come and go.
//!
//! Run: `cargo run --release --example soak` (a minute per backend), or
//! `-- --secs 20 --backends mutex,sharded`. Writes `target/ttlkit/soak.svg`.
//!
//! Each backend runs in a child process of its own (this program, re-run
//! with `--child`), so one backend's freed-but-kept pages do not show up in
//! the next one's figures. The child inserts a key never seen before on
//! every iteration and reads back a few recent ones (hits that slide their
//! deadlines), with a 100 ms idle timeout and the default sweeper: the
//! entries held settle at about the arrival rate times the timeout, and so
//! must the resident set.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plotters::prelude::*;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache};

const IDLE: Duration = Duration::from_millis(100);

struct Args {
    secs: u64,
    every: u64,
    backends: Vec<BackendKind>,
    child: Option<BackendKind>,
    out: PathBuf,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        secs: 60,
        every: 3,
        backends: BackendKind::ALL.to_vec(),
        child: None,
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ttlkit/soak.svg"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        let backend = |v: &str| v.parse::<BackendKind>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--secs" => a.secs = number(value()?)?.max(1),
            "--every" => a.every = number(value()?)?.max(1),
            "--backends" => a.backends = value()?.split(',').map(backend).collect::<Result<_, _>>()?,
            "--out" => a.out = PathBuf::from(value()?),
            "--child" => a.child = Some(backend(&value()?)?),
            "-h" | "--help" => {
                return Err("usage: soak [--secs N per backend] [--every S] [--backends a,b] [--out file.svg]".into())
            }
            _ => return Err(format!("unknown argument {flag}; try --help")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    if let Some(backend) = args.child {
        return churn(backend, args.secs, args.every);
    }
    let mut runs = Vec::new();
    for &backend in &args.backends {
        eprintln!("{backend}: churning for {} s ...", args.secs);
        runs.push((backend, run_child(backend, &args)?));
    }
    println!("\nresident memory (MiB) and entries held, every {} s:", args.every);
    for (backend, samples) in &runs {
        let rss: Vec<String> = samples.iter().map(|s| format!("{:.1}", s.rss_mib)).collect();
        let held: Vec<String> = samples.iter().map(|s| s.held.to_string()).collect();
        let ops = samples.last().map_or(0, |s| s.ops);
        println!("{backend}: {ops} operations ({:.1} M/s)", ops as f64 / args.secs as f64 / 1e6);
        println!("  rss  {}", rss.join(" "));
        println!("  held {}", held.join(" "));
        if let (Some(first), Some(last)) = (samples.iter().find(|s| s.t >= 10.0), samples.last()) {
            let peak = samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
            println!(
                "  rss at {:.0} s {:.1} MiB, at {:.0} s {:.1} MiB ({:+.1}%), peak {peak:.1} MiB",
                first.t,
                first.rss_mib,
                last.t,
                last.rss_mib,
                (last.rss_mib - first.rss_mib) * 100.0 / first.rss_mib
            );
        }
    }
    draw(&args.out, &runs, args.secs)?;
    println!("\nchart: {}", args.out.display());
    Ok(())
}

/// One sample of a child's run.
struct Sample {
    t: f64,
    rss_mib: f64,
    held: usize,
    ops: u64,
}

fn run_child(backend: BackendKind, args: &Args) -> Result<Vec<Sample>, Box<dyn Error>> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--child", backend.name(), "--secs", &args.secs.to_string(), "--every", &args.every.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no child stdout")?;
    let mut samples = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if let ["sample", t, rss, held, ops] = f[..] {
            samples.push(Sample {
                t: t.parse()?,
                rss_mib: rss.parse::<f64>()? / 1048576.0,
                held: held.parse()?,
                ops: ops.parse()?,
            });
            eprintln!("  {backend} {line}");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the {backend} child failed: {status}").into());
    }
    Ok(samples)
}

/// The child: churn one backend and print a sample line every `every` s.
fn churn(backend: BackendKind, secs: u64, every: u64) -> Result<(), Box<dyn Error>> {
    let page = page_size();
    let cache: AnyCache<u64, Arc<[u8]>> = AnyCache::new(backend, CacheBuilder::new().time_to_idle(IDLE))?;
    let start = Instant::now();
    let (mut next_sample, mut ops, mut key) = (Duration::ZERO, 0u64, 0u64);
    let value: Arc<[u8]> = Arc::from(vec![7u8; 64]);
    loop {
        for _ in 0..1024 {
            key += 1;
            // A new key, backed by its own allocation, then reads of keys
            // seen a moment ago (hits while they are inside the window).
            cache.insert(key, Arc::from(&value[..]));
            for back in [1, 7, 100] {
                let _ = cache.get(&key.saturating_sub(back));
            }
            ops += 4;
        }
        let t = start.elapsed();
        if t >= next_sample {
            println!("sample {:.2} {} {} {ops}", t.as_secs_f64(), rss_bytes(page), cache.len());
            next_sample += Duration::from_secs(every);
        }
        if t >= Duration::from_secs(secs) {
            return Ok(());
        }
    }
}

/// Resident set size from `/proc/self/statm` (pages) times the page size.
fn rss_bytes(page: u64) -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * page
}

/// The page size, without libc: `VmRSS` (kB) over statm's resident pages.
fn page_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    let pages = rss_bytes(1);
    match kb {
        Some(kb) if pages > 0 => {
            // Round to a power of two: the two files are read a moment apart.
            (kb * 1024 / pages).next_power_of_two().max(4096)
        }
        _ => 4096,
    }
}

/// Plotters lays out text with a TrueType font; use a common system one.
fn load_font() -> Result<(), String> {
    let candidates = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ];
    let bytes = candidates.iter().find_map(|p| std::fs::read(p).ok()).ok_or("no TrueType font found for the chart")?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
        .map_err(|_| "the font could not be loaded".to_string())
}

fn draw(path: &Path, runs: &[(BackendKind, Vec<Sample>)], secs: u64) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    load_font()?;
    let root = SVGBackend::new(path, (900, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(340);
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN];
    let max_rss = runs.iter().flat_map(|(_, s)| s.iter().map(|s| s.rss_mib)).fold(1.0, f64::max);
    let max_held = runs.iter().flat_map(|(_, s)| s.iter().map(|s| s.held)).max().unwrap_or(1) as f64 / 1000.0;
    let x = 0.0..secs as f64;
    let caption = format!("real-time soak: new key every insert, idle {} ms, sweeper on", IDLE.as_millis());
    let mut rss = ChartBuilder::on(&top)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(x.clone(), 0.0..max_rss * 1.2)?;
    rss.configure_mesh().y_desc("resident memory (MiB)").draw()?;
    let mut held = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, 0.0..max_held * 1.2)?;
    held.configure_mesh().x_desc("seconds").y_desc("entries held (thousands)").draw()?;
    for (i, (backend, samples)) in runs.iter().enumerate() {
        let color = colors[i % colors.len()];
        rss.draw_series(LineSeries::new(samples.iter().map(|s| (s.t, s.rss_mib)), color.stroke_width(2)))?
            .label(backend.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        held.draw_series(LineSeries::new(
            samples.iter().map(|s| (s.t, s.held as f64 / 1000.0)),
            color.stroke_width(2),
        ))?;
    }
    rss.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
