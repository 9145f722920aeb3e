//! `w-tinylfu-auto`: W-TinyLFU whose window share is chosen by sampled
//! miniature simulation, in a few bytes per entry over LRU.

use crate::resident::Resident;
use crate::{EntryId, EvictionPolicy};

mod block_sketch;
mod mini;
mod tuner;

use block_sketch::BlockSketch;
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
pub struct AutoConfig {
    pub variants: &'static [(f64, Admission)],
    pub initial_window: f64,
    pub mini_entries: usize,
    pub period: f64,
    pub decay: f64,
    pub margin: f64,
    pub z: f64,
    pub batch: usize,
    pub horizon: f64,
    pub scale: bool,
    pub ceiling: u64,
    pub mini_div: f64,
    pub mini_floor: usize,
    pub counters_per_entry: usize,
    pub sample_per_entry: f64,
    pub protected_share: f64,
    pub sample_min: f64,
    pub door_per_entry: f64,
    pub conservative: bool,
}

impl Default for AutoConfig {
    fn default() -> Self {
        AutoConfig {
            variants: &[
                (0.01, Admission::Duel(1)),
                (0.01, Admission::Duel(0)),
                (0.2, Admission::Duel(0)),
                (0.5, Admission::Duel(0)),
                (0.2, Admission::All),
                (1.0, Admission::All),
            ],
            initial_window: 0.01,
            mini_entries: 256,
            period: 1.0,
            decay: 0.98,
            margin: 0.0,
            z: 3.0,
            batch: 0,
            horizon: 0.0,
            scale: false,
            ceiling: 15,
            mini_div: 0.0,
            mini_floor: 0,
            counters_per_entry: 16,
            sample_per_entry: 10.0,
            protected_share: 0.8,
            sample_min: 0.0,
            door_per_entry: 0.0,
            conservative: true,
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

/// The 32 bits of a key hash the policy keeps.
fn fold(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// W-TinyLFU with its window share chosen by sampled miniatures.
#[derive(Debug, Clone)]
pub struct WTinyLfuAuto {
    capacity: usize,
    window_max: usize,
    protected_max: usize,
    res: Resident<u32, 3>,
    sketch: BlockSketch,
    sketch_entries: usize,
    tuner: Tuner,
    jitter: Jitter,
    config: AutoConfig,
    admission: Admission,
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
            res: Resident::new(capacity),
            sketch: Self::sketch_for(sketch_entries, &config),
            sketch_entries,
            tuner: Tuner::new(sized, &config),
            jitter: Jitter::default(),
            config,
            admission: Admission::Duel(0),
        };
        p.set_window(config.initial_window);
        p
    }

    fn sketch_for(entries: usize, config: &AutoConfig) -> BlockSketch {
        let sample = (entries as f64 * config.sample_per_entry).max(config.sample_min) as u64;
        BlockSketch::new(entries * config.counters_per_entry, sample)
            .with_door((entries as f64 * config.door_per_entry) as usize, config.conservative)
            .with_ceiling(config.ceiling)
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
        while self.res.len_of(PROTECTED) > self.protected_max {
            let Some(lru) = self.res.head(PROTECTED) else { break };
            self.res.move_to_tail(lru, PROBATION);
        }
    }

    fn grow_sketch(&mut self) {
        let most = crate::sized(self.capacity) as usize;
        if self.res.len() <= self.sketch_entries || self.sketch_entries >= most {
            return;
        }
        self.sketch_entries = (self.sketch_entries * 2).min(most);
        self.sketch = Self::sketch_for(self.sketch_entries, &self.config);
    }

    fn record(&mut self, hash: u32) {
        if let Some((share, admission)) = self.tuner.record(hash, &self.sketch) {
            self.admission = admission;
            self.set_window(share);
        }
    }

    fn main_victim(&self) -> Option<u32> {
        self.res.head(PROBATION).or_else(|| self.res.head(PROTECTED))
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
        self.res.len()
    }

    fn on_insert(&mut self, id: EntryId, hash: u64) {
        if self.res.contains(id) {
            self.on_hit(id);
            return;
        }
        let h = fold(hash);
        self.sketch.increment(h);
        self.res.insert(WINDOW, id, h);
        self.grow_sketch();
        self.record(h);
    }

    fn on_hit(&mut self, id: EntryId) {
        let Some(idx) = self.res.find(id) else { return };
        let h = self.res.node(idx).data;
        self.sketch.increment(h);
        match self.res.list_of(idx) {
            PROBATION => {
                self.res.move_to_tail(idx, PROTECTED);
                if self.res.len_of(PROTECTED) > self.protected_max {
                    if let Some(lru) = self.res.head(PROTECTED) {
                        self.res.move_to_tail(lru, PROBATION);
                    }
                }
            }
            l => self.res.move_to_tail(idx, l),
        }
        self.record(h);
    }

    fn on_remove(&mut self, id: EntryId) {
        self.res.remove(id);
    }

    fn evict(&mut self) -> Option<EntryId> {
        let main_max = self.capacity - self.window_max;
        while self.res.len_of(WINDOW) > self.window_max
            && self.res.len_of(PROBATION) + self.res.len_of(PROTECTED) < main_max
        {
            let Some(lru) = self.res.head(WINDOW) else { break };
            self.res.move_to_tail(lru, PROBATION);
        }
        if self.res.len_of(WINDOW) > self.window_max {
            let candidate = self.res.head(WINDOW)?;
            let Some(victim) = self.main_victim() else {
                return Some(self.res.remove_node(candidate));
            };
            let (c, v) = (self.res.node(candidate).data, self.res.node(victim).data);
            if admits(&self.sketch, c, v, self.admission, &mut self.jitter) {
                self.res.move_to_tail(candidate, PROBATION);
                return Some(self.res.remove_node(victim));
            }
            return Some(self.res.remove_node(candidate));
        }
        let idx = self.main_victim().or_else(|| self.res.head(WINDOW))?;
        Some(self.res.remove_node(idx))
    }

    fn coldest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[PROBATION, WINDOW, PROTECTED], n, false))
    }

    fn hottest(&self, n: usize) -> Option<Vec<EntryId>> {
        Some(self.res.ids_in(&[PROTECTED, WINDOW, PROBATION], n, true))
    }

    fn clear(&mut self) {
        self.res.clear();
    }

    fn validate(&self) -> Result<(), String> {
        self.res.validate("w-tinylfu-auto", &[WINDOW, PROBATION, PROTECTED])?;
        if self.res.len_of(PROTECTED) > self.protected_max {
            return Err(format!(
                "w-tinylfu-auto: protected holds {} over {}",
                self.res.len_of(PROTECTED),
                self.protected_max
            ));
        }
        Ok(())
    }
}
