//! Chooses the main cache's window share and admission rule by sampled
//! miniature simulation (after Waldspurger et al., "Cache Modeling and
//! Optimization using Miniature Simulations", ATC 2017).
//!
//! Each candidate setting runs as a miniature cache that replays the
//! requests of a hash-sampled subset of keys, scaled down with them. The
//! full cache follows one candidate and changes to another only when the
//! evidence says so: the per-period difference of their hits (batch means,
//! so the bursts of hits that loops and scans bring are not counted as
//! independent evidence) must be significant by a t-test, or large.

use super::admission::Admission;
use super::block_sketch::BlockSketch;
use super::mini::{Mini, MAX_SLOTS};

/// Miniatures hold a 32nd of the capacity...
const MINI_DIVISOR: usize = 32;
/// ...and at least this many entries...
const MINI_FLOOR: usize = 28;
/// ...or this many divided by the capacity, which is more below 1,000
/// entries (where memory is cheap and loops need precise miniatures)...
const MINI_AREA: usize = 28_000;
/// ...but at most this many.
const MINI_MOST: usize = 4096;
/// Sampled requests per period, per miniature entry.
const PERIOD: f64 = 0.25;
/// Each period keeps this much of the earlier evidence (a memory of about
/// 200 periods, 50 miniature turnovers: longer than the cycles of loops
/// and zigzags, so their phases do not pass for a trend).
const DECAY: f64 = 0.995;
/// The t-statistic a lead must reach.
const Z: f64 = 3.0;
/// A lead of this share of the requests, with a t-statistic of at least
/// [`FAST_Z`], is enough too (a large gap need not wait for significance).
const MARGIN: f64 = 0.005;
const FAST_Z: f64 = 2.0;
/// No change before the miniatures have turned over this many times.
const MIN_TURNS: f64 = 2.0;

#[derive(Debug, Clone)]
struct Candidate {
    mini: Mini,
    /// Hits this period.
    period_hits: f64,
    /// Decayed sum over periods of its hits.
    sum: f64,
}

/// The miniatures and the running choice between them.
#[derive(Debug, Clone)]
pub(super) struct Tuner {
    /// A key is sampled when its sampling hash is at most this.
    limit: u32,
    candidates: Vec<Candidate>,
    /// The followed candidate.
    best: usize,
    /// The miniatures' nominal size, and the full cache's.
    size: usize,
    capacity: usize,
    /// Requests seen, and those sampled.
    requests: u64,
    sampled: u64,
    /// Sampled requests since the miniatures filled (0 until they do),
    /// and in the current period.
    evidence: u64,
    in_period: u64,
    period: u64,
    /// Periods behind the sums (decayed like them).
    periods: f64,
    /// Decayed sums over periods of the products of two candidates' hits
    /// (the lower triangle, row by row: see [`pair`]), for the variance of
    /// their difference.
    products: Vec<f64>,
    hits: Vec<bool>,
}

impl Tuner {
    /// Miniatures of `variants` for a cache of `capacity` entries (as
    /// sized, see [`crate::sized`]); the first variant is followed first.
    pub(super) fn new(capacity: usize, variants: &[(f64, Admission)]) -> Tuner {
        let wanted = (capacity / MINI_DIVISOR).max(MINI_FLOOR).max(MINI_AREA / capacity.max(1));
        // A whole small cache at most, and never more than the most.
        let target = wanted.clamp(1, capacity.clamp(1, MINI_MOST));
        let rate = (capacity / target).max(1);
        let size = (capacity / rate).max(1);
        let limit = (u64::from(u32::MAX) / rate as u64) as u32;
        let most = (size + size / 4).min(MAX_SLOTS - 1);
        let candidates: Vec<Candidate> = variants
            .iter()
            .map(|&(share, admission)| Candidate {
                mini: Mini::new(size, most, share, admission),
                period_hits: 0.0,
                sum: 0.0,
            })
            .collect();
        let k = candidates.len();
        Tuner {
            limit,
            candidates,
            best: 0,
            size,
            capacity,
            requests: 0,
            sampled: 0,
            evidence: 0,
            in_period: 0,
            period: ((PERIOD * size as f64) as u64).max(1),
            periods: 0.0,
            products: vec![0.0; k * (k + 1) / 2],
            hits: vec![false; k],
        }
    }

    /// Bytes on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.candidates.capacity() * std::mem::size_of::<Candidate>()
            + self.candidates.iter().map(|c| c.mini.heap_bytes()).sum::<usize>()
            + self.products.capacity() * 8
            + self.hits.capacity()
    }

    /// The followed candidate's window share and admission rule.
    pub(super) fn choice(&self) -> (f64, Admission) {
        self.candidates.get(self.best).map_or((1.0, Admission::All), |c| c.mini.setting())
    }

    /// Feeds one request (already counted by `sketch`); at the end of a
    /// period returns the setting to follow.
    #[inline]
    pub(super) fn record(&mut self, hash: u32, sketch: &BlockSketch) -> Option<(f64, Admission)> {
        self.requests += 1;
        // Sampling by a multiplicative hash of the (already mixed) hash, so
        // the sampled keys are not the ones that share sketch blocks.
        if hash.wrapping_mul(0x2c1b_3c6d) > self.limit {
            return None;
        }
        self.record_sampled(hash, sketch)
    }

    /// [`record`](Self::record) for a sampled request.
    #[inline(never)]
    fn record_sampled(&mut self, hash: u32, sketch: &BlockSketch) -> Option<(f64, Admission)> {
        self.sampled += 1;
        for (c, hit) in self.candidates.iter_mut().zip(&mut self.hits) {
            *hit = c.mini.access(hash, sketch);
        }
        // Until the miniatures are full they all hit alike: no evidence.
        if self.evidence == 0 && !self.candidates.iter().all(|c| c.mini.is_full()) {
            return None;
        }
        for (c, &hit) in self.candidates.iter_mut().zip(&self.hits) {
            c.period_hits += f64::from(u8::from(hit));
        }
        self.evidence += 1;
        self.in_period += 1;
        if self.in_period < self.period {
            return None;
        }
        self.in_period = 0;
        self.rescale();
        self.decide();
        Some(self.choice())
    }

    /// Sizes the miniatures to the share of the requests their keys have
    /// had, so a sample that drew more or fewer keys than its rate
    /// promises keeps their proportion to the full cache (which matters
    /// where the hit ratio jumps with size: loops).
    fn rescale(&mut self) {
        let share = self.sampled as f64 / self.requests.max(1) as f64;
        let size = ((self.capacity as f64 * share).round() as usize).max(self.size / 2);
        for c in &mut self.candidates {
            c.mini.resize(size);
        }
    }

    /// Ends a period: follows another candidate if its lead over the
    /// followed one is significant (t-test on the decayed per-period
    /// leads), or at least `margin` of the requests, once the miniatures
    /// have turned over `min_turns` times.
    fn decide(&mut self) {
        self.periods = self.periods * DECAY + 1.0;
        let k = self.candidates.len();
        for i in 0..k {
            for j in 0..=i {
                let p = &mut self.products[pair(i, j)];
                *p = *p * DECAY + self.candidates[i].period_hits * self.candidates[j].period_hits;
            }
        }
        for c in &mut self.candidates {
            c.sum = c.sum * DECAY + c.period_hits;
            c.period_hits = 0.0;
        }
        if (self.evidence as f64) < MIN_TURNS * self.size as f64 || self.periods < 3.0 {
            return;
        }
        let (n, b) = (self.periods, self.best);
        let mut best = b;
        let mut best_t = Z;
        for i in 0..k {
            let mean = (self.candidates[i].sum - self.candidates[b].sum) / n;
            let q = self.products[pair(i, i)] - 2.0 * self.products[pair(i, b)] + self.products[pair(b, b)];
            let var = (q / n - mean * mean).max(0.0);
            let mut t = mean / (var / n).sqrt().max(1e-9);
            if mean > MARGIN * self.period as f64 && t > FAST_Z {
                t = t.max(Z + mean);
            }
            if t > best_t {
                best = i;
                best_t = t;
            }
        }
        self.best = best;
    }
}

/// Where the product of candidates `i` and `j` is kept (either order).
fn pair(i: usize, j: usize) -> usize {
    let (hi, lo) = if i >= j { (i, j) } else { (j, i) };
    hi * (hi + 1) / 2 + lo
}
