//! Memory per resident entry and speed of each policy, driven the way a
//! backend drives one shard: dense ids (slot numbers), a skewed stream of
//! keys over twice the capacity, a counting allocator.
//!
//! ```text
//! cargo run --release -p ttlkit-strategies --example footprint -- lru,w-tinylfu,w-tinylfu-v2 1000,100000
//! ```

#[path = "support/cpu.rs"]
mod cpu;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cpu::cpu_time;
use ttlkit_strategies::{mix64, PolicyKind};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kinds = args.get(1).map_or("lru,w-tinylfu,w-tinylfu-v2", String::as_str);
    let sizes = args.get(2).map_or("1000,10000,100000,1000000", String::as_str);
    println!("policy,capacity,bytes_per_entry,accesses_per_second,hit_ratio");
    for name in kinds.split(',') {
        let Ok(kind) = PolicyKind::from_name(name) else {
            eprintln!("unknown policy {name}");
            std::process::exit(2);
        };
        for size in sizes.split(',') {
            let Ok(cap) = size.parse::<usize>() else {
                eprintln!("bad size {size}");
                std::process::exit(2);
            };
            let keys = 2 * cap as u64;
            // Skewed keys: the product of two uniform draws favours small keys.
            let stream: Vec<u64> = (0..20 * cap as u64)
                .map(|i| {
                    let r = mix64(i);
                    (((r >> 32) * (r & 0xffff_ffff)) >> 32) % keys
                })
                .collect();
            let mut resident = vec![false; keys as usize];
            let before = LIVE.load(Ordering::Relaxed);
            let mut p = kind.build(cap);
            let mut len = 0usize;
            let mut hits = 0u64;
            let start = cpu_time();
            for &k in &stream {
                if resident[k as usize] {
                    hits += 1;
                    p.on_hit(k);
                    continue;
                }
                p.on_insert(k, mix64(k));
                resident[k as usize] = true;
                len += 1;
                while len > cap {
                    match p.evict() {
                        Some(v) => {
                            resident[v as usize] = false;
                            len -= 1;
                        }
                        None => break,
                    }
                }
            }
            let secs = (cpu_time() - start).as_secs_f64().max(1e-9);
            let bytes = LIVE.load(Ordering::Relaxed).saturating_sub(before);
            println!(
                "{name},{cap},{:.1},{:.0},{:.2}",
                bytes as f64 / cap as f64,
                stream.len() as f64 / secs,
                100.0 * hits as f64 / stream.len() as f64
            );
            drop(p);
        }
    }
}
