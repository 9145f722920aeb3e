//! Runs policies over the default policy's grid (see
//! `tests/common/grid.rs`) and prints one CSV row per policy and cell:
//! `trace,size,policy,requests,hits,hit_ratio`.
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example grid -- \
//!     --policy all --threads 2 > strategies/tests/data/grid.csv
//! ```
//!
//! `--policy` takes policy names (or `all`: every policy); `--only`
//! keeps the traces whose short names are listed; `--threads` runs cells
//! in parallel. Traces are read from `shared/traces` beside the repository.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ttlkit_strategies::sim::Run;
use ttlkit_strategies::{Admission, AutoConfig, EvictionPolicy, PolicyKind, WTinyLfu, WTinyLfuAuto, WTinyLfuConfig};

#[path = "../tests/common/grid.rs"]
mod grid;

fn main() {
    let mut policies: Vec<Spec> = Vec::new();
    let mut only: Vec<String> = Vec::new();
    let mut threads = 1usize;
    let report = std::env::var("REPORT").is_ok();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--policy" => {
                for name in value.split(',') {
                    if name == "all" {
                        policies.extend(PolicyKind::ALL.iter().map(|&k| Spec::Kind(k)));
                    } else {
                        policies.push(Spec::parse(name));
                    }
                }
            }
            "--only" => only = value.split(',').map(str::to_owned).collect(),
            "--threads" => threads = value.parse().unwrap_or_else(|e| panic!("--threads: {e}")),
            _ => panic!("unknown flag {a}"),
        }
    }
    if policies.is_empty() {
        policies.extend(PolicyKind::ALL.iter().map(|&k| Spec::Kind(k)));
    }
    let Some(dir) = grid::traces_dir() else {
        eprintln!("no shared/traces beside the repository");
        std::process::exit(2);
    };
    let mut traces: Vec<(grid::TraceCells, Vec<u64>)> = grid::cells()
        .into_iter()
        .filter(|t| only.is_empty() || only.iter().any(|o| o == t.name))
        .map(|t| {
            let keys = grid::load(&dir, t.path);
            (t, keys)
        })
        .collect();
    if only.is_empty() || only.iter().any(|o| o == "gen") {
        for (name, keys, size) in grid::generated() {
            let name: &'static str = Box::leak(name.into_boxed_str());
            traces.push((grid::TraceCells { path: name, name, sizes: vec![size] }, keys));
        }
    }
    // Work items, the longest first, so the threads finish together.
    let mut work: Vec<(usize, usize, usize)> = Vec::new();
    for (ti, (t, _)) in traces.iter().enumerate() {
        for &size in &t.sizes {
            for p in 0..policies.len() {
                work.push((ti, size, p));
            }
        }
    }
    work.sort_by_key(|&(ti, size, _)| std::cmp::Reverse((traces[ti].1.len(), size)));
    let next = AtomicUsize::new(0);
    let out = Mutex::new(std::io::stdout());
    if let Ok(mut o) = out.lock() {
        let _ = writeln!(o, "trace,size,policy,requests,hits,hit_ratio");
    }
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(ti, size, pi)) = work.get(i) else { break };
                let (t, keys) = &traces[ti];
                let kind = &policies[pi];
                let (requests, hits) = if let (Spec::Auto(_, c), true) = (kind, report) {
                    replay_reported(keys, size, *c, t.name)
                } else {
                    let mut run = Run::with_policy(kind.build(size), size);
                    for &k in keys {
                        run.access(k).unwrap_or_else(|e| panic!("{} {size} {}: {e}", t.name, kind.name()));
                    }
                    run.counts()
                };
                let line = format!(
                    "{},{size},{},{requests},{hits},{:.4}",
                    t.path,
                    kind.name(),
                    100.0 * hits as f64 / requests.max(1) as f64
                );
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(o, "{line}");
                }
            });
        }
    });
}

/// A policy to run: one of the crate's, or an experimental W-TinyLFU
/// setting written `name=wt:knob=value/knob=value`.
enum Spec {
    Kind(PolicyKind),
    Wt(String, WTinyLfuConfig),
    Auto(String, AutoConfig),
}

impl Spec {
    fn parse(s: &str) -> Spec {
        if let Some((name, rest)) = s.split_once("=auto:") {
            let mut c = AutoConfig::default();
            for kv in rest.split('/').filter(|x| !x.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{kv}"));
                if k == "v" {
                    // share:mode,... with mode u (unfiltered) or a bias.
                    let v: Vec<(f64, Admission)> = v
                        .split(':')
                        .map(|x| {
                            let at = x.find(|ch: char| ch.is_ascii_alphabetic()).unwrap_or_else(|| panic!("{x}"));
                            let share: f64 = x[..at].parse().unwrap_or_else(|e| panic!("{kv}: {e}"));
                            let k = || x[at + 1..].parse::<u8>().unwrap_or_else(|e| panic!("{kv}: {e}"));
                            let mode = match &x[at..at + 1] {
                                "u" => Admission::All,
                                "b" => Admission::Duel(k()),
                                "s" => Admission::Seen(k()),
                                m => panic!("mode {m}"),
                            };
                            (share, mode)
                        })
                        .collect();
                    c.variants = Box::leak(v.into_boxed_slice());
                    continue;
                }
                let f: f64 = v.parse().unwrap_or_else(|e| panic!("{kv}: {e}"));
                match k {
                    "window" => c.initial_window = f,
                    "mini" => c.mini_entries = f as usize,
                    "period" => c.period = f,
                    "decay" => c.decay = f,
                    "margin" => c.margin = f,
                    "z" => c.z = f,
                    "fz" => c.fast_z = f,
                    "mdiv" => c.mini_div = f,
                    "mfloor" => c.mini_floor = f as usize,
                    "ib" => c.initial_admission = Admission::Duel(f as u8),
                    "is" => c.initial_admission = Admission::Seen(f as u8),
                    "iu" => c.initial_admission = Admission::All,
                    "turns" => c.min_turns = f,
                    "area" => c.mini_area = f as usize,
                    "sfloor" => c.sketch_floor = f as usize,
                    "counters" => c.counters_per_entry = f as usize,
                    "sample" => c.sample_per_entry = f,
                    "protected" => c.protected_share = f,
                    _ => panic!("unknown knob {k}"),
                }
            }
            return Spec::Auto(name.to_owned(), c);
        }
        if let Some((name, rest)) = s.split_once("=wt:") {
            let mut c = WTinyLfuConfig::default();
            for kv in rest.split('/').filter(|x| !x.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{kv}"));
                if k == "shares" || k == "ushares" || k == "nshares" {
                    let v: Vec<f64> = v.split(':').map(|x| x.parse().unwrap_or_else(|e| panic!("{kv}: {e}"))).collect();
                    let v: &'static [f64] = Box::leak(v.into_boxed_slice());
                    match k {
                        "shares" => c.mini_shares = v,
                        "ushares" => c.mini_unfiltered = v,
                        _ => c.mini_no_stale = v,
                    }
                    continue;
                }
                let f: f64 = v.parse().unwrap_or_else(|e| panic!("{kv}: {e}"));
                match k {
                    "window" => c.initial_window = f,
                    "mini" => {
                        if f == 0.0 {
                            c.mini_shares = &[];
                        }
                    }
                    "filter" => c.filter = f != 0.0,
                    "sketch" => c.sketch_sample = f,
                    "climb" => c.climb_sample = f,
                    "stale" => c.stale_age = f,
                    "protected" => c.protected_share = f,
                    "ghost" => c.ghost_step = f as usize,
                    "mtarget" => c.mini_target = f as usize,
                    "mrate" => c.mini_min_rate = f as usize,
                    "mperiod" => c.mini_period = f,
                    "mdecay" => c.mini_decay = f,
                    "margin" => c.mini_margin = f,
                    "v2" => c = WTinyLfuConfig::v2(),
                    _ => panic!("unknown knob {k}"),
                }
            }
            return Spec::Wt(name.to_owned(), c);
        }
        Spec::Kind(PolicyKind::from_name(s).unwrap_or_else(|e| panic!("{e}")))
    }

    fn name(&self) -> &str {
        match self {
            Spec::Kind(k) => k.name(),
            Spec::Wt(n, _) | Spec::Auto(n, _) => n,
        }
    }

    fn build(&self, size: usize) -> Box<dyn EvictionPolicy> {
        match self {
            Spec::Kind(k) => k.build(size),
            Spec::Wt(_, c) => Box::new(WTinyLfu::with_config(size, *c)),
            Spec::Auto(_, c) => Box::new(WTinyLfuAuto::with_config(size, *c)),
        }
    }
}

/// Replays `keys` through a `w-tinylfu-auto` and prints its tuner's report.
fn replay_reported(keys: &[u64], size: usize, config: AutoConfig, name: &str) -> (u64, u64) {
    let mut p = WTinyLfuAuto::with_config(size, config);
    let mut resident = std::collections::HashSet::new();
    let mut hits = 0;
    let mut chunks = Vec::new();
    for (i, &k) in keys.iter().enumerate() {
        if i % (keys.len() / 10).max(1) == 0 {
            chunks.push(format!("{}:{}", p.window_size(), hits));
        }
        if resident.contains(&k) {
            hits += 1;
            p.on_hit(k);
            continue;
        }
        p.on_insert(k, ttlkit_strategies::mix64(k));
        resident.insert(k);
        while resident.len() > size {
            let v = p.evict().unwrap_or_else(|| panic!("no victim"));
            resident.remove(&v);
        }
    }
    eprintln!("{name}@{size}: {} chunks {}", p.report(), chunks.join(" "));
    (keys.len() as u64, hits)
}
