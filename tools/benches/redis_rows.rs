//! What the network hop costs and what an L1 buys back: `redis` and
//! `tiered` rows in the compare bench's CSV shape, on one server and on a
//! Redis Cluster, next to moka and quick_cache used directly on the same
//! workloads in the same run; then the measured L1 invalidation delay.
//!
//! `REDIS_URL=redis://127.0.0.1:PORT REDIS_CLUSTER_URLS=redis://127.0.0.1:P1,redis://127.0.0.1:P2,...
//! cargo bench -p ttlkit-tools --features redis --bench redis_rows` (either
//! variable alone measures that deployment alone).
//!
//! Rows: `backend,policy,workload,threads,mops,p50_ns,p99_ns,hit_ratio,
//! bytes_per_entry,vs_quick_cache,vs_moka` (ratios are this row's Mops over
//! the reference's Mops on the same workload and threads; below 1 is
//! slower). `redis-cluster` and `tiered-cluster` are the cluster's rows.
//! Workloads, over 10,000 keys loaded beforehand:
//! * `get-hit`: uniform random `get`s (every one a hit),
//! * `mixed-90-10`: 90% `get`, 10% `insert` of a new value.
//!
//! Every subject reads all keys before each run (the tiered cache's L1
//! starts warm, each key read until L1 holds it; its 5 s lifetime means a
//! Redis read or two per hot key every 5 s in a steady state, one when the
//! copy expires and one when the read that refills it slides the shared
//! deadline, which Redis reports; a short run does not include them). Latencies are
//! sampled (every 32nd operation is timed). `bytes_per_entry` is Redis's
//! `used_memory` growth per entry (summed over a cluster's masters; L2
//! only, L1 copies are extra) and is left empty for the in-process caches.
//!
//! The delays (lines starting `#`): from a write until the copy is gone
//! from a tiered cache's L1, by client tracking and by pub/sub, the write
//! made by another ttlkit cache or by a plain `redis-cli` in another process
//! (which needs `redis-cli` on `PATH`; tracking only: pub/sub hears only
//! ttlkit's writes). `REDIS_ROWS_ROUNDS` sets the rounds (default 500).

#![allow(missing_docs)]

#[path = "redis_rows/delay.rs"]
mod delay;
#[path = "redis_rows/measure.rs"]
mod measure;

use delay::Writer;
use measure::Deployment;
use ttlkit::InvalidationMode;

fn main() {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut deployments = Vec::new();
    if let Some(url) = var("REDIS_URL") {
        deployments.push(Deployment::Single(url));
    }
    if let Some(seeds) = var("REDIS_CLUSTER_URLS") {
        deployments.push(Deployment::Cluster(seeds.split(',').map(|s| s.trim().to_owned()).collect()));
    }
    if deployments.is_empty() {
        eprintln!(
            "note: neither REDIS_URL nor REDIS_CLUSTER_URLS is set; no redis rows (start redis-server and set \
             REDIS_URL=redis://127.0.0.1:PORT)"
        );
        return;
    }
    let secs = var("REDIS_ROWS_SECS").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let rounds = var("REDIS_ROWS_ROUNDS").and_then(|s| s.parse().ok()).unwrap_or(500);
    println!("{}", measure::HEADER);
    for row in measure::rows(&deployments, std::time::Duration::from_secs_f64(secs)) {
        println!("{row}");
    }
    for d in &deployments {
        for (mode, writer) in [
            (InvalidationMode::Tracking, Writer::Ours),
            (InvalidationMode::Tracking, Writer::RedisCli),
            (InvalidationMode::PubSub, Writer::Ours),
        ] {
            match delay::measure(d, mode, writer, rounds) {
                Ok(delays) => println!("# {delays}"),
                Err(e) => println!("# invalidation delay ({}, {mode:?}, {writer:?}) not measured: {e}", d.name()),
            }
        }
    }
}
