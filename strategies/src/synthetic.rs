//! Generated access traces that stress what eviction policies get wrong:
//! popularity that drifts, periodic scans, loops slightly larger than the
//! cache, and bursts of keys seen once. Every trace is a pure function of
//! its [`Workload`], cache size and seed, so anyone can reproduce it.
//!
//! ```
//! use ttlkit_strategies::synthetic::{generate, Workload};
//!
//! let keys = generate(Workload::LoopOver, 100, 7);
//! assert_eq!(keys, generate(Workload::LoopOver, 100, 7), "deterministic");
//! assert_eq!(keys.len(), Workload::LoopOver.requests(100));
//! ```

use crate::mix64;

/// A family of generated workloads, each sized relative to a cache of
/// `cache` entries (see [`generate`]).
///
/// ```
/// use std::collections::HashSet;
/// use ttlkit_strategies::synthetic::{generate, Workload};
///
/// assert_eq!(Workload::ALL.len(), 4);
/// assert_eq!(Workload::PeriodicScans.name(), "periodic-scans");
/// assert_eq!(Workload::PeriodicScans.requests(100), 5_000, "50 requests per cache entry");
///
/// // The scans bring keys seen once: far more distinct keys than a cache of 100 holds.
/// let trace = generate(Workload::PeriodicScans, 100, 1);
/// assert!(trace.iter().collect::<HashSet<_>>().len() > 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Workload {
    /// Zipf (skew 0.9) over 20 × `cache` keys whose popularity ranks
    /// rotate: every 2 × `cache` requests the hottest keys shift by 1% of
    /// the cache, so yesterday's favourites cool and new ones warm up.
    DriftingZipf,
    /// Zipf (skew 0.8) over 10 × `cache` keys, interrupted every
    /// 10 × `cache` requests by a sequential scan of 2 × `cache` keys never
    /// seen before: a cache that admits the scan loses its hot set.
    PeriodicScans,
    /// A loop over 1.1 × `cache` keys (four requests in five) mixed with
    /// Zipf (skew 0.8) over 5 × `cache` others: LRU misses every loop
    /// request; keeping most of the loop resident wins.
    LoopOver,
    /// Zipf (skew 1.0) over 10 × `cache` keys with bursts of keys seen once:
    /// every 5 × `cache` requests, `cache` / 2 new keys in a row.
    OneHitBursts,
}

impl Workload {
    /// Every workload, in a stable order.
    pub const ALL: &'static [Workload] =
        &[Workload::DriftingZipf, Workload::PeriodicScans, Workload::LoopOver, Workload::OneHitBursts];

    /// A short name, for tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::DriftingZipf => "zipf-drift",
            Workload::PeriodicScans => "periodic-scans",
            Workload::LoopOver => "loop-over",
            Workload::OneHitBursts => "one-hit-bursts",
        }
    }

    /// Requests generated for a cache of `cache` entries: 50 × `cache`
    /// (at least 1,000).
    pub fn requests(self, cache: usize) -> usize {
        cache.saturating_mul(50).max(1000)
    }
}

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// A uniform float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf ranks over `n` keys with skew `s`, drawn by inverting the CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n.max(1));
        let mut sum = 0.0;
        for rank in 1..=n.max(1) {
            sum += 1.0 / (rank as f64).powf(s);
            cdf.push(sum);
        }
        cdf.iter_mut().for_each(|c| *c /= sum);
        Zipf { cdf }
    }

    /// A rank, 0 (hottest) to n - 1.
    fn draw(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// Distinct keys per space, so the parts of a workload never collide.
fn key(space: u64, index: u64) -> u64 {
    mix64(space << 48 ^ index)
}

/// The trace of `workload` for a cache of `cache` entries (at least 10),
/// seeded by `seed`.
pub fn generate(workload: Workload, cache: usize, seed: u64) -> Vec<u64> {
    let cache = cache.max(10);
    let n = workload.requests(cache);
    let mut rng = Rng(seed ^ 0x5eed_0000 ^ workload as u64);
    let mut out = Vec::with_capacity(n);
    match workload {
        Workload::DriftingZipf => {
            let keys = 20 * cache;
            let zipf = Zipf::new(keys, 0.9);
            let step = (cache / 100).max(1);
            for i in 0..n {
                let shift = (i / (2 * cache)) * step;
                let rank = (zipf.draw(&mut rng) + shift) % keys;
                out.push(key(1, rank as u64));
            }
        }
        Workload::PeriodicScans => {
            let zipf = Zipf::new(10 * cache, 0.8);
            let mut fresh = 0u64;
            while out.len() < n {
                for _ in 0..10 * cache {
                    out.push(key(2, zipf.draw(&mut rng) as u64));
                }
                for _ in 0..2 * cache {
                    out.push(key(3, fresh));
                    fresh += 1;
                }
            }
            out.truncate(n);
        }
        Workload::LoopOver => {
            let zipf = Zipf::new(5 * cache, 0.8);
            let length = (cache * 11 / 10) as u64;
            let mut at = 0u64;
            for _ in 0..n {
                if rng.next() % 5 == 0 {
                    out.push(key(5, zipf.draw(&mut rng) as u64));
                } else {
                    out.push(key(4, at));
                    at = (at + 1) % length;
                }
            }
        }
        Workload::OneHitBursts => {
            let zipf = Zipf::new(10 * cache, 1.0);
            let mut fresh = 0u64;
            while out.len() < n {
                for _ in 0..5 * cache {
                    out.push(key(6, zipf.draw(&mut rng) as u64));
                }
                for _ in 0..cache / 2 {
                    out.push(key(7, fresh));
                    fresh += 1;
                }
            }
            out.truncate(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for &w in Workload::ALL {
            let keys = generate(w, 200, 1);
            assert_eq!(keys.len(), w.requests(200), "{}", w.name());
            assert_ne!(keys, generate(w, 200, 2), "{}: the seed matters", w.name());
        }
        // The loop's keys come round every 220 loop requests.
        let keys = generate(Workload::LoopOver, 200, 3);
        let loop_keys: std::collections::HashSet<u64> = (0..220).map(|i| key(4, i)).collect();
        assert_eq!(keys.iter().filter(|k| loop_keys.contains(k)).collect::<std::collections::HashSet<_>>().len(), 220);
        // Scans are never repeated.
        let keys = generate(Workload::PeriodicScans, 100, 3);
        let scan_keys: std::collections::HashSet<u64> = (0..10_000).map(|i| key(3, i)).collect();
        let scanned: Vec<&u64> = keys.iter().filter(|k| scan_keys.contains(k)).collect();
        let distinct: std::collections::HashSet<_> = scanned.iter().collect();
        assert_eq!((scanned.len(), distinct.len()), (800, 800));
    }

    #[test]
    fn zipf_is_skewed() {
        let z = Zipf::new(1000, 1.0);
        let mut rng = Rng(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[z.draw(&mut rng)] += 1;
        }
        assert!(counts[0] > 10 * counts[99] && counts[99] > counts[999]);
    }
}
