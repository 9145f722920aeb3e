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
/// Above this many bytes (a common first-level data cache) a count tends
/// to miss the fastest cache, and prefetching a key's block early pays
/// (2 to 3 points of speed relative to LRU on OLTP at 10,000 and 100,000
/// entries). Below, it is only extra work: prefetching at every size cost
/// 4 points on P12 at 1,000 entries.
const PREFETCH_BYTES: usize = 32 << 10;

/// Approximate recent access counts of 32-bit key hashes.
///
/// Each key maps to one block and to four counters in it (one in each of
/// four distinct words); its estimate is the smallest of the four.
/// Increments are conservative (only the smallest counters grow), and every
/// `sample` increments every counter is halved, so popularity fades.
#[derive(Debug, Clone)]
pub(crate) struct BlockSketch {
    /// One cache line each, so a key's block is found with one bounds
    /// check and its words within it need none.
    blocks: Vec<[u64; BLOCK_WORDS]>,
    sample: u64,
    additions: u64,
    /// Whether [`prefetch`](Self::prefetch) issues anything: decided when
    /// the size is (so the hot paths test one flag).
    prefetch: bool,
}

impl BlockSketch {
    /// A sketch of `counters` counters (rounded up to whole blocks, at
    /// least one), halved every `sample` increments.
    pub(crate) fn new(counters: usize, sample: u64) -> BlockSketch {
        let blocks = counters.div_ceil(BLOCK_COUNTERS).max(1);
        let prefetch = Self::worth_prefetching(blocks);
        BlockSketch { blocks: vec![[0; BLOCK_WORDS]; blocks], sample: sample.max(1), additions: 0, prefetch }
    }

    fn worth_prefetching(blocks: usize) -> bool {
        blocks * BLOCK_WORDS * 8 > PREFETCH_BYTES
    }

    /// Grows to `counters` counters (whole blocks) and a sample of
    /// `sample`, keeping the estimates roughly: a key's new block takes the
    /// counters of the old block that covered its part of the hash range.
    pub(crate) fn grow(&mut self, counters: usize, sample: u64) {
        let blocks = counters.div_ceil(BLOCK_COUNTERS).max(1);
        let old = self.blocks.len();
        if blocks > old {
            self.blocks = (0..blocks).map(|b| self.blocks[(b as u64 * old as u64 / blocks as u64) as usize]).collect();
            self.prefetch = Self::worth_prefetching(blocks);
        }
        self.sample = self.sample.max(sample);
    }

    /// Bytes of counters.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * BLOCK_WORDS * 8
    }

    /// Increments between two halvings.
    #[cfg(test)]
    pub(crate) fn sample(&self) -> u64 {
        self.sample
    }

    /// Starts loading the block of `hash` into the cache, when the sketch
    /// is large enough for that to pay, so that a count or estimate soon
    /// after finds it there: issued before other work, its miss overlaps
    /// that work. Changes nothing the sketch holds.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u32) {
        if !self.prefetch {
            return;
        }
        let block: *const [u64; BLOCK_WORDS] = &self.blocks[self.block_of(hash)];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint that reads nothing and cannot fault;
        // the pointer is to a block of the sketch, borrowed here.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(block.cast::<i8>());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = block;
    }

    /// The block of `hash`: a multiply-shift range reduction of the whole
    /// hash (mixed again, so keys close in hash spread out).
    #[inline]
    fn block_of(&self, hash: u32) -> usize {
        let wide = u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        ((wide * self.blocks.len() as u64) >> 32) as usize
    }

    /// The block of `hash`, and the words in it and shifts of its four
    /// counters: the block by a multiply-shift range reduction of the whole
    /// hash, then row `i` takes word `2i` or `2i + 1` of it (so the four
    /// differ) and a nibble there, by the hash's own bits (it is already
    /// well mixed).
    #[inline]
    fn positions(&self, hash: u32) -> (usize, [usize; 4], [u32; 4]) {
        let block = self.block_of(hash);
        let h = hash as usize;
        let words = [h & 1, 2 + ((h >> 1) & 1), 4 + ((h >> 2) & 1), 6 + ((h >> 3) & 1)];
        let shifts = [hash & 0xf0, (hash >> 4) & 0xf0, (hash >> 8) & 0xf0, (hash >> 12) & 0xf0].map(|s| s >> 2);
        (block, words, shifts)
    }

    /// The four counters of a key in `block`.
    #[inline]
    fn counters(block: &[u64; BLOCK_WORDS], words: &[usize; 4], shifts: &[u32; 4]) -> [u64; 4] {
        [
            (block[words[0]] >> shifts[0]) & 0xf,
            (block[words[1]] >> shifts[1]) & 0xf,
            (block[words[2]] >> shifts[2]) & 0xf,
            (block[words[3]] >> shifts[3]) & 0xf,
        ]
    }

    /// The estimated recent accesses of `hash`, 0 to 15.
    #[inline]
    pub(crate) fn frequency(&self, hash: u32) -> u8 {
        let (b, words, shifts) = self.positions(hash);
        let c = Self::counters(&self.blocks[b], &words, &shifts);
        c[0].min(c[1]).min(c[2].min(c[3])) as u8
    }

    /// Counts one access of `hash` (conservatively: only its smallest
    /// counters grow); halves everything when the sample is full.
    #[inline]
    pub(crate) fn increment(&mut self, hash: u32) {
        let (b, words, shifts) = self.positions(hash);
        let block = &mut self.blocks[b];
        let c = Self::counters(block, &words, &shifts);
        let min = c[0].min(c[1]).min(c[2].min(c[3]));
        // Branch-free: which counters grow is as good as random.
        let grows = u64::from(min < MAX_COUNT);
        for i in 0..4 {
            block[words[i]] += (u64::from(c[i] == min) & grows) << shifts[i];
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.age();
        }
    }

    /// Halves every counter.
    #[cold]
    fn age(&mut self) {
        for w in self.blocks.iter_mut().flatten() {
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
        for h in (0..10_000u32).map(|i| i.wrapping_mul(0x9e37_79b9) >> 2) {
            let (block, words, shifts) = s.positions(h);
            assert!(block < s.blocks.len() && words.iter().all(|&w| w < BLOCK_WORDS));
            assert!(shifts.iter().all(|&s| s < 64 && s % 4 == 0));
            for i in 0..4 {
                for j in 0..i {
                    assert_ne!(words[i], words[j], "hash {h}");
                }
            }
        }
    }

    #[test]
    fn prefetches_once_too_big_for_the_first_cache() {
        let mut s = BlockSketch::new(1000 * 16, 100);
        assert!(!s.prefetch, "8 KB");
        s.prefetch(7);
        s.grow(100_000 * 16, 100);
        assert!(s.prefetch, "800 KB");
        s.prefetch(7);
        assert_eq!(s.frequency(7), 0, "a prefetch counts nothing");
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
