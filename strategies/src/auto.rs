//! `w-tinylfu-auto`: W-TinyLFU whose window share is chosen by sampled
//! miniature simulation, in a few bytes per entry over LRU.

use crate::{EntryId, EvictionPolicy};

mod block_sketch;
mod mini;
mod nodes;
mod tuner;

use block_sketch::BlockSketch;
use nodes::Nodes;
use tuner::Tuner;

/// Newcomers, in LRU order.
const WINDOW: usize = 0;
/// Main area, seen once there (or demoted from protected), LRU order.
const PROBATION: usize = 1;
/// Main area, hit while there, LRU order.
const PROTECTED: usize = 2;

/// A policy for at most this many entries sizes its sketch for its
/// capacity at once; one for more starts at [`SKETCH_START`] entries and
/// grows with its residents.
const SKETCH_FULL: usize = 1 << 17;
const SKETCH_START: usize = 1 << 12;

/// Research knobs (to be frozen).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)]
pub struct AutoConfig {
    pub variants: &'static [(f64, Admission)],
    pub initial_window: f64,
    pub initial_admission: Admission,
    pub mini_entries: usize,
    pub mini_div: f64,
    pub mini_floor: usize,
    pub mini_area: usize,
    pub period: f64,
    pub decay: f64,
    pub margin: f64,
    pub z: f64,
    pub fast_z: f64,
    pub min_turns: f64,
    pub counters_per_entry: usize,
    pub sample_per_entry: f64,
    pub protected_share: f64,
    pub sketch_floor: usize,
}

impl Default for AutoConfig {
    fn default() -> Self {
        AutoConfig {
            variants: &[
                (0.01, Admission::Duel(1)),
                (0.01, Admission::Duel(0)),
                (0.3, Admission::Duel(0)),
                (0.2, Admission::Seen(2)),
                (0.1, Admission::Seen(3)),
                (1.0, Admission::All),
            ],
            initial_window: 0.01,
            initial_admission: Admission::Duel(1),
            mini_entries: 4096,
            mini_div: 32.0,
            mini_floor: 28,
            mini_area: 28_000,
            period: 0.25,
            decay: 0.995,
            margin: 0.005,
            z: 3.0,
            fast_z: 2.0,
            min_turns: 2.0,
            counters_per_entry: 16,
            sample_per_entry: 40.0,
            protected_share: 0.8,
            sketch_floor: 0,
        }
    }
}

/// Deterministic jitter for admission: a warm candidate that loses its duel
/// is still admitted once in 128 times, so an attacker cannot pin a victim.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Default for Jitter {
    fn default() -> Self {
        Jitter(0x2545_f491_4f6c_dd1d)
    }
}

impl Jitter {
    fn one_in_128(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 127 == 0
    }
}

/// TinyLFU's duel: whether a candidate seen `candidate` times lately
/// should replace a victim seen `victim` times.
/// Research: how a window candidate gets into the main area.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Always (a segmented LRU behind the window).
    All,
    /// If more frequent than the victim by more than this.
    Duel(u8),
    /// If seen at least this often lately.
    Seen(u8),
}

pub(crate) fn admits(
    sketch: &BlockSketch,
    candidate: u32,
    victim: u32,
    admission: Admission,
    jitter: &mut Jitter,
) -> bool {
    match admission {
        Admission::All => true,
        Admission::Seen(k) => sketch.frequency(candidate) >= k,
        Admission::Duel(bias) => {
            let c = sketch.frequency(candidate);
            c > sketch.frequency(victim).saturating_add(bias) || (c >= 6 && jitter.one_in_128())
        }
    }
}

/// The 30 bits of a key hash the policy keeps (the node packs its list
/// in the other two).
fn fold(hash: u64) -> u32 {
    ((hash ^ (hash >> 32)) as u32) >> 2
}

/// W-TinyLFU with its window share and admission rule chosen by sampled
/// miniatures.
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
    config: AutoConfig,
}

impl WTinyLfuAuto {
    /// A policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        WTinyLfuAuto::with_config(capacity, AutoConfig::default())
    }

    #[doc(hidden)]
    pub fn with_config(capacity: usize, config: AutoConfig) -> Self {
        let sized = crate::sized(capacity) as usize;
        let sketch_entries = if sized <= SKETCH_FULL { sized } else { SKETCH_START };
        let mut p = WTinyLfuAuto {
            capacity,
            window_max: 0,
            protected_max: 0,
            nodes: Nodes::new(capacity),
            sketch: Self::sketch_for(sketch_entries, &config),
            sketch_entries,
            tuner: Tuner::new(sized, &config),
            jitter: Jitter::default(),
            admission: config.initial_admission,
            config,
        };
        p.set_window(config.initial_window);
        p
    }

    fn sketch_for(entries: usize, config: &AutoConfig) -> BlockSketch {
        BlockSketch::new((entries * config.counters_per_entry).max(config.sketch_floor), (entries as f64 * config.sample_per_entry) as u64)
    }

    /// The window's current maximum size.
    pub fn window_size(&self) -> usize {
        self.window_max
    }

    #[doc(hidden)]
    pub fn report(&self) -> String {
        self.tuner.report()
    }

    /// Bytes of sketch and miniatures.
    pub fn extra_bytes(&self) -> usize {
        self.sketch.heap_bytes() + self.tuner.heap_bytes()
    }

    fn set_window(&mut self, share: f64) {
        self.window_max = ((self.capacity as f64 * share).round() as usize).min(self.capacity);
        let main = self.capacity - self.window_max;
        self.protected_max = (main as f64 * self.config.protected_share) as usize;
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
        self.sketch.grow(self.sketch_entries * self.config.counters_per_entry,
            (self.sketch_entries as f64 * self.config.sample_per_entry) as u64);
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
        if self.nodes.find(id).is_some() {
            self.on_hit(id);
            return;
        }
        let h = fold(hash);
        self.nodes.insert(WINDOW, id, h);
        self.grow_sketch();
        self.record(h);
    }

    fn on_hit(&mut self, id: EntryId) {
        let Some(n) = self.nodes.find(id) else { return };
        match self.nodes.list_of(n) {
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

    fn on_remove(&mut self, id: EntryId) {
        self.nodes.remove(id);
    }

    fn evict(&mut self) -> Option<EntryId> {
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
                return Some(self.nodes.remove_node(candidate));
            };
            let (c, v) = (self.nodes.hash(candidate), self.nodes.hash(victim));
            if admits(&self.sketch, c, v, self.admission, &mut self.jitter) {
                self.nodes.move_to_tail(candidate, PROBATION);
                return Some(self.nodes.remove_node(victim));
            }
            return Some(self.nodes.remove_node(candidate));
        }
        let n = self.main_victim().or_else(|| self.nodes.head(WINDOW))?;
        Some(self.nodes.remove_node(n))
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
