//! [`SlidingCounts`]: two event counts over a sliding window, kept in
//! tenths of it (the retry budget's requests and retries, the circuit
//! breaker's requests and failures).

use std::time::Duration;

use crate::clock::{duration_to_nanos, Ticks};

/// The window is counted in this many buckets, so it slides in steps of a
/// tenth of itself.
const BUCKETS: usize = 10;

/// One tenth of the window's counts.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slice of time (`now / bucket length`) the counts are for.
    epoch: u64,
    counts: [u64; 2],
}

/// Two counts over the last `window`, as of a given instant. Not
/// synchronised: its owner keeps it under its own lock, so a check and the
/// count it leads to are one step.
#[derive(Debug, Clone)]
pub(crate) struct SlidingCounts {
    bucket_nanos: u64,
    buckets: [Bucket; BUCKETS],
}

impl SlidingCounts {
    /// Empty counts over `window`.
    pub(crate) fn new(window: Duration) -> SlidingCounts {
        // At least a nanosecond, so a tiny window still divides time.
        let bucket_nanos = (duration_to_nanos(window) / BUCKETS as u64).max(1);
        SlidingCounts { bucket_nanos, buckets: [Bucket::default(); BUCKETS] }
    }

    /// Runs `f` on the counts of the bucket holding `now` and the window's
    /// totals up to `now`.
    pub(crate) fn at<R>(&mut self, now: Ticks, f: impl FnOnce(&mut [u64; 2], [u64; 2]) -> R) -> R {
        let epoch = now.as_nanos() / self.bucket_nanos;
        let slot = (epoch % BUCKETS as u64) as usize;
        if self.buckets[slot].epoch != epoch {
            // A slot last used a whole window (or more) ago: start it afresh.
            self.buckets[slot] = Bucket { epoch, counts: [0, 0] };
        }
        // Buckets of the last BUCKETS epochs, this one included, count.
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        let totals = self
            .buckets
            .iter()
            .filter(|b| (oldest..=epoch).contains(&b.epoch))
            .fold([0u64, 0u64], |[a, b], bucket| [a + bucket.counts[0], b + bucket.counts[1]]);
        f(&mut self.buckets[slot].counts, totals)
    }

    /// Forgets every count.
    pub(crate) fn reset(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Ticks {
        Ticks::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn counts_slide_out_a_tenth_at_a_time() {
        let mut w = SlidingCounts::new(Duration::from_secs(10));
        w.at(at(0), |c, _| c[0] += 3);
        w.at(at(5), |c, _| c[1] += 1);
        assert_eq!(w.at(at(9), |_, t| t), [3, 1]);
        assert_eq!(w.at(at(10), |_, t| t), [0, 1], "the first second's counts slid out");
        assert_eq!(w.at(at(30), |_, t| t), [0, 0]);
        w.at(at(30), |c, _| c[0] += 1);
        w.reset();
        assert_eq!(w.at(at(30), |_, t| t), [0, 0]);
    }

    #[test]
    fn a_slot_reused_after_a_window_starts_afresh() {
        let mut w = SlidingCounts::new(Duration::from_secs(10));
        w.at(at(1), |c, _| c[0] += 7);
        // Epoch 11 maps to the same slot as epoch 1.
        assert_eq!(w.at(at(11), |c, t| (*c, t)), ([0, 0], [0, 0]));
    }
}
