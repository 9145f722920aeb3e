//! A miniature W-TinyLFU over 32-bit key hashes, for sampled simulation.
//!
//! It keeps only what deciding hits needs: each resident hash with its
//! links (8 bytes) and an open-addressing table of 16-bit slot numbers; it
//! reads frequencies from the full cache's sketch. About 13 bytes per
//! miniature entry.

use super::admission::{admits, Admission, Jitter};
use super::block_sketch::BlockSketch;

const WINDOW: u16 = 0;
const PROBATION: u16 = 1;
const PROTECTED: u16 = 2;
/// Slot numbers take 14 bits; the top two of `prev` name the list.
const NIL: u16 = 0x3fff;
const INDEX: u16 = 0x3fff;
/// The most slots a miniature has.
pub(crate) const MAX_SLOTS: usize = NIL as usize;
/// A table position holding no slot.
const EMPTY: u16 = u16::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u32,
    /// List (top two bits) and previous slot.
    prev: u16,
    next: u16,
}

impl Slot {
    fn list(self) -> u16 {
        self.prev >> 14
    }
}

#[derive(Debug, Clone, Copy)]
struct Ends {
    head: u16,
    tail: u16,
    len: u16,
}

/// A W-TinyLFU of up to `capacity` hashes with a fixed window share.
#[derive(Debug, Clone)]
pub(crate) struct Mini {
    capacity: u16,
    share: f64,
    window_max: u16,
    protected_max: u16,
    slots: Vec<Slot>,
    ends: [Ends; 3],
    /// Freed slots, chained through `next`.
    free: u16,
    /// Linear probing over slot numbers; its length bounds the capacity.
    table: Vec<u16>,
    jitter: Jitter,
    admission: Admission,
}

impl Mini {
    /// A miniature of `capacity` hashes (it may later be resized up to
    /// `most`) whose window holds `share` of them.
    pub(crate) fn new(capacity: usize, most: usize, share: f64, admission: Admission) -> Mini {
        let most = most.clamp(1, MAX_SLOTS - 1);
        let mut m = Mini {
            capacity: 0,
            share,
            window_max: 0,
            protected_max: 0,
            slots: Vec::with_capacity(most + 1),
            ends: [Ends { head: NIL, tail: NIL, len: 0 }; 3],
            free: NIL,
            // Load at most two thirds.
            table: vec![EMPTY; most * 3 / 2 + 2],
            jitter: Jitter::default(),
            admission,
        };
        m.resize(capacity);
        m
    }

    /// Bytes on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.table.capacity() * 2
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.iter().map(|e| usize::from(e.len)).sum()
    }

    /// The window share and admission rule it runs.
    pub(crate) fn setting(&self) -> (f64, Admission) {
        (self.share, self.admission)
    }

    /// Whether it holds as many hashes as it may.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= usize::from(self.capacity)
    }

    /// Changes the capacity (within what it was made for), keeping the
    /// window share; evicts down to it at the next miss.
    pub(crate) fn resize(&mut self, capacity: usize) {
        let capacity = capacity.clamp(1, self.slots.capacity() - 1);
        let window = ((capacity as f64 * self.share).round() as usize).min(capacity);
        // Both fit: the capacity is below `MAX_SLOTS`.
        self.capacity = capacity as u16;
        self.window_max = window as u16;
        self.protected_max = ((capacity - window) * 4 / 5) as u16;
        while self.ends[PROTECTED as usize].len > self.protected_max {
            let lru = self.ends[PROTECTED as usize].head;
            self.move_to_tail(lru, PROBATION);
        }
    }

    fn home(&self, hash: u32) -> usize {
        ((u64::from(hash.wrapping_mul(0x9e37_79b9)) * self.table.len() as u64) >> 32) as usize
    }

    /// The table position of `hash`: where it is, or the empty one where it would go.
    fn probe(&self, hash: u32) -> (usize, Option<u16>) {
        let mut at = self.home(hash);
        loop {
            match self.table[at] {
                EMPTY => return (at, None),
                s if self.slots[usize::from(s)].hash == hash => return (at, Some(s)),
                _ => at = if at + 1 == self.table.len() { 0 } else { at + 1 },
            }
        }
    }

    /// Empties table position `at`, shifting later entries of its run back.
    fn unlink_table(&mut self, mut at: usize) {
        let n = self.table.len();
        let mut next = if at + 1 == n { 0 } else { at + 1 };
        while self.table[next] != EMPTY {
            let slot = self.table[next];
            let home = self.home(self.slots[usize::from(slot)].hash);
            // Move it back unless its home lies in (at, next]. (Distances
            // back from `next`, wrapped by a subtraction: all three
            // positions are below `n`, and a division costs tens of cycles.)
            let wrap = |d: usize| if d >= n { d - n } else { d };
            if wrap(next + n - home) >= wrap(next + n - at) {
                self.table[at] = slot;
                at = next;
            }
            next = if next + 1 == n { 0 } else { next + 1 };
        }
        self.table[at] = EMPTY;
    }

    fn unlink(&mut self, s: u16) {
        let slot = self.slots[usize::from(s)];
        let (l, prev, next) = (usize::from(slot.list()), slot.prev & INDEX, slot.next);
        match prev {
            NIL => self.ends[l].head = next,
            p => self.slots[usize::from(p)].next = next,
        }
        match next {
            NIL => self.ends[l].tail = prev,
            n => self.slots[usize::from(n)].prev = (self.slots[usize::from(n)].prev & !INDEX) | prev,
        }
        self.ends[l].len -= 1;
    }

    fn push_tail(&mut self, s: u16, l: u16) {
        let e = self.ends[usize::from(l)];
        self.slots[usize::from(s)].prev = (l << 14) | e.tail;
        self.slots[usize::from(s)].next = NIL;
        match e.tail {
            NIL => self.ends[usize::from(l)].head = s,
            t => self.slots[usize::from(t)].next = s,
        }
        self.ends[usize::from(l)].tail = s;
        self.ends[usize::from(l)].len += 1;
    }

    fn move_to_tail(&mut self, s: u16, l: u16) {
        if s == NIL {
            return;
        }
        self.unlink(s);
        self.push_tail(s, l);
    }

    fn head(&self, l: u16) -> Option<u16> {
        Some(self.ends[usize::from(l)].head).filter(|&h| h != NIL)
    }

    fn remove(&mut self, s: u16) {
        let (at, found) = self.probe(self.slots[usize::from(s)].hash);
        debug_assert_eq!(found, Some(s));
        self.unlink_table(at);
        self.unlink(s);
        self.slots[usize::from(s)].next = self.free;
        self.free = s;
    }

    /// Replays one request of `hash` (already counted by `sketch`);
    /// returns whether it hit.
    pub(crate) fn access(&mut self, hash: u32, sketch: &BlockSketch) -> bool {
        let (at, found) = self.probe(hash);
        if let Some(s) = found {
            match self.slots[usize::from(s)].list() {
                PROBATION => {
                    self.move_to_tail(s, PROTECTED);
                    if self.ends[PROTECTED as usize].len > self.protected_max {
                        let lru = self.ends[PROTECTED as usize].head;
                        self.move_to_tail(lru, PROBATION);
                    }
                }
                l => self.move_to_tail(s, l),
            }
            return true;
        }
        let s = match self.free {
            NIL => {
                self.slots.push(Slot { hash, prev: NIL, next: NIL });
                (self.slots.len() - 1) as u16
            }
            s => {
                self.free = self.slots[usize::from(s)].next;
                s
            }
        };
        self.slots[usize::from(s)].hash = hash;
        self.table[at] = s;
        self.push_tail(s, WINDOW);
        while self.len() > usize::from(self.capacity) {
            self.evict(sketch);
        }
        false
    }

    fn evict(&mut self, sketch: &BlockSketch) {
        let (capacity, window_max) = (usize::from(self.capacity), usize::from(self.window_max));
        let main_max = capacity - window_max;
        let window_len = usize::from(self.ends[WINDOW as usize].len);
        let main_len = self.len() - window_len;
        if window_len > window_max && main_len < main_max {
            let lru = self.ends[WINDOW as usize].head;
            self.move_to_tail(lru, PROBATION);
        }
        let victim = self.head(PROBATION).or_else(|| self.head(PROTECTED));
        let over = usize::from(self.ends[WINDOW as usize].len) > window_max;
        let out = match (over, self.head(WINDOW), victim) {
            (true, Some(candidate), Some(victim)) => {
                let (c, v) = (self.slots[usize::from(candidate)].hash, self.slots[usize::from(victim)].hash);
                if admits(sketch, c, v, self.admission, &mut self.jitter) {
                    self.move_to_tail(candidate, PROBATION);
                    victim
                } else {
                    candidate
                }
            }
            (_, w, v) => match v.or(w) {
                Some(s) => s,
                None => return,
            },
        };
        self.remove(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every list checking links, tags and lengths; returns the slots.
    fn linked(m: &Mini) -> Vec<u16> {
        let mut all = Vec::new();
        for l in 0..3u16 {
            let mut prev = NIL;
            let mut at = m.ends[usize::from(l)].head;
            let mut n = 0;
            while at != NIL {
                let s = m.slots[usize::from(at)];
                assert_eq!((s.list(), s.prev & INDEX), (l, prev));
                all.push(at);
                prev = at;
                at = s.next;
                n += 1;
            }
            assert_eq!((m.ends[usize::from(l)].tail, m.ends[usize::from(l)].len), (prev, n));
        }
        all
    }

    #[test]
    fn a_full_window_is_lru() {
        let sketch = BlockSketch::new(1024, 10_000);
        let mut m = Mini::new(3, 3, 1.0, Admission::Duel(0));
        let hits: Vec<bool> = [1, 2, 3, 1, 4, 2].iter().map(|&h| m.access(h, &sketch)).collect();
        // 4 evicted 2 (least recent), so the last 2 missed; 1 hit.
        assert_eq!(hits, [false, false, false, true, false, false]);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn table_and_lists_survive_churn_and_resizing() {
        let mut sketch = BlockSketch::new(1024, 10_000);
        let mut m = Mini::new(50, 75, 0.1, Admission::Duel(0));
        let mut hits = 0;
        for i in 0..20_000u32 {
            if i % 5_000 == 0 {
                m.resize(25 + (i as usize / 100) % 50);
            }
            let h = (crate::mix64(u64::from(i)) % 300) as u32;
            sketch.increment(h);
            hits += usize::from(m.access(h, &sketch));
            assert!(m.len() <= usize::from(m.capacity));
        }
        let slots = linked(&m);
        assert_eq!(slots.len(), m.len());
        for &s in &slots {
            assert_eq!(m.probe(m.slots[usize::from(s)].hash).1, Some(s));
        }
        assert_eq!(m.table.iter().filter(|&&s| s != EMPTY).count(), m.len());
        assert!(hits > 0);
    }
}
