//! What the network hop costs and what an L1 buys back: `redis` and
//! `tiered` rows in the compare bench's CSV shape, next to moka and
//! quick_cache used directly on the same workloads in the same run, plus
//! the measured L1 invalidation delay.
//!
//! `REDIS_URL=redis://127.0.0.1:PORT cargo bench -p ttlkit-tools --features redis --bench redis_rows`
//!
//! Rows: `backend,policy,workload,threads,mops,p50_ns,p99_ns,hit_ratio,
//! bytes_per_entry,vs_quick_cache,vs_moka` (ratios are this row's Mops over
//! the reference's Mops on the same workload and threads; below 1 is
//! slower). Workloads, over 10,000 keys loaded beforehand:
//! * `get-hit`: uniform random `get`s (every one a hit),
//! * `mixed-90-10`: 90% `get`, 10% `insert` of a new value.
//!
//! Every subject reads all keys once before each run (the tiered cache's L1
//! starts warm; its 5 s lifetime means one Redis read per hot key every 5 s
//! in a steady state, which a 1 s run does not include). Latencies are
//! sampled (every 32nd operation is timed). `bytes_per_entry`
//! is Redis's `used_memory` growth per entry for `redis` and `tiered` (L2
//! only; L1 copies are extra) and is left empty for the in-process caches.
//! The measurement functions live in `redis_rows/measure.rs` so the compare
//! bench can include them as a module.

#![allow(missing_docs)]

#[path = "redis_rows/measure.rs"]
mod measure;

fn main() {
    let Ok(url) = std::env::var("REDIS_URL") else {
        eprintln!(
            "note: REDIS_URL is not set; no redis rows (start redis-server and set REDIS_URL=redis://127.0.0.1:PORT)"
        );
        return;
    };
    let secs = std::env::var("REDIS_ROWS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    println!("{}", measure::HEADER);
    for row in measure::rows(&url, std::time::Duration::from_secs_f64(secs)) {
        println!("{row}");
    }
    match measure::invalidation_delay(&url, 500) {
        Ok(d) => println!("# {d}"),
        Err(e) => println!("# invalidation delay not measured: {e}"),
    }
}
