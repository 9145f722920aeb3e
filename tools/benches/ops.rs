//! Per-operation micro benchmarks (criterion): every backend next to
//! `moka::sync::Cache` and `quick_cache::sync::Cache` used directly, in the
//! same benchmark groups, so criterion's report compares them.
//!
//! Run: `cargo bench --bench ops` (one group: `cargo bench --bench ops -- get_hit`).

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache};

const N: u64 = 10_000;
const TTI: Duration = Duration::from_secs(3600);

fn ours(kind: BackendKind) -> AnyCache<u64, u64> {
    let b = CacheBuilder::new().time_to_idle(TTI).max_capacity(2 * N).no_sweeper();
    AnyCache::new(kind, b).expect("backend builds")
}

fn moka_raw() -> moka::sync::Cache<u64, u64> {
    moka::sync::Cache::builder().max_capacity(2 * N).time_to_idle(TTI).build()
}

fn quick_raw() -> quick_cache::sync::Cache<u64, u64> {
    quick_cache::sync::Cache::new(2 * N as usize)
}

/// Runs `op` over keys `0..N` round robin, for each cache kind.
macro_rules! bench_all {
    ($c:expr, $group:expr, $prefill:expr, |$cache:ident, $k:ident| $ours:expr, moka: $moka:expr, quick: $quick:expr) => {{
        let mut g = $c.benchmark_group($group);
        for &kind in BackendKind::ALL {
            let $cache = ours(kind);
            if $prefill {
                for k in 0..N {
                    $cache.insert(k, k);
                }
            }
            let mut $k = 0u64;
            g.bench_function(kind.name(), |b| {
                b.iter(|| {
                    $k = ($k + 1) % N;
                    black_box($ours)
                })
            });
        }
        {
            let $cache = moka_raw();
            if $prefill {
                for k in 0..N {
                    $cache.insert(k, k);
                }
            }
            let mut $k = 0u64;
            g.bench_function("moka (direct)", |b| {
                b.iter(|| {
                    $k = ($k + 1) % N;
                    black_box($moka)
                })
            });
        }
        {
            let $cache = quick_raw();
            if $prefill {
                for k in 0..N {
                    $cache.insert(k, k);
                }
            }
            let mut $k = 0u64;
            g.bench_function("quick_cache (direct, no expiry)", |b| {
                b.iter(|| {
                    $k = ($k + 1) % N;
                    black_box($quick)
                })
            });
        }
        g.finish();
    }};
}

fn get_hit(c: &mut Criterion) {
    bench_all!(c, "get_hit", true, |cache, k| cache.get(&k), moka: cache.get(&k), quick: cache.get(&k));
}

fn get_miss(c: &mut Criterion) {
    bench_all!(c, "get_miss", true, |cache, k| cache.get(&(k + N)), moka: cache.get(&(k + N)), quick: cache.get(&(k + N)));
}

fn insert(c: &mut Criterion) {
    bench_all!(c, "insert (overwrite)", true, |cache, k| cache.insert(k, k), moka: cache.insert(k, k), quick: cache.insert(k, k));
}

fn get_or_insert(c: &mut Criterion) {
    bench_all!(c, "get_or_insert (hit)", true,
        |cache, k| cache.get_or_insert_with(k, || k),
        moka: cache.get_with(k, || k),
        quick: cache.get_or_insert_with(&k, || Ok::<u64, ()>(k)));
}

fn remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("remove (then reinsert)");
    for &kind in BackendKind::ALL {
        let cache = ours(kind);
        g.bench_function(kind.name(), |b| {
            b.iter_batched(
                || {
                    cache.insert(7, 7);
                },
                |()| black_box(cache.remove(&7)),
                BatchSize::SmallInput,
            )
        });
    }
    let m = moka_raw();
    g.bench_function("moka (direct)", |b| {
        b.iter_batched(|| m.insert(7, 7), |()| black_box(m.remove(&7)), BatchSize::SmallInput)
    });
    let q = quick_raw();
    g.bench_function("quick_cache (direct, no expiry)", |b| {
        b.iter_batched(|| q.insert(7, 7), |()| black_box(q.remove(&7)), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = get_hit, get_miss, insert, get_or_insert, remove
}
criterion_main!(benches);
