//! Simulator speed: replays a trace held in memory through each policy (the
//! simulator's `Run`, as `simulate` does) and reports requests per second
//! of CPU time and the ratio to LRU's, measured in the same process. Rounds
//! are interleaved and the best of them is kept, and time is the thread's
//! CPU time, so a busy machine slows every policy alike.
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example sim_speed -- \
//!     ../shared/traces/arc/OLTP.lis.zst lru,w-tinylfu-auto 1000,100000 5
//! ```

#[path = "support/cpu.rs"]
mod cpu;

use cpu::cpu_time;
use ttlkit_strategies::sim::Run;
use ttlkit_strategies::trace::TraceReader;
use ttlkit_strategies::PolicyKind;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: sim_speed TRACE [POLICIES [SIZES [ROUNDS]]]");
        std::process::exit(2);
    };
    let keys: Vec<u64> = match TraceReader::open(path, None).and_then(|r| r.collect()) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let names = args.get(2).map_or("lru,w-tinylfu-auto", String::as_str);
    let sizes = args.get(3).map_or("1000,100000", String::as_str);
    let rounds: usize = args.get(4).and_then(|r| r.parse().ok()).unwrap_or(3);
    let mut kinds = vec![PolicyKind::Lru];
    for name in names.split(',') {
        match PolicyKind::from_name(name) {
            Ok(k) if !kinds.contains(&k) => kinds.push(k),
            Ok(_) => {}
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
    println!("policy,size,requests_per_second,ratio_to_lru");
    for size in sizes.split(',').filter_map(|s| s.parse::<usize>().ok()) {
        let mut best = vec![0.0f64; kinds.len()];
        for _ in 0..rounds {
            for (i, &kind) in kinds.iter().enumerate() {
                let mut run = Run::new(kind, size);
                let start = cpu_time();
                for &k in &keys {
                    if let Err(e) = run.access(k) {
                        eprintln!("{kind} at {size}: {e}");
                        std::process::exit(1);
                    }
                }
                let rate = keys.len() as f64 / (cpu_time() - start).as_secs_f64().max(1e-9);
                best[i] = best[i].max(rate);
            }
        }
        for (i, kind) in kinds.iter().enumerate() {
            println!("{kind},{size},{:.0},{:.2}", best[i], best[i] / best[0]);
        }
    }
}
