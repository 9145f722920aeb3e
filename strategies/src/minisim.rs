//! Window sizing by miniature simulation (after Waldspurger et al.,
//! "Cache Modeling and Optimization using Miniature Simulations", ATC 2017).
//!
//! A few scaled-down copies of W-TinyLFU, each with a fixed window share
//! (and, as variants, without the frequency filter or without stale-victim
//! ties), replay a hash-sampled subset of the requests (one key in `rate`,
//! with `1/rate` of the capacity). Every period the variant whose miniature
//! has hit most recently (exponentially decayed) is proposed to the full
//! cache, if it beats the current one by the configured margin.

use crate::sim::Run;
use crate::{mix64, WTinyLfu, WTinyLfuConfig};

#[derive(Debug)]
struct Mini {
    share: f64,
    filter: bool,
    stale: bool,
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
    decay: f64,
    margin: f64,
}

impl WindowTuner {
    pub(crate) fn new(capacity: usize, base: WTinyLfuConfig) -> WindowTuner {
        let rate = (capacity / base.mini_target.max(1)).max(base.mini_min_rate).max(1);
        let size = (capacity / rate).max(1);
        // On equal scores the first variant wins: unfiltered ones first, then
        // filtered ones without stale ties, then the plain ones.
        let variants = base
            .mini_unfiltered
            .iter()
            .map(|&s| (s, false, true))
            .chain(base.mini_no_stale.iter().map(|&s| (s, true, false)))
            .chain(base.mini_shares.iter().map(|&s| (s, true, true)));
        let minis: Vec<Mini> = variants
            .map(|(share, filter, stale)| {
                let config = WTinyLfuConfig {
                    initial_window: share,
                    climb_sample: 0.0,
                    mini_shares: &[],
                    mini_unfiltered: &[],
                    mini_no_stale: &[],
                    filter,
                    stale_age: if stale { base.stale_age } else { 0.0 },
                    ..base
                };
                Mini {
                    share,
                    filter,
                    stale,
                    run: Run::with_policy(Box::new(WTinyLfu::with_config(size, config)), size),
                    last_hits: 0,
                    score: 0.0,
                }
            })
            .collect();
        let period = ((base.mini_period * size as f64) as u64).max(1);
        // Start from the miniature that matches the full cache's own start.
        let best = minis
            .iter()
            .position(|m: &Mini| m.filter == base.filter && m.stale && m.share == base.initial_window)
            .unwrap_or(0);
        WindowTuner {
            rate: rate as u64,
            minis,
            sampled: 0,
            period,
            best,
            decay: base.mini_decay,
            margin: base.mini_margin,
        }
    }

    /// Feeds one request; at the end of a period returns the best variant:
    /// its window share, whether it filters, whether stale victims lose ties.
    pub(crate) fn record(&mut self, hash: u64) -> Option<(f64, bool, bool)> {
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
            m.score = m.score * self.decay + (hits - m.last_hits) as f64;
            m.last_hits = hits;
        }
        let current = self.minis.get(self.best).map_or(0.0, |m| m.score);
        let bar = current * (1.0 + self.margin);
        for (i, m) in self.minis.iter().enumerate() {
            if m.score > bar && m.score > self.minis[self.best].score {
                self.best = i;
            }
        }
        self.minis.get(self.best).map(|m| (m.share, m.filter, m.stale))
    }
}
