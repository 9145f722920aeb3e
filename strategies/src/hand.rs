//! CLOCK and SIEVE: one FIFO of reference bits, differing only in where the
//! hand starts and what a survivor does.

use crate::resident::Resident;
use crate::{EntryId, EvictionPolicy};

const QUEUE: usize = 0;

/// A FIFO of residents (head = oldest) with one reference bit each, swept
/// by a hand. New entries join the newest end with a clear bit; a hit sets
/// the bit and moves nothing. To evict, the hand clears set bits as it goes
/// and evicts the first entry found with a clear bit.
///
/// Without `IN_PLACE` (CLOCK) the hand is always at the head and a survivor
/// moves to the tail: the same order a hand walking a fixed ring visits.
/// With `IN_PLACE` (SIEVE) survivors keep their place and the hand rests
/// where it evicted, so entries inserted after a survivor may leave before
/// it ("quick demotion").
///
/// ```
/// use ttlkit_strategies::{Clock, EvictionPolicy, Sieve};
///
/// for mut p in [Box::new(Clock::new(2)) as Box<dyn EvictionPolicy>, Box::new(Sieve::new(2))] {
///     p.on_insert(1, 1);
///     p.on_insert(2, 2);
///     p.on_hit(1);
///     assert_eq!(p.evict(), Some(2), "{}: the referenced entry gets a second chance", p.name());
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Hand<const IN_PLACE: bool> {
    capacity: usize,
    /// Node data: the reference bit.
    res: Resident<bool, 1>,
    /// Where the next sweep starts; `None` means at the oldest entry. Always
    /// `None` without `IN_PLACE`.
    hand: Option<u32>,
}

/// CLOCK (second chance): a FIFO ring with one reference bit per entry.
///
/// A hit sets the entry's bit. To evict, the hand sweeps from the oldest
/// entry: a set bit is cleared and the entry goes round again (a second
/// chance); the first entry found with a clear bit is the victim. New
/// entries go just behind the hand with a clear bit.
///
/// ```
/// use ttlkit_strategies::{Clock, EvictionPolicy};
///
/// let mut clock = Clock::new(2);
/// clock.on_insert(1, 1);
/// clock.on_insert(2, 2);
/// clock.on_hit(1);
/// assert_eq!(clock.evict(), Some(2));
/// assert_eq!(clock.name(), "clock");
/// ```
pub type Clock = Hand<false>;

/// SIEVE (Zhang et al., NSDI 2024): a FIFO queue with a visited bit and a
/// hand that stays put.
///
/// New entries join the newest end with a clear bit; a hit sets the bit and
/// moves nothing. To evict, the hand walks from where it last stopped
/// towards the newest end (wrapping to the oldest): a set bit is cleared and
/// the walk goes on; the first entry with a clear bit is evicted and the
/// hand rests on the entry after it. Unlike CLOCK, survivors keep their
/// place, so entries inserted after a survivor may leave before it ("quick
/// demotion").
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, Sieve};
///
/// let mut sieve = Sieve::new(2);
/// sieve.on_insert(1, 1);
/// sieve.on_insert(2, 2);
/// sieve.on_hit(1);
/// assert_eq!(sieve.evict(), Some(2));
/// assert!(sieve.reads_reference_bits());
/// ```
pub type Sieve = Hand<true>;

impl<const IN_PLACE: bool> Hand<IN_PLACE> {
    /// A policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Hand { capacity, res: Resident::new(capacity), hand: None }
    }

    /// The same policy for an owner whose ids are its own slot indexes
    /// (see [`PolicyKind::build_for_slots`](crate::PolicyKind::build_for_slots)):
    /// 12 bytes less per entry.
    pub fn with_slot_ids(mut self) -> Self {
        self.res.use_slot_ids(self.capacity);
        self
    }

    fn reference(&mut self, id: EntryId) {
        if let Some(idx) = self.res.find(id) {
            *self.res.data_mut(idx) = true;
        }
    }

    /// The node after survivor `idx` in the sweep (wrapping to the head).
    fn pass(&mut self, idx: u32) -> Option<u32> {
        if IN_PLACE {
            self.res.next(idx).or_else(|| self.res.head(QUEUE))
        } else {
            self.res.move_to_tail(idx, QUEUE);
            self.res.head(QUEUE)
        }
    }
}

impl<const IN_PLACE: bool> EvictionPolicy for Hand<IN_PLACE> {
    fn name(&self) -> &'static str {
        if IN_PLACE {
            "sieve"
        } else {
            "clock"
        }
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.res.len()
    }

    fn on_insert(&mut self, id: EntryId, _hash: u64) {
        if self.res.contains(id) {
            self.reference(id);
            return;
        }
        self.res.insert(QUEUE, id, false);
    }

    fn on_hit(&mut self, id: EntryId) {
        self.reference(id);
    }

    fn on_remove(&mut self, id: EntryId) {
        if let Some(idx) = self.res.find(id) {
            if self.hand == Some(idx) {
                self.hand = self.res.next(idx);
            }
            self.res.remove_node(idx);
        }
    }

    fn evict(&mut self) -> Option<EntryId> {
        self.evict_with_bits(&mut |_| false)
    }

    fn reads_reference_bits(&self) -> bool {
        true
    }

    fn evict_with_bits(&mut self, owner_bit: &mut dyn FnMut(EntryId) -> bool) -> Option<EntryId> {
        // Terminates: every step clears a bit (ours, and the owner's through
        // `owner_bit`), so the second lap finds one clear unless hits keep
        // landing during the sweep.
        let mut cur = match self.hand {
            Some(h) => h,
            None => self.res.head(QUEUE)?,
        };
        loop {
            let owner = owner_bit(self.res.id(cur));
            let referenced = self.res.data_mut(cur);
            if !*referenced && !owner {
                break;
            }
            *referenced = false;
            cur = self.pass(cur)?;
        }
        if IN_PLACE {
            self.hand = self.res.next(cur);
        }
        Some(self.res.remove_node(cur))
    }

    fn clear(&mut self) {
        self.res.clear();
        self.hand = None;
    }

    fn validate(&self) -> Result<(), String> {
        let linked = self.res.validate(self.name(), &[QUEUE])?;
        if let Some(h) = self.hand {
            if !IN_PLACE || !linked.contains(&h) {
                return Err(format!("{}: hand {h} is not on the queue", self.name()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_gives_a_second_chance() {
        let mut p = Clock::new(3);
        for id in 1..=3 {
            p.on_insert(id, id);
        }
        p.on_hit(1);
        p.on_hit(2);
        assert_eq!(p.evict(), Some(3));
        // 1 and 2 lost their bits on the sweep: oldest of them goes next.
        assert_eq!(p.evict(), Some(1));
        assert!(p.validate().is_ok());
    }

    #[test]
    fn sieve_survivors_keep_their_place() {
        let mut p = Sieve::new(4);
        for id in 1..=3 {
            p.on_insert(id, id);
        }
        p.on_hit(1);
        assert_eq!(p.evict(), Some(2)); // 1 survives in place, bit cleared
        p.on_insert(4, 4);
        p.on_hit(3);
        // Hand rests at 3 (after 2): 3 is visited, then 4 is not.
        assert_eq!(p.evict(), Some(4));
        assert_eq!(p.evict(), Some(1));
        assert!(p.validate().is_ok());
    }
}
