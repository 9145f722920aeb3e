//! Window sizing by miniature simulation (after Waldspurger et al.,
//! "Cache Modeling and Optimization using Miniature Simulations", ATC 2017).
//!
//! A few scaled-down copies of W-TinyLFU, each with a fixed window share,
//! replay a hash-sampled subset of the requests (one key in `rate`, with
//! `1/rate` of the capacity). Every period the share whose miniature has hit
//! most recently (exponentially decayed) is proposed to the full cache.

use crate::sim::Run;
use crate::{mix64, WTinyLfu, WTinyLfuConfig};

/// Entries a miniature aims for: smaller is cheaper, larger is more faithful.
const MINI_TARGET: usize = 256;
/// Sampled requests per miniature entry between two decisions.
const PERIOD_PER_ENTRY: u64 = 3;

#[derive(Debug)]
struct Mini {
    share: f64,
    run: Run,
    last_hits: u64,
    score: f64,
}

/// Runs the miniatures and picks the best window share.
#[derive(Debug)]
pub(crate) struct WindowTuner {
    rate: u64,
    minis: Vec<Mini>,
    sampled: u64,
    period: u64,
    best: usize,
}

impl WindowTuner {
    pub(crate) fn new(capacity: usize, shares: &[f64], base: WTinyLfuConfig) -> WindowTuner {
        let rate = (capacity / MINI_TARGET).max(1);
        let size = (capacity / rate).max(1);
        let minis = shares
            .iter()
            .map(|&share| {
                let config = WTinyLfuConfig { initial_window: share, climb_sample: 0.0, mini_shares: &[], ..base };
                Mini {
                    share,
                    run: Run::with_policy(Box::new(WTinyLfu::with_config(size, config)), size),
                    last_hits: 0,
                    score: 0.0,
                }
            })
            .collect();
        WindowTuner { rate: rate as u64, minis, sampled: 0, period: PERIOD_PER_ENTRY * size as u64, best: 0 }
    }

    /// Feeds one request; at the end of a period returns the best share.
    pub(crate) fn record(&mut self, hash: u64) -> Option<f64> {
        if self.rate > 1 && mix64(hash ^ 0x5bd1_e995) % self.rate != 0 {
            return None;
        }
        for m in &mut self.minis {
            // A miniature's protocol error cannot happen (W-TinyLFU is
            // checked by the property tests); ignore it rather than panic.
            let _ = m.run.access(hash);
        }
        self.sampled += 1;
        if self.sampled < self.period {
            return None;
        }
        self.sampled = 0;
        for m in &mut self.minis {
            let hits = m.run.counts().1;
            m.score = m.score / 2.0 + (hits - m.last_hits) as f64;
            m.last_hits = hits;
        }
        let current = self.minis.get(self.best).map_or(0.0, |m| m.score);
        for (i, m) in self.minis.iter().enumerate() {
            if m.score > current && m.score > self.minis[self.best].score {
                self.best = i;
            }
        }
        self.minis.get(self.best).map(|m| m.share)
    }
}
