//! The load figures: async get-or-insert under tokio beside
//! `moka::future::Cache::get_with`, and refresh-ahead beside the same
//! cache without it and moka's sync `get_with`, in one process.
//!
//! Async: a Zipf(0.9) stream over `keys` keys against a cache of
//! `capacity`, so both hits and loads happen; each op awaits
//! `get_or_insert_async(key, async move { key })` (moka: `get_with`). The
//! tasks run on a 2-worker tokio runtime and split one stream; Mops/s is
//! every task's ops over the wall time of the slowest.
//!
//! Refresh-ahead: one thread of `get_or_insert_with` on 1,000 hot keys of a
//! cache whose entries are older than `refresh_after(1 ms)` after the first
//! millisecond, so the hits also decide (and, once per key and millisecond,
//! start) reloads; beside the same cache without `refresh_after` and moka's
//! `sync::Cache::get_with`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache};

use crate::cli::Plan;
use crate::report::render;
use crate::workloads::{self, Shape};

/// One measured row of a load figure.
#[derive(Debug, Clone)]
pub struct LoadRow {
    pub figure: &'static str,
    pub row: String,
    pub tasks: usize,
    pub mops: f64,
    pub vs_moka: Option<f64>,
    /// `init`s run (loads started).
    pub loads: u64,
}

const TASKS: [usize; 3] = [1, 2, 4];
const MOKA_ASYNC: &str = "moka::future get_with";
const HOT_KEYS: u64 = 1_000;

/// Both figures.
pub fn figures(plan: &Plan) -> Result<Vec<LoadRow>, String> {
    let mut rows = async_rows(plan)?;
    rows.extend(refresh_rows(plan));
    let snapshot = rows.clone();
    for r in &mut rows {
        let anchor =
            snapshot.iter().find(|a| a.figure == r.figure && a.tasks == r.tasks && a.row.starts_with("moka::"));
        r.vs_moka = anchor.map(|a| r.mops / a.mops);
    }
    Ok(rows)
}

fn async_rows(plan: &Plan) -> Result<Vec<LoadRow>, String> {
    let shape = Shape { keys: plan.keys, len: plan.stream_len, capacity: plan.capacity };
    let stream = workloads::zipf(shape, 0.9)?.keys;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let ops = (plan.warmup_ops as u64 * 4).min(stream.len() as u64);
    let mut rows = Vec::new();
    for &tasks in &TASKS {
        for &backend in BackendKind::ALL {
            let builder = CacheBuilder::new().max_capacity(plan.capacity).time_to_idle(Duration::from_secs(3600));
            let cache: AnyCache<u64, u64> = AnyCache::new(backend, builder).map_err(|e| e.to_string())?;
            let took = runtime.block_on(run_tasks(tasks, ops, &stream, move |k| {
                let cache = cache.clone();
                async move { cache.get_or_insert_async(k, async move { k }).await }
            }));
            rows.push(row("async get-or-insert", format!("ttlkit {backend}"), tasks, ops, took, 0));
        }
        let moka: moka::future::Cache<u64, u64> =
            moka::future::Cache::builder().max_capacity(plan.capacity).time_to_idle(Duration::from_secs(3600)).build();
        let took = runtime.block_on(run_tasks(tasks, ops, &stream, move |k| {
            let moka = moka.clone();
            async move { moka.get_with(k, async move { k }).await }
        }));
        rows.push(row("async get-or-insert", MOKA_ASYNC.into(), tasks, ops, took, 0));
    }
    Ok(rows)
}

/// Runs `ops` calls of `op` split over `tasks` tasks; the wall time.
async fn run_tasks<F, Fut>(tasks: usize, ops: u64, stream: &Arc<Vec<u64>>, op: F) -> Duration
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let per_task = ops / tasks as u64;
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (op, stream) = (op.clone(), Arc::clone(stream));
            tokio::spawn(async move {
                let offset = t * stream.len() / tasks;
                let mut sum = 0u64;
                for i in 0..per_task as usize {
                    sum = sum.wrapping_add(op(stream[(offset + i) % stream.len()]).await);
                }
                black_box(sum)
            })
        })
        .collect();
    for h in handles {
        let _ = h.await;
    }
    start.elapsed()
}

fn refresh_rows(plan: &Plan) -> Vec<LoadRow> {
    let ops = plan.warmup_ops as u64 * 4;
    let mut rows = Vec::new();
    for (label, refresh) in [("ttlkit sharded, refresh_after(1 ms)", true), ("ttlkit sharded, no refresh", false)] {
        let mut b = CacheBuilder::new().time_to_idle(Duration::from_secs(3600));
        if refresh {
            b = b.refresh_after(Duration::from_millis(1));
        }
        let Ok(cache) = AnyCache::<u64, u64>::new(BackendKind::Sharded, b) else { continue };
        let took = timed(ops, |k| cache.get_or_insert_with(k, || k));
        let loads = cache.stats().loads_started;
        rows.push(row("refresh-ahead get-or-insert", label.into(), 1, ops, took, loads));
    }
    let moka: moka::sync::Cache<u64, u64> =
        moka::sync::Cache::builder().time_to_idle(Duration::from_secs(3600)).build();
    let took = timed(ops, |k| moka.get_with(k, || k));
    rows.push(row("refresh-ahead get-or-insert", "moka::sync get_with (no refresh)".into(), 1, ops, took, 0));
    rows
}

fn timed(ops: u64, mut op: impl FnMut(u64) -> u64) -> Duration {
    let mut sum = 0u64;
    let start = Instant::now();
    for i in 0..ops {
        sum = sum.wrapping_add(op(black_box(i.wrapping_mul(7919) % HOT_KEYS)));
    }
    black_box(sum);
    start.elapsed()
}

fn row(figure: &'static str, row: String, tasks: usize, ops: u64, took: Duration, loads: u64) -> LoadRow {
    let mops = ops as f64 / took.as_secs_f64().max(1e-9) / 1e6;
    LoadRow { figure, row, tasks, mops, vs_moka: None, loads }
}

pub fn table(rows: &[LoadRow], md: bool) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.figure.to_owned(),
                r.row.clone(),
                r.tasks.to_string(),
                format!("{:.2}", r.mops),
                r.vs_moka.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                if r.loads > 0 { r.loads.to_string() } else { "-".into() },
            ]
        })
        .collect();
    render(&["figure", "row", "tasks", "Mops/s", "vs moka", "inits"], &cells, 2, md)
}
