//! Chooses the window share by sampled miniature simulation (after
//! Waldspurger et al., "Cache Modeling and Optimization using Miniature
//! Simulations", ATC 2017): miniatures with fixed window shares replay the
//! requests of a hash-sampled subset of keys, and the full cache follows
//! the one that has hit most lately.

use super::block_sketch::BlockSketch;
use super::mini::Mini;
use super::{Admission, AutoConfig};

#[derive(Debug, Clone)]
struct Candidate {
    share: f64,
    admission: Admission,
    mini: Mini,
    /// Hits this period.
    period_hits: f64,
    /// Decayed sum over periods of its hits.
    sum: f64,
}

/// The miniatures and the running choice between them.
#[derive(Debug, Clone)]
pub(crate) struct Tuner {
    /// A key is sampled when its sampling hash is below this.
    limit: u32,
    candidates: Vec<Candidate>,
    sampled: u64,
    period: u64,
    best: usize,
    decay: f64,
    margin: f64,
    z: f64,
    /// Requests behind the scores (decayed like them).
    weight: f64,
    /// Periods behind the sums (decayed like them).
    periods: f64,
    hits: Vec<bool>,
    /// Decayed sums over periods of the products of two candidates' hits
    /// (row-major, `i * len + j`), for the variance of their difference.
    products: Vec<f64>,
    /// Research: periods spent following each candidate.
    pub(crate) followed: Vec<u64>,
    switches: Vec<(u64, usize)>,
    total: u64,
    requests: u64,
    capacity: usize,
    scale: bool,
    warm: bool,
}

impl Tuner {
    /// Miniatures for a cache of `capacity` entries (as sized, see
    /// [`crate::sized`]).
    pub(crate) fn new(capacity: usize, config: &AutoConfig) -> Tuner {
        let target = if config.mini_div > 0.0 {
            ((capacity as f64 / config.mini_div) as usize).max(capacity.min(config.mini_floor)).min(config.mini_entries)
        } else {
            config.mini_entries
        }
        .max(1);
        let rate = (capacity / target).max(1);
        let size = (capacity / rate).max(1);
        let limit = (u64::from(u32::MAX) / rate as u64) as u32;
        let candidates: Vec<Candidate> = config
            .variants
            .iter()
            .map(|&(share, admission)| Candidate {
                share,
                admission,
                mini: Mini::new(size, size + size / 4, share, admission),
                period_hits: 0.0,
                sum: 0.0,
            })
            .collect();
        let best = candidates
            .iter()
            .position(|c| c.share == config.initial_window && c.admission != Admission::All)
            .unwrap_or(0);
        let period = if config.batch > 0 {
            config.batch.min(size) as u64
        } else {
            ((config.period * size as f64) as u64).max(1)
        };
        let decay = if config.horizon > 0.0 {
            (1.0 - period as f64 / (config.horizon * size as f64)).max(0.0)
        } else {
            config.decay
        };
        Tuner {
            limit,
            candidates,
            sampled: 0,
            period,
            best,
            decay,
            margin: config.margin,
            z: config.z,
            weight: 0.0,
            periods: 0.0,
            hits: vec![false; config.variants.len()],
            products: vec![0.0; config.variants.len() * config.variants.len()],
            followed: vec![0; config.variants.len()],
            switches: Vec::new(),
            total: 0,
            requests: 0,
            capacity,
            scale: config.scale,
            warm: false,
        }
    }

    /// Bytes on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.candidates.capacity() * std::mem::size_of::<Candidate>()
            + self.candidates.iter().map(|c| c.mini.heap_bytes()).sum::<usize>()
    }

    /// Research: (share, periods followed, score) per candidate.
    pub(crate) fn report(&self) -> String {
        self.candidates
            .iter()
            .zip(&self.followed)
            .map(|(c, f)| format!("{}{:?}:{}", c.share, c.admission, f))
            .collect::<Vec<_>>()
            .join(" ")
            + &format!(" sampled {} switches {:?}", self.total, self.switches)
    }

    /// The share followed now.
    pub(crate) fn share(&self) -> (f64, Admission) {
        self.candidates.get(self.best).map_or((0.0, Admission::All), |c| (c.share, c.admission))
    }

    /// Feeds one request (already counted by `sketch`); at the end of a
    /// period returns the window share to follow.
    pub(crate) fn record(&mut self, hash: u32, sketch: &BlockSketch) -> Option<(f64, Admission)> {
        self.requests += 1;
        if crate::mix64(u64::from(hash) ^ 0x5bd1_e995_a5a5_5a5a) as u32 > self.limit {
            return None;
        }
        for (c, hit) in self.candidates.iter_mut().zip(&mut self.hits) {
            *hit = c.mini.access(hash, sketch);
        }
        // Until the miniatures are full they all hit alike: no evidence.
        if !self.warm {
            self.warm = self.candidates.iter().all(|c| c.mini.is_full());
            if !self.warm {
                return None;
            }
        }
        for (c, &hit) in self.candidates.iter_mut().zip(&self.hits) {
            c.period_hits += f64::from(u8::from(hit));
        }
        self.sampled += 1;
        self.total += 1;
        if self.sampled < self.period {
            return None;
        }
        self.sampled = 0;
        if self.scale {
            // The miniatures hold the share of the capacity that the sampled
            // keys have had of the requests (so a sample that drew more or
            // fewer keys than its rate promises keeps their proportion to
            // the full cache, which matters where hit ratio jumps with size).
            let size = (self.capacity as f64 * self.total as f64 / self.requests as f64).round() as usize;
            for c in &mut self.candidates {
                c.mini.resize(size);
            }
        }
        self.weight = self.weight * self.decay + self.period as f64;
        // A t-test on the per-period leads (batch means, so bursts of hits
        // within a period do not count as independent evidence): switch to
        // the candidate whose mean lead over the followed one is both
        // significant and large enough to pay for the change.
        self.periods = self.periods * self.decay + 1.0;
        let k = self.candidates.len();
        for i in 0..k {
            for j in 0..k {
                let p = &mut self.products[i * k + j];
                *p = *p * self.decay + self.candidates[i].period_hits * self.candidates[j].period_hits;
            }
        }
        for c in &mut self.candidates {
            c.sum = c.sum * self.decay + c.period_hits;
            c.period_hits = 0.0;
        }
        let n = self.periods;
        let b = self.best;
        let mut best = b;
        let mut best_t = self.z;
        for i in 0..k {
            let mean = (self.candidates[i].sum - self.candidates[b].sum) / n;
            let q = self.products[i * k + i] - 2.0 * self.products[i * k + b] + self.products[b * k + b];
            let var = (q / n - mean * mean).max(0.0);
            let t = mean / (var / n).sqrt().max(1e-9);
            let t = if mean > self.margin * self.period as f64 { t.max(self.z + mean) } else { t };
            if n >= 3.0 && t > best_t {
                best = i;
                best_t = t;
            }
        }
        if best != self.best {
            self.switches.push((self.total, best));
        }
        self.best = best;
        self.followed[best] += 1;
        Some(self.share())
    }
}
