//! A count-min sketch of 4-bit counters whose four counters for a key lie
//! in one 64-byte block, so counting or estimating a key touches one cache
//! line; sized to a whole number of blocks for any capacity (no rounding
//! up to a power of two, so the bytes per entry are the same at every
//! capacity).

/// Words per block: 8 × 8 bytes, one cache line.
const BLOCK_WORDS: usize = 8;
/// Counters per block (sixteen per word).
const BLOCK_COUNTERS: usize = BLOCK_WORDS * 16;
/// A counter's ceiling.
const MAX_COUNT: u64 = 15;

/// Approximate recent access counts of 32-bit key hashes.
///
/// Each key maps to one block and to four counters in it (one in each of
/// four distinct words); its estimate is the smallest of the four.
/// Increments are conservative (only the smallest counters grow), and every
/// `sample` increments every counter is halved, so popularity fades.
#[derive(Debug, Clone)]
pub(crate) struct BlockSketch {
    words: Vec<u64>,
    blocks: u64,
    sample: u64,
    additions: u64,
}

impl BlockSketch {
    /// A sketch of `counters` counters (rounded up to whole blocks, at
    /// least one), halved every `sample` increments.
    pub(crate) fn new(counters: usize, sample: u64) -> BlockSketch {
        let blocks = counters.div_ceil(BLOCK_COUNTERS).max(1);
        BlockSketch {
            words: vec![0; blocks * BLOCK_WORDS],
            blocks: blocks as u64,
            sample: sample.max(1),
            additions: 0,
        }
    }

    /// Grows to `counters` counters (whole blocks) and a sample of
    /// `sample`, keeping the estimates roughly: a key's new block takes the
    /// counters of the old block that covered its part of the hash range.
    pub(crate) fn grow(&mut self, counters: usize, sample: u64) {
        let blocks = counters.div_ceil(BLOCK_COUNTERS).max(1) as u64;
        if blocks > self.blocks {
            let mut words = vec![0; blocks as usize * BLOCK_WORDS];
            for (b, block) in words.chunks_exact_mut(BLOCK_WORDS).enumerate() {
                let old = (b as u64 * self.blocks / blocks) as usize * BLOCK_WORDS;
                block.copy_from_slice(&self.words[old..old + BLOCK_WORDS]);
            }
            self.words = words;
            self.blocks = blocks;
        }
        self.sample = self.sample.max(sample);
    }

    /// Bytes of counters.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Increments between two halvings.
    #[cfg(test)]
    pub(crate) fn sample(&self) -> u64 {
        self.sample
    }

    /// The four (word, shift) positions of `hash`'s counters.
    fn positions(&self, hash: u32) -> [(usize, u32); 4] {
        let h = crate::mix64(u64::from(hash));
        // The block from the high half (a multiply-shift range reduction),
        // the words and nibbles from the low half.
        let block = ((h >> 32) * self.blocks) >> 32;
        let base = block as usize * BLOCK_WORDS;
        // Four distinct words: a rotation of 0..8 by 0..8, stepping by an
        // odd stride so the four are different.
        let start = (h & 7) as usize;
        let stride = ((h >> 3) & 3) as usize * 2 + 1;
        let mut out = [(0, 0); 4];
        for (i, slot) in out.iter_mut().enumerate() {
            let word = base + (start + i * stride) % BLOCK_WORDS;
            let nibble = ((h >> (8 + 4 * i)) & 15) as u32;
            *slot = (word, nibble * 4);
        }
        out
    }

    /// The estimated recent accesses of `hash`, 0 to 15.
    pub(crate) fn frequency(&self, hash: u32) -> u8 {
        self.positions(hash).iter().map(|&(w, s)| (self.words[w] >> s) & 0xf).min().unwrap_or(0) as u8
    }

    /// Counts one access of `hash`; halves everything when the sample is full.
    pub(crate) fn increment(&mut self, hash: u32) {
        let at = self.positions(hash);
        let min = at.iter().map(|&(w, s)| (self.words[w] >> s) & 0xf).min().unwrap_or(0);
        if min < MAX_COUNT {
            for &(w, s) in &at {
                if (self.words[w] >> s) & 0xf == min {
                    self.words[w] += 1 << s;
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.age();
        }
    }

    /// Halves every counter.
    fn age(&mut self) {
        for w in &mut self.words {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_age() {
        let mut s = BlockSketch::new(1024, 1_000_000);
        for _ in 0..20 {
            s.increment(7);
        }
        assert_eq!(s.frequency(7), 15);
        assert!(s.frequency(8) <= 1);
        s.age();
        assert_eq!(s.frequency(7), 7);
    }

    #[test]
    fn four_distinct_words_in_one_block() {
        let s = BlockSketch::new(1 << 14, 100);
        for h in 0..10_000u32 {
            let p = s.positions(h);
            let block = p[0].0 / BLOCK_WORDS;
            assert!(p.iter().all(|&(w, _)| w / BLOCK_WORDS == block && w < s.words.len()));
            for i in 0..4 {
                for j in 0..i {
                    assert_ne!(p[i].0, p[j].0, "hash {h}");
                }
            }
        }
    }

    #[test]
    fn ages_every_sample() {
        let mut s = BlockSketch::new(128, 10);
        for _ in 0..9 {
            s.increment(1);
        }
        assert_eq!(s.frequency(1), 9);
        s.increment(2);
        assert_eq!(s.frequency(1), 4, "halved on the tenth increment");
        assert_eq!(s.sample(), 10);
    }
}
