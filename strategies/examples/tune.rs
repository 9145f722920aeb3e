//! Tries W-TinyLFU settings on the published traces OLTP, P12, glimpse and
//! scarab (a tuning aid).
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example tune -- 'default' 'fixed20:window=0.2,sample=0'
//! ```
//!
//! Each argument is `name:knob=value,...` over [`WTinyLfuConfig::default`]
//! (or over [`WTinyLfuConfig::v2`] when the knobs start with `v2`, as in
//! `'x:v2,stale=3'`); knobs: window, protected, sample (hill-climber sample,
//! 0 = off), step, decay, restart, ghost, sketch, cons, rand, mini (0 = off,
//! 1..3 = share sets), shares / ushares / nshares (`/`-separated window
//! shares of filtered, unfiltered and no-stale-tie miniatures), filter,
//! stale, ceil, door, mtarget, mrate, mperiod, mdecay, margin.
//! `NO_P12=1` skips the 13-million-request P12 trace; `EXTRA=1` runs other
//! traces and sizes instead (a check against over-fitting); `ONLY=name`
//! keeps one trace. Traces are read from `shared/traces` beside the
//! repository and held in memory.

use ttlkit_strategies::sim::Run;
use ttlkit_strategies::trace::TraceReader;
use ttlkit_strategies::{WTinyLfu, WTinyLfuConfig};

fn load(path: &str) -> Vec<u64> {
    TraceReader::open(format!("{}/../../shared/traces/{path}", env!("CARGO_MANIFEST_DIR")), None)
        .and_then(|r| r.collect::<Result<_, _>>())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(spec: &str) -> (String, WTinyLfuConfig) {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let (base, rest) = match rest.strip_prefix("v2") {
        Some(r) => (WTinyLfuConfig::v2(), r.trim_start_matches(',')),
        None => (WTinyLfuConfig::default(), rest),
    };
    let mut c = base;
    for kv in rest.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{kv}: expected knob=value"));
        if k == "shares" || k == "ushares" || k == "nshares" {
            let v: Vec<f64> = v
                .split('/')
                .filter(|x| !x.is_empty())
                .map(|x| x.parse().unwrap_or_else(|e| panic!("{kv}: {e}")))
                .collect();
            let v: &'static [f64] = Box::leak(v.into_boxed_slice());
            if k == "shares" {
                c.mini_shares = v;
            } else if k == "nshares" {
                c.mini_no_stale = v;
            } else {
                c.mini_unfiltered = v;
            }
            continue;
        }
        let f: f64 = v.parse().unwrap_or_else(|e| panic!("{kv}: {e}"));
        match k {
            "window" => c.initial_window = f,
            "protected" => c.protected_share = f,
            "sample" => c.climb_sample = f,
            "step" => c.climb_step = f,
            "decay" => c.climb_decay = f,
            "restart" => c.climb_restart = f,
            "ghost" => c.ghost_step = f as usize,
            "sketch" => c.sketch_sample = f,
            "cons" => c.conservative = f != 0.0,
            "rand" => c.random_admit = f != 0.0,
            "filter" => c.filter = f != 0.0,
            "stale" => c.stale_age = f,
            "ceil" => c.sketch_ceiling = f as u64,
            "door" => c.door_bits = f,
            "mtarget" => c.mini_target = f as usize,
            "mperiod" => c.mini_period = f,
            "mrate" => c.mini_min_rate = f as usize,
            "mdecay" => c.mini_decay = f,
            "margin" => c.mini_margin = f,
            "mini" => {
                c.mini_shares = match f as u32 {
                    0 => &[],
                    1 => &[0.01, 0.05, 0.2, 0.5, 0.99],
                    2 => &[0.01, 0.03, 0.1, 0.2, 0.3, 0.6, 0.99],
                    _ => &[0.01, 0.2, 0.99],
                };
                c.climb_sample = 0.0;
            }
            _ => panic!("unknown knob {k}"),
        }
    }
    (name.to_owned(), c)
}

fn main() {
    let specs: Vec<(String, WTinyLfuConfig)> = std::env::args().skip(1).map(|s| parse(&s)).collect();
    let skip_p12 = std::env::var("NO_P12").is_ok();
    let mut traces = vec![
        ("oltp", load("arc/OLTP.lis.zst"), vec![1000, 2000]),
        ("gli", load("lirs/gli.trace.gz"), vec![1000]),
        ("scarab", load("scarab/scarab-recs.trace.xz"), vec![100_000]),
    ];
    if !skip_p12 {
        traces.push(("p12", load("arc/P12.lis.zst"), vec![32_768]));
    }
    if std::env::var("EXTRA").is_ok() {
        traces = vec![
            ("oltp", load("arc/OLTP.lis.zst"), vec![500, 5000, 10000]),
            ("gli", load("lirs/gli.trace.gz"), vec![500, 1500, 2000]),
            ("multi1", load("lirs/multi1.trace.gz"), vec![500, 1000]),
            ("cpp", load("lirs/cpp.trace.gz"), vec![100, 300]),
            ("cs", load("lirs/cs.trace.gz"), vec![500, 1000]),
            ("web07", load("cache2k/web07.trace.xz"), vec![1000, 3000]),
            ("web12", load("cache2k/web12.trace.xz"), vec![1000, 3000]),
            ("corda", load("corda/trace_vaultservice.gz"), vec![1000, 10000]),
            ("scarab", load("scarab/scarab-recs.trace.xz"), vec![10_000, 50_000]),
            ("loop", load("lirs/loop.trace.gz"), vec![500]),
            ("zigzag", load("lirs/zigzag.trace.gz"), vec![500]),
        ];
    }
    if let Ok(only) = std::env::var("ONLY") {
        traces.retain(|t| t.0 == only);
    }
    println!("goal:     oltp@1000>=41.9 oltp@2000>=47.6 gli@1000>=51.3 scarab>=75.91 p12>=18.5");
    let results: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .chunks(specs.len().div_ceil(2).max(1))
            .map(|chunk| {
                let traces = &traces;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(name, c)| {
                            let mut line = format!("{name:<10}");
                            for (t, keys, sizes) in traces {
                                for &size in sizes {
                                    let mut run = Run::with_policy(Box::new(WTinyLfu::with_config(size, *c)), size);
                                    for &k in keys {
                                        run.access(k).unwrap_or_else(|e| panic!("{name}: {e}"));
                                    }
                                    let (r, h) = run.counts();
                                    line.push_str(&format!(" {t}@{size}={:.2}", 100.0 * h as f64 / r as f64));
                                }
                            }
                            line
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| panic!("a tuning thread panicked"))).collect()
    });
    for r in results {
        println!("{r}");
    }
}
