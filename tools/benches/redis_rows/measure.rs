//! The redis/tiered rows: each subject on each workload, on one server and
//! on a cluster.

use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

/// Where the Redis subjects live.
#[derive(Debug, Clone)]
pub enum Deployment {
    Single(String),
    Cluster(Vec<String>),
}

impl Deployment {
    pub fn name(&self) -> &'static str {
        match self {
            Deployment::Single(_) => "single server",
            Deployment::Cluster(_) => "3-master cluster",
        }
    }

    pub fn options(&self) -> RedisOptions {
        match self {
            Deployment::Single(url) => RedisOptions::new(url),
            Deployment::Cluster(seeds) => RedisOptions::cluster(seeds.clone()),
        }
    }

    /// The URL of each master.
    fn masters(&self) -> Option<Vec<String>> {
        let seeds = match self {
            Deployment::Single(url) => return Some(vec![url.clone()]),
            Deployment::Cluster(seeds) => seeds,
        };
        let mut con = redis::Client::open(seeds.first()?.as_str()).ok()?.get_connection().ok()?;
        let mut urls: Vec<String> =
            slot_ranges(&mut con)?.into_iter().map(|(_, _, host, port)| format!("redis://{host}:{port}")).collect();
        urls.sort();
        urls.dedup();
        Some(urls)
    }

    /// Redis's `used_memory`, summed over the masters.
    fn used_memory(&self) -> Option<f64> {
        self.masters()?.iter().map(|url| used_memory(url)).sum()
    }

    /// The first node's URL and `n` keys whose entries (in `cache`) it
    /// serves, so that `redis-cli` connected to it is never redirected.
    pub fn keys_on_first_node(&self, cache: &TieredCache<u64, u64>, n: usize) -> Result<(String, Vec<u64>), String> {
        let seeds = match self {
            Deployment::Single(url) => return Ok((url.clone(), (0..n as u64).collect())),
            Deployment::Cluster(seeds) => seeds,
        };
        let url = seeds.first().ok_or("no seed")?;
        let mut con = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).map_err(|e| e.to_string())?;
        let port =
            url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse::<u16>().ok()).ok_or("seed port")?;
        let ranges: Vec<(u16, u16)> = slot_ranges(&mut con)
            .ok_or("CLUSTER SLOTS")?
            .into_iter()
            .filter(|r| r.3 == port)
            .map(|r| (r.0, r.1))
            .collect();
        let mut keys = Vec::with_capacity(n);
        for k in 0..100_000u64 {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(cache.l2().redis_key(&k))
                .query(&mut con)
                .map_err(|e| e.to_string())?;
            if ranges.iter().any(|(a, b)| (*a..=*b).contains(&slot)) {
                keys.push(k);
                if keys.len() == n {
                    return Ok((url.clone(), keys));
                }
            }
        }
        Err("no key lands on the first seed".to_owned())
    }
}

/// `(first slot, last slot, master host, master port)` of each range in
/// `CLUSTER SLOTS`.
fn slot_ranges(con: &mut redis::Connection) -> Option<Vec<(u16, u16, String, u16)>> {
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(con).ok()?;
    ranges
        .into_iter()
        .map(|range| {
            let redis::Value::Array(parts) = range else { return None };
            let redis::Value::Array(master) = parts.get(2)? else { return None };
            Some((
                redis::from_redis_value(parts.first()?.clone()).ok()?,
                redis::from_redis_value(parts.get(1)?.clone()).ok()?,
                redis::from_redis_value(master.first()?.clone()).ok()?,
                redis::from_redis_value(master.get(1)?.clone()).ok()?,
            ))
        })
        .collect()
}

/// The CSV header the rows print under.
pub const HEADER: &str =
    "backend,policy,workload,threads,mops,p50_ns,p99_ns,hit_ratio,bytes_per_entry,vs_quick_cache,vs_moka";

/// Keys loaded before each run.
pub const KEYS: u64 = 10_000;
/// The tiered cache's L1 idle timeout and lifetime: every hot key is read
/// again from Redis once per this period in a steady state (a run starts
/// with a warm L1 and is shorter than this, so the rows show L1 hits).
pub const L1_TTL: Duration = Duration::from_secs(5);
/// Every `SAMPLE`-th operation is timed for the latency percentiles.
const SAMPLE: u64 = 32;
const THREADS: [usize; 2] = [1, 2];

/// A workload: the share of operations that are inserts.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub name: &'static str,
    pub insert_per_mille: u64,
}

pub const WORKLOADS: [Workload; 2] =
    [Workload { name: "get-hit", insert_per_mille: 0 }, Workload { name: "mixed-90-10", insert_per_mille: 100 }];

/// One CSV row.
#[derive(Debug, Clone)]
pub struct Row {
    pub backend: &'static str,
    pub policy: String,
    pub workload: &'static str,
    pub threads: usize,
    pub mops: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub hit_ratio: f64,
    pub bytes_per_entry: Option<f64>,
    pub vs_quick_cache: f64,
    pub vs_moka: f64,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes_per_entry.map(|b| format!("{b:.0}")).unwrap_or_default();
        write!(
            f,
            "{},{},{},{},{:.4},{},{},{:.3},{},{:.4},{:.4}",
            self.backend,
            self.policy,
            self.workload,
            self.threads,
            self.mops,
            self.p50_ns,
            self.p99_ns,
            self.hit_ratio,
            bytes,
            self.vs_quick_cache,
            self.vs_moka
        )
    }
}

/// A cache under measurement.
#[derive(Clone)]
enum Subject {
    QuickCache(Arc<quick_cache::sync::Cache<u64, u64>>),
    Moka(moka::sync::Cache<u64, u64>),
    Redis(RedisCache<u64, u64>),
    Tiered(TieredCache<u64, u64>),
}

impl Subject {
    fn get(&self, k: u64) -> bool {
        match self {
            Subject::QuickCache(c) => c.get(&k).is_some(),
            Subject::Moka(c) => c.get(&k).is_some(),
            Subject::Redis(c) => c.get(&k).is_some(),
            Subject::Tiered(c) => c.get(&k).is_some(),
        }
    }

    fn insert(&self, k: u64, v: u64) {
        match self {
            Subject::QuickCache(c) => c.insert(k, v),
            Subject::Moka(c) => c.insert(k, v),
            Subject::Redis(c) => c.insert(k, v),
            Subject::Tiered(c) => c.insert(k, v),
        }
    }

    fn fill(&self) {
        for k in 0..KEYS {
            self.insert(k, k);
        }
    }

    /// Reads every key (so a tiered cache starts a run with its L1 holding
    /// every key, as it would in a steady state). A tiered read that slides
    /// the shared L2 deadline is a change Redis reports, which drops the
    /// copy it made; the next read keeps one, so a tiered cache gets two
    /// more passes over the keys its L1 lacks.
    fn warm(&self) {
        for k in 0..KEYS {
            black_box(self.get(k));
        }
        if let Subject::Tiered(t) = self {
            for _ in 0..2 {
                thread::sleep(Duration::from_millis(20));
                for k in (0..KEYS).filter(|k| !t.l1().contains_key(k)) {
                    black_box(self.get(k));
                }
            }
        }
    }
}

/// A small fast generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What one run measured.
struct Measured {
    mops: f64,
    p50_ns: u64,
    p99_ns: u64,
    hit_ratio: f64,
}

/// Runs `workload` on `threads` threads for `secs`.
fn run(subject: &Subject, w: Workload, threads: usize, secs: Duration) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (subject, stop, start) = (subject.clone(), Arc::clone(&stop), Arc::clone(&start));
            thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1));
                let (mut ops, mut gets, mut hits) = (0u64, 0u64, 0u64);
                let mut lat = Vec::with_capacity(1 << 16);
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..SAMPLE {
                        let r = rng.next();
                        let k = r % KEYS;
                        let timed = ops % SAMPLE == 0;
                        let t0 = timed.then(Instant::now);
                        if (r >> 32) % 1000 < w.insert_per_mille {
                            subject.insert(k, black_box(r));
                        } else {
                            gets += 1;
                            hits += u64::from(subject.get(black_box(k)));
                        }
                        if let Some(t0) = t0 {
                            lat.push(t0.elapsed().as_nanos() as u64);
                        }
                        ops += 1;
                    }
                }
                (ops, gets, hits, lat)
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    thread::sleep(secs);
    stop.store(true, Ordering::Relaxed);
    let (mut ops, mut gets, mut hits, mut lat) = (0, 0, 0, Vec::new());
    for h in handles {
        if let Ok((o, g, hi, l)) = h.join() {
            ops += o;
            gets += g;
            hits += hi;
            lat.extend(l);
        }
    }
    let elapsed = began.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |q: f64| lat.get(((lat.len().saturating_sub(1)) as f64 * q) as usize).copied().unwrap_or(0);
    Measured {
        mops: ops as f64 / elapsed / 1e6,
        p50_ns: pct(0.5),
        p99_ns: pct(0.99),
        hit_ratio: if gets == 0 { 0.0 } else { hits as f64 / gets as f64 },
    }
}

fn used_memory(url: &str) -> Option<f64> {
    let mut con = redis::Client::open(url).ok()?.get_connection().ok()?;
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).ok()?;
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok())
}

pub fn prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("ttlkit-bench:{tag}:{}:{nanos}", std::process::id())
}

fn redis_cache(d: &Deployment, tag: &str) -> Option<RedisCache<u64, u64>> {
    d.options().prefix(prefix(tag)).build(CacheBuilder::new().time_to_idle(Duration::from_secs(600))).ok()
}

/// Builds each subject, fills it, runs every workload at every thread
/// count; returns the rows of quick_cache and moka (ratio 1 to themselves)
/// and of `redis` and `tiered` on each deployment, with their ratios
/// against the two measured in the same call.
pub fn rows(deployments: &[Deployment], secs: Duration) -> Vec<Row> {
    let mut subjects: Vec<(&'static str, String, Subject, Option<f64>)> = vec![
        (
            "quick_cache",
            "native".into(),
            Subject::QuickCache(Arc::new(quick_cache::sync::Cache::new(2 * KEYS as usize))),
            None,
        ),
        (
            "moka",
            "w-tinylfu".into(),
            Subject::Moka(
                moka::sync::Cache::builder().max_capacity(2 * KEYS).time_to_idle(Duration::from_secs(600)).build(),
            ),
            None,
        ),
    ];
    for d in deployments {
        let (redis_name, tiered_name) = match d {
            Deployment::Single(_) => ("redis", "tiered"),
            Deployment::Cluster(_) => ("redis-cluster", "tiered-cluster"),
        };
        if let Some(c) = redis_cache(d, "redis") {
            let before = d.used_memory();
            let s = Subject::Redis(c);
            s.fill();
            let bytes = before.zip(d.used_memory()).map(|(b, a)| (a - b) / KEYS as f64);
            subjects.push((redis_name, "maxmemory".into(), s, bytes));
        }
        if let Some(l2) = redis_cache(d, "tiered") {
            let l1 = CacheBuilder::new().time_to_idle(L1_TTL).max_capacity(2 * KEYS);
            if let Ok(t) = TieredCache::new(l1, l2) {
                let deadline = Instant::now() + Duration::from_secs(10);
                while !t.is_live() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(2));
                }
                let before = d.used_memory();
                let mode = t.invalidation_stats().mode;
                let s = Subject::Tiered(t);
                s.fill();
                let bytes = before.zip(d.used_memory()).map(|(b, a)| (a - b) / KEYS as f64);
                let policy = format!("l1=mutex-lru-{}s {mode:?}", L1_TTL.as_secs());
                subjects.push((tiered_name, policy, s, bytes));
            }
        }
    }
    for (_, _, s, _) in &subjects[..2] {
        s.fill();
    }
    let mut rows = Vec::new();
    for w in WORKLOADS {
        for threads in THREADS {
            let measured: Vec<Measured> = subjects
                .iter()
                .map(|(_, _, s, _)| {
                    s.warm();
                    run(s, w, threads, secs)
                })
                .collect();
            let (quick, moka) = (measured[0].mops, measured[1].mops);
            for ((backend, policy, _, bytes), m) in subjects.iter().zip(measured) {
                rows.push(Row {
                    backend,
                    policy: policy.clone(),
                    workload: w.name,
                    threads,
                    mops: m.mops,
                    p50_ns: m.p50_ns,
                    p99_ns: m.p99_ns,
                    hit_ratio: m.hit_ratio,
                    bytes_per_entry: *bytes,
                    vs_quick_cache: m.mops / quick,
                    vs_moka: m.mops / moka,
                });
            }
        }
    }
    for (_, _, s, _) in &subjects {
        match s {
            Subject::Redis(c) => c.clear(),
            Subject::Tiered(c) => c.clear(),
            _ => {}
        }
    }
    rows
}
