//! TinyLFU's frequency sketch: a count-min sketch of 4-bit counters with a
//! doorkeeper and periodic aging (Einziger, Friedman & Manes, ACM ToS 2017).

/// Counters per 64-bit word.
const PER_WORD: usize = 16;
/// Rows of the count-min sketch (counters per key).
const DEPTH: u64 = 4;
/// Bloom filter probes per key in the doorkeeper.
const DOOR_PROBES: u64 = 3;
/// A 4-bit counter's ceiling.
const MAX_COUNT: u64 = 15;
/// The doorkeeper's largest size: 4 MiB. Eight bits per sampled access
/// would give a sketch aged every 80 accesses per entry 640 bits per entry.
const MAX_DOOR_BITS: u64 = 1 << 25;

/// Approximate access counts of key hashes in a recent window.
///
/// * A count-min sketch: each key maps to four 4-bit counters (sixteen per
///   `u64` word) and its estimate is the smallest of them, so it can over-
///   but never under-count (until aging, and up to 15).
/// * A doorkeeper: a Bloom filter that absorbs each key's first access in a
///   window, so the many keys seen once never touch the counters. The
///   estimate adds one when the doorkeeper holds the key.
/// * Aging: after `sample_size` accesses (ten per cached entry) every counter
///   is halved and the doorkeeper emptied, so old popularity fades.
///
/// ```
/// use ttlkit_strategies::FrequencySketch;
///
/// let mut sketch = FrequencySketch::new(1_000);
/// let hash = 0x9e37_79b9_7f4a_7c15_u64;
/// for _ in 0..3 {
///     sketch.increment(hash);
/// }
/// assert!(sketch.frequency(hash) >= 1);
/// sketch.clear();
/// assert_eq!(sketch.frequency(hash), 0);
/// ```
#[derive(Debug, Clone)]
pub struct FrequencySketch {
    table: Vec<u64>,
    /// Number of counters minus one (a power of two minus one).
    counter_mask: u64,
    door: Vec<u64>,
    door_mask: u64,
    sample_size: u64,
    additions: u64,
    resets: u64,
    conservative: bool,
    /// The counters' ceiling (15, or lower by [`with_ceiling`](Self::with_ceiling)).
    max_count: u64,
}

impl FrequencySketch {
    /// A sketch for a cache of `capacity` entries: 16 counters and 80
    /// doorkeeper bits per entry (rounded up to powers of two), aged every
    /// `10 × capacity` accesses. Memory is sized for at most
    /// [`MAX_SIZED_ENTRIES`](crate::MAX_SIZED_ENTRIES) entries (8 MiB of
    /// counters) and 4 MiB of doorkeeper, whatever the capacity.
    pub fn new(capacity: usize) -> Self {
        FrequencySketch::with_sample_size(capacity, 10 * crate::sized(capacity))
    }

    /// Like [`new`](Self::new), aged every `sample_size` accesses instead.
    pub fn with_sample_size(capacity: usize, sample_size: u64) -> Self {
        let counters = (crate::sized(capacity) * PER_WORD as u64).next_power_of_two();
        let sample_size = sample_size.max(1);
        let door_bits = door_size(sample_size.saturating_mul(8));
        FrequencySketch {
            table: vec![0; (counters / PER_WORD as u64) as usize],
            counter_mask: counters - 1,
            door: vec![0; (door_bits / 64) as usize],
            door_mask: door_bits - 1,
            sample_size,
            additions: 0,
            resets: 0,
            conservative: true,
            max_count: MAX_COUNT,
        }
    }

    /// Uses the standard count-min update (every counter of the key is
    /// incremented) instead of the default conservative update (only the
    /// smallest ones are). Conservative update over-counts less.
    pub fn with_standard_update(mut self) -> Self {
        self.conservative = false;
        self
    }

    /// Sizes the doorkeeper at `bits` bits (rounded up to a power of two,
    /// at most 4 MiB) instead of eight per access of the sample.
    pub fn with_door_bits(mut self, bits: u64) -> Self {
        let bits = door_size(bits);
        self.door = vec![0; (bits / 64) as usize];
        self.door_mask = bits - 1;
        self
    }

    /// Caps the counters at `max` (1 to 15). A low ceiling keeps very hot
    /// keys from looking far hotter than warm ones, and makes a longer
    /// sample (slower aging) pay off.
    pub fn with_ceiling(mut self, max: u64) -> Self {
        self.max_count = max.clamp(1, self.max_count);
        self
    }

    /// Grows to at least the size [`with_sample_size`](Self::with_sample_size)
    /// gives for `capacity` entries, with a doorkeeper of at least
    /// `door_bits` bits, aged every `sample_size` accesses (or as before, if
    /// that was more). Never shrinks, and keeps every estimate: a table
    /// twice as large is the old one twice over, and a key indexes it by one
    /// more bit of the same hash, so it reads a copy of its old counters.
    pub fn grow(&mut self, capacity: usize, sample_size: u64, door_bits: u64) {
        let counters = (crate::sized(capacity) * PER_WORD as u64).next_power_of_two();
        while self.counter_mask < counters - 1 {
            self.table.extend_from_within(..);
            self.counter_mask = (self.counter_mask << 1) | 1;
        }
        let bits = door_size(door_bits);
        while self.door_mask < bits - 1 {
            self.door.extend_from_within(..);
            self.door_mask = (self.door_mask << 1) | 1;
        }
        self.sample_size = self.sample_size.max(sample_size);
    }

    /// Bytes of counters and doorkeeper.
    pub fn heap_bytes(&self) -> usize {
        8 * (self.table.len() + self.door.len())
    }

    /// Accesses between two agings.
    pub fn sample_size(&self) -> u64 {
        self.sample_size
    }

    /// How many times the sketch has aged.
    pub fn resets(&self) -> u64 {
        self.resets
    }

    /// The estimated number of recent accesses of `hash`, at most the
    /// ceiling plus one (16 by default).
    pub fn frequency(&self, hash: u64) -> u8 {
        let (a, b) = spread(hash);
        let mut min = self.max_count;
        for i in 0..DEPTH {
            min = min.min(self.counter(a.wrapping_add(i.wrapping_mul(b))));
        }
        (min + u64::from(self.door_contains(a, b))) as u8
    }

    /// Records one access of `hash`, aging the sketch when the sample is full.
    pub fn increment(&mut self, hash: u64) {
        let (a, b) = spread(hash);
        if self.door_contains(a, b) {
            let mut min = self.max_count;
            if self.conservative {
                for i in 0..DEPTH {
                    min = min.min(self.counter(a.wrapping_add(i.wrapping_mul(b))));
                }
            }
            for i in 0..DEPTH {
                let at = a.wrapping_add(i.wrapping_mul(b));
                let c = self.counter(at);
                if c < self.max_count && (!self.conservative || c == min) {
                    self.add_one(at);
                }
            }
        } else {
            self.door_insert(a, b);
        }
        self.additions += 1;
        if self.additions >= self.sample_size {
            self.age();
        }
    }

    /// Halves every counter and empties the doorkeeper.
    pub fn age(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.door.fill(0);
        self.additions /= 2;
        self.resets += 1;
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.table.fill(0);
        self.door.fill(0);
        self.additions = 0;
    }

    fn counter(&self, at: u64) -> u64 {
        let c = at & self.counter_mask;
        (self.table[(c >> 4) as usize] >> ((c & 15) * 4)) & 0xf
    }

    fn add_one(&mut self, at: u64) {
        let c = at & self.counter_mask;
        self.table[(c >> 4) as usize] += 1 << ((c & 15) * 4);
    }

    fn door_contains(&self, a: u64, b: u64) -> bool {
        (0..DOOR_PROBES).all(|i| {
            let bit = (a.rotate_left(32) ^ (i + 1).wrapping_mul(b)) & self.door_mask;
            self.door[(bit >> 6) as usize] & (1 << (bit & 63)) != 0
        })
    }

    fn door_insert(&mut self, a: u64, b: u64) {
        for i in 0..DOOR_PROBES {
            let bit = (a.rotate_left(32) ^ (i + 1).wrapping_mul(b)) & self.door_mask;
            self.door[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
    }
}

/// A doorkeeper of about `bits` bits: a power of two from 64 to
/// [`MAX_DOOR_BITS`].
fn door_size(bits: u64) -> u64 {
    bits.clamp(64, MAX_DOOR_BITS).next_power_of_two()
}

/// Two independent 64-bit hashes of `hash` (the second odd), for double
/// hashing into the counters and the doorkeeper.
fn spread(hash: u64) -> (u64, u64) {
    let a = crate::mix64(hash ^ 0x9e37_79b9_7f4a_7c15);
    let b = crate::mix64(hash.wrapping_add(0xc2b2_ae3d_27d4_eb4f)) | 1;
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ages() {
        let mut s = FrequencySketch::new(64);
        for _ in 0..5 {
            s.increment(42);
        }
        assert!(s.frequency(42) >= 5);
        assert!(s.frequency(7) <= 1);
        s.age();
        assert!(s.frequency(42) <= 3, "halved and doorkeeper cleared");
    }

    #[test]
    fn ceiling_caps_counts() {
        let mut s = FrequencySketch::new(64).with_ceiling(3);
        for _ in 0..20 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 4, "ceiling 3 plus the doorkeeper");
    }

    #[test]
    fn growing_keeps_every_estimate() {
        let mut s = FrequencySketch::new(64);
        for h in 0..200u64 {
            for _ in 0..h % 7 {
                s.increment(h);
            }
        }
        let before: Vec<u8> = (0..400).map(|h| s.frequency(h)).collect();
        let bytes = s.heap_bytes();
        s.grow(1 << 12, 10 << 12, 80 << 12);
        assert!(s.heap_bytes() >= 32 * bytes, "{} -> {}", bytes, s.heap_bytes());
        assert_eq!((0..400).map(|h| s.frequency(h)).collect::<Vec<_>>(), before);
        assert_eq!(s.sample_size(), 10 << 12);
        s.grow(16, 1, 64); // never shrinks
        assert_eq!((0..400).map(|h| s.frequency(h)).collect::<Vec<_>>(), before);
    }

    /// The sketch for any capacity stays within a few MiB (a weight bound
    /// or `u64::MAX` must not size it) and indexes only inside its table.
    #[test]
    fn huge_capacities_are_bounded() {
        for capacity in [usize::MAX, usize::MAX / 3, 1 << 40, (1 << 28) + 1] {
            let mut s = FrequencySketch::new(capacity).with_door_bits(u64::MAX);
            let bytes = 8 * (s.table.len() + s.door.len());
            assert!(bytes <= 32 << 20, "capacity {capacity}: {bytes} bytes");
            for h in 0..1_000 {
                s.increment(h);
                s.increment(h);
            }
            assert!(s.frequency(7) >= 2);
        }
    }
}
