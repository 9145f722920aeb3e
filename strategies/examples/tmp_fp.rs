//! temp
use ttlkit_strategies::{EvictionPolicy, WTinyLfuAuto, mix64};
fn main() {
    for cap in [1000usize, 2000, 5000, 65537, 100000] {
        let mut p = WTinyLfuAuto::new(cap);
        let keys = 2 * cap as u64;
        let mut resident = vec![false; keys as usize];
        let mut len = 0;
        for i in 0..20 * cap as u64 {
            let r = mix64(i);
            let k = (((r >> 32) * (r & 0xffff_ffff)) >> 32) % keys;
            if resident[k as usize] { p.on_hit(k); continue; }
            p.on_insert(k, mix64(k)); resident[k as usize] = true; len += 1;
            while len > cap { let v = p.evict().unwrap(); resident[v as usize] = false; len -= 1; }
        }
        println!("{cap}: extra {:.1} B/entry", p.extra_bytes() as f64 / cap as f64);
    }
}
