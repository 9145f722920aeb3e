//! How a window candidate gets into the main area, in each setting the
//! tuner can choose.

use super::block_sketch::BlockSketch;

/// An admission rule for the candidate leaving the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Always: a segmented LRU behind the window (with a full-size window,
    /// plain LRU).
    All,
    /// TinyLFU's duel: only if the sketch counts the candidate more than
    /// this many accesses above the main area's victim.
    ///
    /// With 0 a candidate wins with one access more. With 1 the access
    /// that brought the candidate in is discounted: under equal rates (a
    /// loop, a scan, a zigzag) the candidate has always just been counted
    /// and the victim is about to be, so an undiscounted duel admits every
    /// candidate and evicts, each time, the entry needed soonest.
    Duel(u8),
    /// Only if the sketch has counted the candidate at least this often
    /// lately, whatever the victim (as S3-FIFO admits what its ghost
    /// remembers): no duel to lose for a key of middling frequency in a
    /// large cache.
    Seen(u8),
}

/// Deterministic jitter for the duel: a warm candidate that loses it is
/// still admitted once in 128 times (as in Caffeine), so keys flooded at a
/// victim's frequency cannot pin it in place; the policy stays
/// reproducible.
#[derive(Debug, Clone)]
pub(super) struct Jitter(u64);

impl Default for Jitter {
    fn default() -> Self {
        Jitter(0x2545_f491_4f6c_dd1d)
    }
}

impl Jitter {
    fn one_in_128(&mut self) -> bool {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 127 == 0
    }
}

/// Whether `candidate` (a key hash) enters the main area under `rule`,
/// where it would displace `victim`.
#[inline]
pub(super) fn admits(sketch: &BlockSketch, candidate: u32, victim: u32, rule: Admission, jitter: &mut Jitter) -> bool {
    match rule {
        Admission::All => true,
        Admission::Seen(times) => sketch.frequency(candidate) >= times,
        Admission::Duel(bias) => {
            let c = sketch.frequency(candidate);
            // A candidate counted at most `bias` times loses to any victim
            // and is too cold for the jitter: the victim's count (another
            // cache line) need not be read.
            if c <= bias {
                return false;
            }
            c > sketch.frequency(victim).saturating_add(bias) || (c >= 6 && jitter.one_in_128())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let mut sketch = BlockSketch::new(1024, 1_000_000);
        let h = |k: u64| (crate::mix64(k) >> 34) as u32;
        let (twice, once, never) = (h(1), h(2), h(3));
        sketch.increment(twice);
        sketch.increment(twice);
        sketch.increment(once);
        let mut j = Jitter::default();
        assert!(admits(&sketch, never, twice, Admission::All, &mut j));
        assert!(admits(&sketch, twice, once, Admission::Duel(0), &mut j));
        assert!(!admits(&sketch, twice, once, Admission::Duel(1), &mut j), "one more access is not enough");
        assert!(!admits(&sketch, once, once, Admission::Duel(0), &mut j), "ties keep the victim");
        assert!(admits(&sketch, twice, twice, Admission::Seen(2), &mut j));
        assert!(!admits(&sketch, once, never, Admission::Seen(2), &mut j));
    }

    /// A hot candidate that keeps losing is still let in now and then.
    #[test]
    fn warm_losers_are_sometimes_admitted() {
        let mut sketch = BlockSketch::new(1024, 1_000_000);
        let (a, b) = ((crate::mix64(1) >> 34) as u32, (crate::mix64(2) >> 34) as u32);
        for _ in 0..15 {
            sketch.increment(a);
            sketch.increment(b);
        }
        let mut j = Jitter::default();
        let admitted = (0..12_800).filter(|_| admits(&sketch, a, b, Admission::Duel(0), &mut j)).count();
        assert!((50..200).contains(&admitted), "{admitted} of 12,800");
    }
}
