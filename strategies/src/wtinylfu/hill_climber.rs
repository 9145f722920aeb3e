//! Caffeine-style hill climbing of the window size.

use super::WTinyLfuConfig;

/// Caffeine's hill climber: nudges the window size towards a better hit ratio.
#[derive(Debug, Clone)]
pub(super) struct HillClimber {
    capacity: usize,
    sample_size: u64,
    hits: u64,
    misses: u64,
    previous_ratio: f64,
    step: f64,
    first_step: f64,
    decay: f64,
    restart: f64,
}

impl HillClimber {
    pub(super) fn new(capacity: usize, config: &WTinyLfuConfig) -> Self {
        let sample = capacity.max(1) as f64 * config.climb_sample;
        HillClimber {
            capacity,
            sample_size: if sample >= 1.0 { sample as u64 } else { u64::MAX },
            decay: config.climb_decay,
            restart: config.climb_restart,
            first_step: config.climb_step,
            hits: 0,
            misses: 0,
            previous_ratio: 0.0,
            step: config.climb_step * capacity as f64,
        }
    }

    /// Counts one access; at the end of a sample returns the window change.
    pub(super) fn record(&mut self, hit: bool) -> Option<i64> {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        let n = self.hits + self.misses;
        if n < self.sample_size {
            return None;
        }
        let ratio = self.hits as f64 / n as f64;
        let change = ratio - self.previous_ratio;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= self.restart {
            self.first_step * self.capacity as f64 * amount.signum()
        } else {
            self.decay * amount
        };
        self.previous_ratio = ratio;
        self.hits = 0;
        self.misses = 0;
        Some(amount as i64)
    }
}
