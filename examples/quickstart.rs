//! A tour of ttlkit in real time (about two seconds): sliding expiry, the
//! max-lifetime cap, capacity eviction and the removal listener, with the
//! background sweeper reclaiming entries while nobody touches the cache.
//!
//! Run: `cargo run --release --example quickstart`

use std::sync::mpsc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use ttlkit::prelude::*;

fn main() -> Result<(), BuildError> {
    let start = Instant::now();
    let ms = move || start.elapsed().as_millis();
    let (tx, removals) = mpsc::channel::<(u128, String, RemovalCause)>();

    let cache: MutexCache<String, String> = CacheBuilder::new()
        .time_to_idle(Duration::from_millis(300))
        .time_to_live(Duration::from_millis(1200))
        .max_capacity(3)
        .policy("lru")
        .sweep_interval(Duration::from_millis(20))
        .removal_listener(move |key: &String, _value, cause| {
            let _ = tx.send((ms(), key.clone(), cause));
        })
        .build()?;
    let report = |what: &str| {
        while let Ok((at, key, cause)) = removals.try_recv() {
            println!("{at:>5} ms  listener: {key:<5} left ({cause})");
        }
        println!("{:>5} ms  {what}", ms());
    };

    println!("time_to_idle 300 ms, time_to_live 1200 ms, max_capacity 3 (lru), sweeper every 20 ms\n");
    cache.insert("hot".into(), "read every 100 ms".into());
    cache.insert("idle".into(), "never read".into());
    report("inserted `hot` and `idle`");

    for _ in 0..4 {
        sleep(Duration::from_millis(100));
        let hit = cache.get("hot").is_some();
        report(&format!("get(hot) -> {}", if hit { "hit: its idle deadline slides forward" } else { "miss" }));
    }
    report("`idle` was never read: the sweeper removed it at ~300 ms, with no call on the cache");

    cache.insert("a".into(), "1".into());
    cache.insert("b".into(), "2".into());
    cache.get("hot");
    cache.insert("c".into(), "3".into());
    report("inserted `a`, `b`, read `hot`, inserted `c`: 4 > capacity 3, LRU evicts `a`");

    while start.elapsed() < Duration::from_millis(1400) {
        sleep(Duration::from_millis(100));
        let hit = cache.get("hot").is_some();
        report(&format!("get(hot) -> {}", if hit { "hit" } else { "miss: max lifetime reached despite constant use" }));
        if !hit {
            break;
        }
    }
    sleep(Duration::from_millis(400));
    report("400 ms without traffic: the sweeper has reclaimed everything");
    println!("\nstats: {}\nlen() = {}", cache.stats(), cache.len());
    Ok(())
}
