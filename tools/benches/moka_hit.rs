//! What the moka backend's own stamps cost on a get hit: single-threaded
//! ns/op of `MokaCache::get` next to `moka::sync::Cache::get` used directly,
//! in one run. A plain timing loop (the criterion suite is `benches/ops.rs`);
//! it reports, it asserts nothing.
//!
//! `cargo bench -p ttlkit-tools --bench moka_hit`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ttlkit::clock::MockClock;
use ttlkit::{CacheBuilder, MokaCache, MutexCache, SlidingTtlCache};

const OPS: u64 = 500_000;
const ROUNDS: usize = 9;
const TTI: Duration = Duration::from_secs(3600);

type Get<'a> = Box<dyn FnMut(u64) -> u64 + 'a>;

/// ns/op of one pass of `OPS` hits spread over `keys` keys.
fn pass(keys: u64, get: &mut Get<'_>) -> f64 {
    // A fixed odd stride visits every key in an order the prefetcher does
    // not follow.
    let mut k = 0u64;
    let mut sum = 0u64;
    let start = Instant::now();
    for _ in 0..OPS {
        k = (k + 7919) % keys;
        sum = sum.wrapping_add(get(black_box(k)));
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / OPS as f64
}

/// Median ns/op per variant; rounds are interleaved across the variants so
/// that a noisy neighbour on a shared machine hits them all alike.
fn measure(keys: u64, variants: &mut [(&str, Get<'_>)]) -> Vec<f64> {
    let mut samples = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, get)) in variants.iter_mut().enumerate() {
            samples[i].push(pass(keys, get));
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[ROUNDS / 2]
        })
        .collect()
}

fn raw_moka(keys: u64) -> moka::sync::Cache<u64, u64> {
    moka::sync::Cache::builder().max_capacity(2 * keys).time_to_idle(TTI).build()
}

fn raw_moka_as_wrapped(keys: u64) -> moka::sync::Cache<u64, Arc<(u64, u64)>, foldhash::fast::RandomState> {
    // What MokaCache asks of moka, minus our stamps: foldhash, an Arc'd
    // value, an eviction listener, LRU.
    moka::sync::Cache::builder()
        .max_capacity(2 * keys)
        .time_to_idle(TTI)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .eviction_listener(|_, _, _| {})
        .build_with_hasher(foldhash::fast::RandomState::default())
}

fn run(keys: u64) {
    let builder = || CacheBuilder::<u64, u64>::new().time_to_idle(TTI).max_capacity(2 * keys).no_sweeper();
    let raw = raw_moka(keys);
    let wrapped_raw = raw_moka_as_wrapped(keys);
    let ours: MokaCache<u64, u64> = builder().build().expect("valid config");
    let ours_mock: MokaCache<u64, u64> = builder().clock(MockClock::new()).build().expect("valid config");
    let mutex: MutexCache<u64, u64> = builder().build().expect("valid config");
    for k in 0..keys {
        raw.insert(k, k);
        wrapped_raw.insert(k, Arc::new((k, k)));
        ours.insert(k, k);
        ours_mock.insert(k, k);
        mutex.insert(k, k);
    }
    raw.run_pending_tasks();
    wrapped_raw.run_pending_tasks();
    ours.purge_expired();
    ours_mock.purge_expired();

    let mut variants: Vec<(&str, Get<'_>)> = vec![
        ("moka::sync::Cache direct (default hasher, TinyLFU)", Box::new(|k| raw.get(&k).unwrap_or(0))),
        (
            "moka::sync::Cache direct, set up as MokaCache sets it up (foldhash, Arc value, listener, LRU)",
            Box::new(|k| wrapped_raw.get(&k).map_or(0, |v| v.1)),
        ),
        ("MokaCache, SystemClock", Box::new(|k| ours.get(&k).unwrap_or(0))),
        ("MokaCache, MockClock", Box::new(|k| ours_mock.get(&k).unwrap_or(0))),
        ("MutexCache, SystemClock (reference)", Box::new(|k| mutex.get(&k).unwrap_or(0))),
    ];
    let results = measure(keys, &mut variants);
    println!("\nsingle-thread get hit, {keys} keys, median of {ROUNDS} interleaved rounds x {OPS} ops");
    for ((name, _), ns) in variants.iter().zip(&results) {
        println!("{ns:8.1} ns/op  {:5.2}x moka direct  {name}", ns / results[0]);
    }
    let s = ours.stats();
    assert_eq!(s.misses, 0, "every lookup was a hit");
}

fn main() {
    for keys in [100, 10_000] {
        run(keys);
    }
}
