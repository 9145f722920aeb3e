//! S3-FIFO (Yang et al., SOSP 2023).

use crate::ghost::GhostFifo;
use crate::resident::Resident;
use crate::{EntryId, EvictionPolicy};

const SMALL: usize = 0;
const MAIN: usize = 1;

/// Hits are counted up to this (two bits).
const MAX_FREQ: u8 = 3;

#[derive(Debug, Clone, Copy)]
struct Meta {
    hash: u64,
    freq: u8,
}

/// S3-FIFO: three FIFO queues — small, main and a ghost of hashes.
///
/// Newcomers enter the small queue (10% of the capacity) unless the ghost
/// remembers them, in which case they go straight to main. Hits only bump a
/// two-bit counter. Leaving the small queue, an entry hit at least twice moves
/// to main, any other is evicted and its hash remembered by the ghost (which
/// holds as many hashes as main holds entries). Main is a FIFO with
/// reinsertion: an entry with a non-zero counter goes round again with the
/// counter decremented. Most one-hit wonders thus leave quickly, from the
/// small queue.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, S3Fifo};
///
/// let mut policy = S3Fifo::new(100);
/// for id in 0..150 {
///     policy.on_insert(id, id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
///     while policy.len() > 100 {
///         policy.evict();
///     }
/// }
/// assert_eq!(policy.len(), 100);
/// policy.validate()?;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct S3Fifo {
    capacity: usize,
    small_target: usize,
    res: Resident<Meta, 2>,
    ghost: GhostFifo,
}

impl S3Fifo {
    /// An S3-FIFO policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let small_target = (capacity / 10).max(1);
        S3Fifo {
            capacity,
            small_target,
            res: Resident::new(capacity),
            ghost: GhostFifo::new(capacity.saturating_sub(small_target).max(1)),
        }
    }

    /// The same policy for an owner whose ids are its own slot indexes
    /// (see [`PolicyKind::build_for_slots`](crate::PolicyKind::build_for_slots)):
    /// 12 bytes less per entry.
    pub fn with_slot_ids(mut self) -> Self {
        self.res.use_slot_ids(self.capacity);
        self
    }
}

impl EvictionPolicy for S3Fifo {
    fn name(&self) -> &'static str {
        "s3-fifo"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.res.len()
    }

    fn on_insert(&mut self, id: EntryId, hash: u64) {
        if self.res.contains(id) {
            self.on_hit(id);
            return;
        }
        let list = if self.ghost.remove(hash) { MAIN } else { SMALL };
        self.res.insert(list, id, Meta { hash, freq: 0 });
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(idx) = self.res.find(id) {
            let m = self.res.data_mut(idx);
            m.freq = (m.freq + 1).min(MAX_FREQ);
        }
    }

    fn on_remove(&mut self, id: EntryId) {
        self.res.remove(id);
    }

    fn evict(&mut self) -> Option<EntryId> {
        // Terminates: each step moves an entry from small to main (at most
        // `len` times) or decrements a counter in main (at most 3 per entry)
        // unless it evicts.
        loop {
            let from_small = self.res.len_of(SMALL) >= self.small_target || self.res.len_of(MAIN) == 0;
            if from_small {
                let idx = self.res.head(SMALL)?;
                let meta = *self.res.data(idx);
                if meta.freq > 1 {
                    self.res.data_mut(idx).freq = 0;
                    self.res.move_to_tail(idx, MAIN);
                } else {
                    self.ghost.insert(meta.hash);
                    return Some(self.res.remove_node(idx));
                }
            } else {
                let idx = self.res.head(MAIN)?;
                let m = self.res.data_mut(idx);
                if m.freq > 0 {
                    m.freq -= 1;
                    self.res.move_to_tail(idx, MAIN);
                } else {
                    return Some(self.res.remove_node(idx));
                }
            }
        }
    }

    /// Small queue first (new entries leave from there unless read), then main.
    fn coldest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[SMALL, MAIN], n, false))
    }

    fn hottest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[MAIN, SMALL], n, true))
    }

    fn clear(&mut self) {
        self.res.clear();
    }

    fn validate(&self) -> Result<(), String> {
        let linked = self.res.validate("s3-fifo", &[SMALL, MAIN])?;
        for &idx in &linked {
            if self.res.data(idx).freq > MAX_FREQ {
                return Err(format!("s3-fifo: node {idx} has frequency over {MAX_FREQ}"));
            }
        }
        self.ghost.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hit_wonders_leave_from_small_and_come_back_to_main() {
        let mut p = S3Fifo::new(10); // small target 1
        p.on_insert(1, 101);
        p.on_hit(1);
        p.on_hit(1);
        p.on_insert(2, 102);
        // 1 was hit twice: promoted to main; 2 is a one-hit wonder.
        assert_eq!(p.evict(), Some(2));
        p.on_insert(2, 102); // the ghost remembers 2: straight to main
        p.on_insert(3, 103);
        assert_eq!(p.evict(), Some(3));
        assert_eq!(p.evict(), Some(1));
        assert_eq!(p.evict(), Some(2));
        assert!(p.validate().is_ok());
    }
}
