//! A bounded FIFO set of key hashes: memory of recently evicted keys.

use crate::IdMap;

/// Remembers the last `capacity` hashes inserted; older ones fall out.
///
/// A ring of hashes plus a map from hash to the sequence number it was
/// inserted at; an entry is live while the map holds it. Every operation is
/// O(1).
#[derive(Debug, Clone)]
pub(crate) struct GhostFifo {
    cap: usize,
    /// `ring[s % cap]` is the hash inserted at sequence number `s`.
    ring: Vec<u64>,
    /// Live hashes and the sequence number they were inserted at.
    live: IdMap<u64>,
    /// Insertions so far.
    next: u64,
}

impl GhostFifo {
    pub(crate) fn new(capacity: usize) -> Self {
        GhostFifo { cap: capacity, ring: Vec::new(), live: IdMap::default(), next: 0 }
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.live.contains_key(&hash)
    }

    /// Forgets `hash`; returns whether it was remembered.
    pub(crate) fn remove(&mut self, hash: u64) -> bool {
        self.live.remove(&hash).is_some()
    }

    /// Remembers `hash` as the newest; the oldest falls out when full.
    pub(crate) fn insert(&mut self, hash: u64) {
        if self.cap == 0 {
            return;
        }
        let slot = (self.next % self.cap as u64) as usize;
        if slot < self.ring.len() {
            let old = self.ring[slot];
            let old_seq = self.next - self.cap as u64;
            if self.live.get(&old) == Some(&old_seq) {
                self.live.remove(&old);
            }
            self.ring[slot] = hash;
        } else {
            self.ring.push(hash);
        }
        self.live.insert(hash, self.next);
        self.next += 1;
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.live.len() > self.cap {
            return Err(format!("ghost: {} live hashes over capacity {}", self.live.len(), self.cap));
        }
        for (&h, &s) in &self.live {
            if s >= self.next || s.saturating_add(self.cap as u64) < self.next {
                return Err(format!("ghost: hash {h:#x} has stale sequence {s} (next {})", self.next));
            }
            if self.ring.get((s % self.cap as u64) as usize) != Some(&h) {
                return Err(format!("ghost: hash {h:#x} is not in its ring slot"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_falls_out() {
        let mut g = GhostFifo::new(2);
        g.insert(1);
        g.insert(2);
        g.insert(1); // re-remembered: now newest
        assert!(g.contains(1) && g.contains(2));
        g.insert(3);
        assert!(!g.contains(2) && g.contains(1) && g.contains(3));
        assert!(g.remove(3));
        g.insert(4);
        assert!(!g.contains(1));
        assert!(g.validate().is_ok());
    }
}
