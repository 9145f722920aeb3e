//! `w-tinylfu-auto`: W-TinyLFU whose window share and admission rule are
//! chosen by sampled miniature caches, in at most 16 bytes per entry over
//! LRU from 1,000 entries up.

use crate::{EntryId, EvictionPolicy};

mod admission;
mod block_sketch;
mod mini;
mod nodes;
mod tuner;

#[cfg(test)]
mod tests;

use admission::{admits, Admission, Jitter};
use block_sketch::BlockSketch;
use nodes::Nodes;
use tuner::Tuner;

/// Newcomers, in LRU order.
const WINDOW: usize = 0;
/// Main area, seen once there (or demoted from protected), LRU order.
const PROBATION: usize = 1;
/// Main area, hit while there, LRU order.
const PROTECTED: usize = 2;

/// Protected's share of the main area.
const PROTECTED_SHARE: f64 = 0.8;
/// Sketch counters per entry (4 bits each: 8 bytes per entry).
const COUNTERS_PER_ENTRY: usize = 16;
/// Sketch accesses between agings, per entry.
const SAMPLE_PER_ENTRY: usize = 40;
/// A policy for at most this many entries sizes its sketch for its
/// capacity at once; one for more starts at [`SKETCH_START`] entries and
/// doubles it as residents outgrow it.
const SKETCH_FULL: usize = 1 << 17;
const SKETCH_START: usize = 1 << 12;

/// Hits an owner's reference bits may give entries during one eviction
/// (see `WTinyLfuAuto::choose`).
const BIT_CHANCES: usize = 16;

/// The settings the tuner chooses between, as (window share, admission):
/// the first is where every cache starts.
///
/// * 1% window, debiased duel: loops, scans and zigzags over more keys
///   than fit, where the best is to keep a fixed part resident (a new
///   cache knows nothing yet, and this is where a wrong choice costs most).
/// * 1% window, plain duel: frequency-skewed traces whose hot set moves.
/// * 30% window, plain duel: skewed traces with recency bursts (OLTP at
///   small sizes).
/// * 20% and 10% windows that admit what was seen twice or three times
///   lately: large caches over recency-heavy traces (OLTP and P12 at large
///   sizes, scarab), where losing a duel to a slightly hotter victim costs.
/// * A full window, admitting everything: LRU, for traces where recency is
///   all (reversals, bursts).
const VARIANTS: &[(f64, Admission)] = &[
    (0.01, Admission::Duel(1)),
    (0.01, Admission::Duel(0)),
    (0.3, Admission::Duel(0)),
    (0.2, Admission::Seen(2)),
    (0.1, Admission::Seen(3)),
    (1.0, Admission::All),
];

/// The 30 bits of a key hash the policy keeps (a node packs its list in
/// the other two).
fn fold(hash: u64) -> u32 {
    ((hash ^ (hash >> 32)) as u32) >> 2
}

/// W-TinyLFU whose window share and admission rule are chosen, while it
/// runs, by sampled miniature caches: one fixed configuration that follows
/// what the workload rewards.
///
/// The cache is W-TinyLFU: newcomers enter an LRU window; the window's
/// oldest entry (the candidate) may enter a segmented-LRU main area
/// (probation, then protected: 80% of main) in place of probation's oldest
/// (the victim), as the admission rule decides. Every access is counted in
/// a count-min sketch of 4-bit counters whose four counters per key share
/// one 64-byte block (one cache line per count), 16 counters per entry,
/// conservatively updated and halved every 40 accesses per entry so old
/// popularity fades.
///
/// Which window and rule suit a workload depends on it: a small window and
/// a strict duel keep a loop's resident part from churning; a larger
/// window catches recency bursts; admitting what was merely seen before
/// suits large caches over recency-heavy traces; and some traces want
/// plain LRU. So six settings (see the crate's README) run side by side as
/// miniature caches over a hash-sampled subset of the keys (Waldspurger et
/// al., "Cache Modeling and Optimization using Miniature Simulations", ATC
/// 2017): one in 32 keys (each miniature a 32nd of the capacity, at least
/// 28 entries, more below 1,000 entries where memory is cheap, at most
/// 4,096), sized to the share of requests their keys actually get, and
/// reading frequencies from the full cache's own sketch, so a miniature
/// entry costs about 13 bytes. The full cache follows one setting and
/// changes only on evidence: the per-period difference of hits between the
/// miniatures must be significant by a t-test on batch means (bursts of
/// hits in loops and scans are not independent evidence), or at least half
/// a point of the requests with some significance, and only after the
/// miniatures have turned over twice. Measuring on miniatures rather than
/// climbing on the real cache's hit ratio (as Caffeine does) costs the
/// real cache nothing to explore, and reaches windows and rules a climber
/// never visits.
///
/// It keeps no ghost lists: the sketch already remembers departed keys'
/// frequencies, and ghosts would cost about as much again per entry. A
/// warm candidate that loses a duel is still admitted once in 128 times
/// (deterministic jitter), so a flood of keys at a victim's frequency
/// cannot pin it.
///
/// Memory: 20 bytes per resident (LRU: 16; with slot ids, 12 against 8),
/// 8 bytes of sketch per entry of capacity, and the miniatures, about 2.5
/// bytes per entry; at most 16 bytes per entry over LRU from 1,000 entries
/// up (the `footprint` example).
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, WTinyLfuAuto};
///
/// let mut policy = WTinyLfuAuto::new(100);
/// for id in 0..150u64 {
///     policy.on_insert(id, ttlkit_strategies::mix64(id));
///     while policy.len() > 100 {
///         policy.evict();
///     }
/// }
/// assert_eq!(policy.len(), 100);
/// assert_eq!(policy.window_size(), 1, "a new cache starts with a 1% window");
/// policy.validate()?;
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone)]
pub struct WTinyLfuAuto {
    capacity: usize,
    window_max: usize,
    protected_max: usize,
    nodes: Nodes,
    sketch: BlockSketch,
    /// The entries the sketch is sized for now.
    sketch_entries: usize,
    tuner: Tuner,
    jitter: Jitter,
    admission: Admission,
}

impl WTinyLfuAuto {
    /// A policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let sized = crate::sized(capacity) as usize;
        let sketch_entries = if sized <= SKETCH_FULL { sized } else { SKETCH_START };
        let tuner = Tuner::new(sized, VARIANTS);
        let (share, admission) = tuner.choice();
        let mut p = WTinyLfuAuto {
            capacity,
            window_max: 0,
            protected_max: 0,
            nodes: Nodes::new(capacity, false),
            sketch: BlockSketch::new(sketch_entries * COUNTERS_PER_ENTRY, (sketch_entries * SAMPLE_PER_ENTRY) as u64),
            sketch_entries,
            tuner,
            jitter: Jitter::default(),
            admission,
        };
        p.set_window(share);
        p
    }

    /// The same policy for an owner whose ids are its own slot indexes
    /// (see [`PolicyKind::build_for_slots`](crate::PolicyKind::build_for_slots)):
    /// 12 bytes less per entry, and no index lookup per call.
    ///
    /// # Panics
    ///
    /// If the policy already holds entries.
    pub fn with_slot_ids(mut self) -> Self {
        assert!(self.nodes.len() == 0, "switch to slot ids before the first insert");
        self.nodes = Nodes::new(self.capacity, true);
        self
    }

    /// The window's current maximum size.
    pub fn window_size(&self) -> usize {
        self.window_max
    }

    /// Bytes of sketch and miniatures (the sketch grows with the residents
    /// up to what the capacity needs).
    pub fn tuning_bytes(&self) -> usize {
        self.sketch.heap_bytes() + self.tuner.heap_bytes()
    }

    fn set_window(&mut self, share: f64) {
        self.window_max = ((self.capacity as f64 * share).round() as usize).min(self.capacity);
        let main = self.capacity - self.window_max;
        self.protected_max = (main as f64 * PROTECTED_SHARE) as usize;
        while self.nodes.len_of(PROTECTED) > self.protected_max {
            let Some(lru) = self.nodes.head(PROTECTED) else { break };
            self.nodes.move_to_tail(lru, PROBATION);
        }
    }

    /// Grows the sketch once residents outnumber what it is sized for.
    fn grow_sketch(&mut self) {
        let most = crate::sized(self.capacity) as usize;
        if self.nodes.len() <= self.sketch_entries || self.sketch_entries >= most {
            return;
        }
        self.sketch_entries = (self.sketch_entries * 2).min(most);
        let e = self.sketch_entries;
        self.sketch.grow(e * COUNTERS_PER_ENTRY, (e * SAMPLE_PER_ENTRY) as u64);
    }

    /// Counts an access and lets the miniatures see it.
    fn record(&mut self, hash: u32) {
        self.sketch.increment(hash);
        if let Some((share, admission)) = self.tuner.record(hash, &self.sketch) {
            self.admission = admission;
            self.set_window(share);
        }
    }

    fn main_victim(&self) -> Option<u32> {
        self.nodes.head(PROBATION).or_else(|| self.nodes.head(PROTECTED))
    }

    /// Node `n` was hit.
    fn hit(&mut self, n: u32) {
        // The count comes last; its cache miss overlaps the list work.
        self.sketch.prefetch(self.nodes.hash(n));
        let list = self.nodes.list_of(n);
        // After the window has grown, the main area holds more than its
        // share until evictions drain it, and they take its entries before
        // any of the window's: an entry hit in probation (where all of main
        // is once protected's share shrinks to nothing, as for LRU) moves
        // to the window while it has room, so what is still used survives
        // the drain. Protected entries stay: the drain reaches them last.
        if list == PROBATION
            && self.nodes.len_of(WINDOW) < self.window_max
            && self.nodes.len_of(PROBATION) + self.nodes.len_of(PROTECTED) > self.capacity - self.window_max
        {
            self.nodes.move_to_tail(n, WINDOW);
            self.record(self.nodes.hash(n));
            return;
        }
        match list {
            PROBATION => {
                self.nodes.move_to_tail(n, PROTECTED);
                if self.nodes.len_of(PROTECTED) > self.protected_max {
                    if let Some(lru) = self.nodes.head(PROTECTED) {
                        self.nodes.move_to_tail(lru, PROBATION);
                    }
                }
            }
            l => self.nodes.move_to_tail(n, l),
        }
        self.record(self.nodes.hash(n));
    }

    /// Picks the entry to evict and forgets it. The entry about to leave
    /// (the window's candidate or the main area's victim, whichever loses
    /// the admission duel) that `referenced` says was hit since the policy
    /// last saw it gets that hit instead, and the choice starts over: at
    /// most `chances` times per eviction, so one eviction's work stays
    /// bounded when every entry was hit.
    #[inline]
    fn choose(&mut self, mut chances: usize, mut referenced: impl FnMut(EntryId) -> bool) -> Option<EntryId> {
        let mut spared = |p: &mut Self, n: u32| {
            if chances == 0 || !referenced(p.nodes.id(n)) {
                return false;
            }
            chances -= 1;
            p.hit(n);
            true
        };
        loop {
            let main_max = self.capacity - self.window_max;
            while self.nodes.len_of(WINDOW) > self.window_max
                && self.nodes.len_of(PROBATION) + self.nodes.len_of(PROTECTED) < main_max
            {
                let Some(lru) = self.nodes.head(WINDOW) else { break };
                self.nodes.move_to_tail(lru, PROBATION);
            }
            if self.nodes.len_of(WINDOW) > self.window_max {
                let candidate = self.nodes.head(WINDOW)?;
                let Some(victim) = self.main_victim() else {
                    if spared(self, candidate) {
                        continue;
                    }
                    return Some(self.nodes.remove_node(candidate));
                };
                // Only the one about to leave is asked: a bit costs the
                // owner a read of the entry, often a cache miss.
                let (c, v) = (self.nodes.hash(candidate), self.nodes.hash(victim));
                if admits(&self.sketch, c, v, self.admission, &mut self.jitter) {
                    if spared(self, victim) {
                        continue;
                    }
                    self.nodes.move_to_tail(candidate, PROBATION);
                    return Some(self.nodes.remove_node(victim));
                }
                if spared(self, candidate) {
                    continue;
                }
                return Some(self.nodes.remove_node(candidate));
            }
            let n = self.main_victim().or_else(|| self.nodes.head(WINDOW))?;
            if spared(self, n) {
                continue;
            }
            return Some(self.nodes.remove_node(n));
        }
    }
}

impl EvictionPolicy for WTinyLfuAuto {
    fn name(&self) -> &'static str {
        "w-tinylfu-auto"
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn on_insert(&mut self, id: EntryId, hash: u64) {
        let h = fold(hash);
        // The count comes last; its cache miss overlaps the index and list work.
        self.sketch.prefetch(h);
        if let Some(n) = self.nodes.insert(WINDOW, id, h) {
            // Already resident: a hit.
            self.hit(n);
            return;
        }
        self.grow_sketch();
        self.record(h);
    }

    fn on_hit(&mut self, id: EntryId) {
        if let Some(n) = self.nodes.find(id) {
            self.hit(n);
        }
    }

    fn on_remove(&mut self, id: EntryId) {
        self.nodes.remove(id);
    }

    fn evict(&mut self) -> Option<EntryId> {
        self.choose(0, |_| false)
    }

    /// The entry about to leave (the admission duel's loser) is asked for
    /// its owner's bit first, and one hit since gets its hit then (not the
    /// same victims as hits told at once: the sketch counts the hit later,
    /// and once).
    fn takes_owner_bits(&self) -> bool {
        true
    }

    fn evict_with_bits(&mut self, referenced: &mut dyn FnMut(EntryId) -> bool) -> Option<EntryId> {
        self.choose(BIT_CHANCES, referenced)
    }

    fn coldest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.nodes.ids_in(&[PROBATION, WINDOW, PROTECTED], n, false))
    }

    fn hottest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.nodes.ids_in(&[PROTECTED, WINDOW, PROBATION], n, true))
    }

    fn clear(&mut self) {
        self.nodes.clear();
    }

    fn validate(&self) -> Result<(), String> {
        self.nodes.validate("w-tinylfu-auto")?;
        if self.nodes.len_of(PROTECTED) > self.protected_max {
            return Err(format!(
                "w-tinylfu-auto: protected holds {} over {}",
                self.nodes.len_of(PROTECTED),
                self.protected_max
            ));
        }
        Ok(())
    }
}
