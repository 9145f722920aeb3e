//! W-TinyLFU (Einziger, Friedman & Manes, ACM ToS 2017), with an adaptive
//! window: by miniature simulation (the default, and
//! [`WTinyLfuConfig::v2`], whose miniatures also choose whether to filter at
//! all) or by Caffeine's hill climbing ([`WTinyLfuConfig::caffeine`]).

use crate::ghost::GhostFifo;
use crate::minisim::WindowTuner;
use crate::resident::Resident;
use crate::sketch::FrequencySketch;
use crate::{EntryId, EvictionPolicy};

mod config;
mod hill_climber;

pub use config::WTinyLfuConfig;
use hill_climber::HillClimber;

/// A policy for at most this many entries sizes its sketch for its
/// capacity at once (at most 1 MiB of counters and 4 MiB of doorkeeper).
const SKETCH_FULL: usize = 1 << 17;
/// A policy for more starts with a sketch for this many entries (32 KiB
/// of counters, 256 KiB of doorkeeper) and doubles it as residents outgrow
/// it, up to the capacity (and [`MAX_SIZED_ENTRIES`](crate::MAX_SIZED_ENTRIES)):
/// a huge capacity (`usize::MAX`, a bound in bytes) costs only what the
/// residents need.
const SKETCH_START: usize = 1 << 12;

/// Newcomers, in LRU order.
const WINDOW: usize = 0;
/// Main area, seen once there (or demoted from protected), LRU order.
const PROBATION: usize = 1;
/// Main area, hit while there, LRU order.
const PROTECTED: usize = 2;

/// Window TinyLFU: an LRU window in front of a segmented-LRU main area, with
/// a frequency sketch deciding who enters main.
///
/// Every access is counted by a [`FrequencySketch`]. Newcomers enter the
/// window (1% of the capacity at first). When the window overflows, its LRU
/// entry (the candidate) duels the main area's victim (probation's LRU
/// entry): the candidate is admitted only if the sketch says it is more
/// frequent, otherwise it is the one evicted — which is how the policy
/// refuses admission. Main is a segmented LRU: a hit in probation promotes to
/// protected (80% of main), whose overflow is demoted back to probation.
///
/// The window's size adapts, because a small window suits frequency-biased
/// workloads (loops, skewed popularity) and a large one recency-biased ones.
/// Two ways are built in:
///
/// * Miniature simulation (the default, [`WTinyLfuConfig::mini_shares`]): a
///   few scaled-down W-TinyLFUs with fixed window shares (1%, 20%, 99%)
///   replay a hash-sampled subset of the requests (about 256 entries each, so
///   the cost is small for big caches); every period the full cache takes the
///   share whose miniature hit most lately. On the goal traces this beat hill
///   climbing by 1–2 points (OLTP, P12) because it needs no noisy
///   trial-and-error on the real cache.
/// * Caffeine's hill climber ([`WTinyLfuConfig::caffeine`],
///   [`PolicyKind::WTinyLfuClimb`](crate::PolicyKind::WTinyLfuClimb)): every
///   sample period (ten accesses per entry of capacity) the period's hit
///   ratio is compared with the last one's; if it improved the window keeps
///   moving the same way, else it turns round. The step starts at 6.25% of
///   the capacity, decays by 2% each period and restarts when the hit ratio
///   jumps by 5 points.
///
/// [`WTinyLfuConfig::v2`] ([`PolicyKind::WTinyLfuV2`](crate::PolicyKind::WTinyLfuV2))
/// adds three things. Each node stamps its last access (in the node's
/// padding, so nodes stay 32 bytes), and a probation victim untouched for
/// 2.5 × capacity accesses loses a frequency tie: per-entry aging, which
/// lets a cache full of once-seen keys from long ago take newer ones (glimpse,
/// OLTP). Its sketch remembers longer (aged every 80 accesses per entry) with
/// counters capped at 10, so warm keys are not dwarfed by hot ones. And its
/// miniatures include segmented LRUs without the filter and a filtered one
/// without stale ties: where frequency is a negative signal (scarab) the full
/// cache stops filtering and beats LRU; where stale ties hurt (P12) it drops
/// them.
///
/// As in Caffeine, a warm candidate (frequency above 5) that loses the duel
/// is still admitted once in 128 times, chosen by a fixed-seed generator, so
/// an attacker cannot pin a hot victim in place; the policy stays
/// deterministic.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, WTinyLfu, WTinyLfuConfig};
///
/// let mut policy = WTinyLfu::with_config(100, WTinyLfuConfig::caffeine());
/// for id in 0..150 {
///     policy.on_insert(id, id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
///     while policy.len() > 100 {
///         policy.evict();
///     }
/// }
/// assert_eq!(policy.len(), 100);
/// assert!(policy.window_size() >= 1);
/// ```
#[derive(Debug)]
pub struct WTinyLfu {
    capacity: usize,
    window_max: usize,
    protected_max: usize,
    /// Node data: the key hash.
    res: Resident<Meta, 3>,
    sketch: FrequencySketch,
    /// The entries the sketch is sized for now.
    sketch_entries: usize,
    climber: HillClimber,
    tuner: Option<Box<WindowTuner>>,
    config: WTinyLfuConfig,
    /// Hashes of candidates refused admission, and of main's victims.
    window_ghost: GhostFifo,
    main_ghost: GhostFifo,
    rng: u64,
    /// Whether main's admission is filtered now.
    filtering: bool,
    /// Accesses so far (wrapping): the time stamps of entries.
    clock: u32,
    /// A victim untouched for longer than this many accesses loses ties (0 = never).
    stale_age: u32,
    /// The configured `stale_age`, in accesses.
    stale_limit: u32,
}

/// What a node holds: the key hash (split to keep the node 4-aligned) and
/// when the entry was last accessed.
#[derive(Debug, Clone, Copy)]
struct Meta {
    hash: [u32; 2],
    stamp: u32,
}

impl Meta {
    fn new(hash: u64, stamp: u32) -> Meta {
        Meta { hash: [hash as u32, (hash >> 32) as u32], stamp }
    }

    fn hash(self) -> u64 {
        u64::from(self.hash[0]) | u64::from(self.hash[1]) << 32
    }
}

impl WTinyLfu {
    /// A W-TinyLFU policy sized for `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        WTinyLfu::with_config(capacity, WTinyLfuConfig::default())
    }

    /// The same policy for an owner whose ids are its own slot indexes
    /// (see [`PolicyKind::build_for_slots`](crate::PolicyKind::build_for_slots)):
    /// 12 bytes less per entry.
    pub fn with_slot_ids(mut self) -> Self {
        self.res.use_slot_ids(self.capacity);
        self
    }

    /// A W-TinyLFU policy sized for `capacity` entries, tuned by `config`.
    pub fn with_config(capacity: usize, config: WTinyLfuConfig) -> Self {
        let window_max = ((capacity as f64 * config.initial_window) as usize).max(1).min(capacity);
        let ghosts = if config.ghost_step > 0 { capacity } else { 0 };
        let sketch_entries = if capacity <= SKETCH_FULL { capacity } else { SKETCH_START };
        let (sample, door_bits) = sketch_sizes(&config, sketch_entries);
        let mut sketch = FrequencySketch::with_sample_size(sketch_entries, sample).with_door_bits(door_bits);
        if !config.conservative {
            sketch = sketch.with_standard_update();
        }
        if config.sketch_ceiling > 0 {
            sketch = sketch.with_ceiling(config.sketch_ceiling);
        }
        let mut p = WTinyLfu {
            capacity,
            window_max,
            protected_max: 0,
            res: Resident::new(capacity),
            sketch,
            sketch_entries,
            climber: HillClimber::new(capacity, &config),
            tuner: (!config.mini_shares.is_empty()).then(|| Box::new(WindowTuner::new(capacity, config))),
            config,
            window_ghost: GhostFifo::new(ghosts),
            main_ghost: GhostFifo::new(ghosts),
            rng: 0x2545_f491_4f6c_dd1d,
            filtering: config.filter,
            clock: 0,
            stale_age: 0,
            stale_limit: (capacity as f64 * config.stale_age).min(f64::from(u32::MAX / 2)) as u32,
        };
        p.stale_age = p.stale_limit;
        p.set_window(window_max);
        p
    }

    /// The window's current maximum size.
    pub fn window_size(&self) -> usize {
        self.window_max
    }

    /// Bytes of frequency sketch (counters and doorkeeper), which grow with
    /// the residents up to what the capacity needs.
    pub fn sketch_bytes(&self) -> usize {
        self.sketch.heap_bytes()
    }

    /// Doubles the sketch once residents outnumber what it is sized for.
    fn grow_sketch(&mut self) {
        let most = self.capacity.min(crate::MAX_SIZED_ENTRIES);
        if self.res.len() <= self.sketch_entries || self.sketch_entries >= most {
            return;
        }
        self.sketch_entries = self.sketch_entries.saturating_mul(2).min(most);
        let (sample, door_bits) = sketch_sizes(&self.config, self.sketch_entries);
        self.sketch.grow(self.sketch_entries, sample, door_bits);
    }

    fn set_window(&mut self, window: usize) {
        let lo = usize::from(self.capacity > 1);
        self.window_max = window.clamp(lo, self.capacity.saturating_sub(1).max(lo));
        let main = self.capacity - self.window_max;
        self.protected_max = (main as f64 * self.config.protected_share) as usize;
        while self.res.len_of(PROTECTED) > self.protected_max {
            let Some(lru) = self.res.head(PROTECTED) else {
                break;
            };
            self.res.move_to_tail(lru, PROBATION);
        }
    }

    fn main_len(&self) -> usize {
        self.res.len_of(PROBATION) + self.res.len_of(PROTECTED)
    }

    fn record(&mut self, hit: bool, hash: u64) {
        if let Some(step) = self.climber.record(hit) {
            self.resize_window(step);
        }
        if let Some((share, filter, stale)) = self.tuner.as_mut().and_then(|t| t.record(hash)) {
            self.filtering = filter;
            self.stale_age = if stale { self.stale_limit } else { 0 };
            self.set_window((self.capacity as f64 * share) as usize);
        }
    }

    fn resize_window(&mut self, by: i64) {
        let step = usize::try_from(by.unsigned_abs()).unwrap_or(usize::MAX);
        let w = if by < 0 { self.window_max.saturating_sub(step) } else { self.window_max.saturating_add(step) };
        self.set_window(w);
    }

    /// The main area's victim: probation's LRU entry, else protected's.
    fn main_victim(&self) -> Option<u32> {
        self.res.head(PROBATION).or_else(|| self.res.head(PROTECTED))
    }

    fn admit(&mut self, candidate: u64, victim: u64, victim_age: u32) -> bool {
        if !self.filtering {
            return true;
        }
        let c = self.sketch.frequency(candidate);
        let v = self.sketch.frequency(victim);
        if c > v {
            return true;
        }
        // A tie goes to the newcomer when the victim has gone untouched for
        // long: its count is old news (per-entry aging).
        if c == v && self.stale_age > 0 && victim_age > self.stale_age {
            return true;
        }
        if c <= 5 || !self.config.random_admit {
            return false;
        }
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng & 127 == 0
    }
}

/// The sketch's aging period and doorkeeper size for `entries` entries.
fn sketch_sizes(config: &WTinyLfuConfig, entries: usize) -> (u64, u64) {
    let sized = crate::sized(entries) as f64;
    let sample = (sized * config.sketch_sample).max(1.0) as u64;
    let door_bits = if config.door_bits > 0.0 { sized * config.door_bits } else { 8.0 * sample as f64 };
    (sample, door_bits as u64)
}

impl EvictionPolicy for WTinyLfu {
    fn name(&self) -> &'static str {
        if self.config.mini_shares.is_empty() && self.config.climb_sample > 0.0 {
            "w-tinylfu-climb"
        } else if self.config == WTinyLfuConfig::v2() {
            "w-tinylfu-v2"
        } else {
            "w-tinylfu"
        }
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
        self.sketch.increment(hash);
        if self.config.ghost_step > 0 {
            let step = self.config.ghost_step as i64;
            if self.window_ghost.remove(hash) {
                self.resize_window(step);
            } else if self.main_ghost.remove(hash) {
                self.resize_window(-step);
            }
        }
        self.clock = self.clock.wrapping_add(1);
        self.res.insert(WINDOW, id, Meta::new(hash, self.clock));
        self.grow_sketch();
        self.record(false, hash);
    }

    fn on_hit(&mut self, id: EntryId) {
        let Some(idx) = self.res.find(id) else {
            return;
        };
        self.clock = self.clock.wrapping_add(1);
        let hash = self.res.data(idx).hash();
        self.res.data_mut(idx).stamp = self.clock;
        self.sketch.increment(hash);
        match self.res.list_of(idx) {
            PROBATION => {
                self.res.move_to_tail(idx, PROTECTED);
                while self.res.len_of(PROTECTED) > self.protected_max {
                    let Some(lru) = self.res.head(PROTECTED) else {
                        break;
                    };
                    self.res.move_to_tail(lru, PROBATION);
                }
            }
            l => self.res.move_to_tail(idx, l),
        }
        self.record(true, hash);
    }

    fn on_remove(&mut self, id: EntryId) {
        self.res.remove(id);
    }

    fn evict(&mut self) -> Option<EntryId> {
        let main_max = self.capacity - self.window_max;
        // Room in main: the window's overflow moves there without a duel.
        while self.res.len_of(WINDOW) > self.window_max && self.main_len() < main_max {
            let Some(lru) = self.res.head(WINDOW) else {
                break;
            };
            self.res.move_to_tail(lru, PROBATION);
        }
        if self.res.len_of(WINDOW) > self.window_max {
            let candidate = self.res.head(WINDOW)?;
            let Some(victim) = self.main_victim() else {
                return Some(self.res.remove_node(candidate));
            };
            let (ch, vh) = (self.res.data(candidate).hash(), self.res.data(victim).hash());
            let victim_age = self.clock.wrapping_sub(self.res.data(victim).stamp);
            if self.admit(ch, vh, victim_age) {
                self.res.move_to_tail(candidate, PROBATION);
                self.main_ghost.insert(vh);
                return Some(self.res.remove_node(victim));
            }
            self.window_ghost.insert(ch);
            return Some(self.res.remove_node(candidate));
        }
        let idx = self.main_victim().or_else(|| self.res.head(WINDOW))?;
        Some(self.res.remove_node(idx))
    }

    /// Probation from its LRU end (where victims come from), then the window, then protected; the sketch's duels may reorder the first few.
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
        self.res.validate("w-tinylfu", &[WINDOW, PROBATION, PROTECTED])?;
        let protected = self.res.len_of(PROTECTED);
        if protected > self.protected_max {
            return Err(format!("w-tinylfu: protected holds {protected} over {}", self.protected_max));
        }
        if self.window_max > self.capacity || self.protected_max > self.capacity - self.window_max {
            return Err(format!(
                "w-tinylfu: window {} + protected {} exceed capacity {}",
                self.window_max, self.protected_max, self.capacity
            ));
        }
        if self.stale_age != 0 && self.stale_age != self.stale_limit {
            return Err(format!("w-tinylfu: stale age {} is neither off nor {}", self.stale_age, self.stale_limit));
        }
        if self.tuner.is_none() && (self.filtering != self.config.filter) {
            return Err("w-tinylfu: filter changed without miniatures".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A huge capacity costs only what the residents need: the sketch
    /// starts small and doubles with them, up to its bound.
    #[test]
    fn sketch_grows_with_residents_not_capacity() {
        for config in [WTinyLfuConfig::default(), WTinyLfuConfig::v2(), WTinyLfuConfig::caffeine()] {
            let mut p = WTinyLfu::with_config(usize::MAX, config);
            let start = p.sketch_bytes();
            assert!(start <= 512 << 10, "{start} bytes for an empty policy");
            for id in 0..20_000 {
                p.on_insert(id, crate::mix64(id));
            }
            let grown = p.sketch_bytes();
            assert!(grown > start && grown <= 4 << 20, "{start} -> {grown} bytes for 20,000 residents");
            assert!(p.validate().is_ok());
        }
        // Once full, a cache has the sketch it would have had from the start.
        let cap = SKETCH_FULL + 70_000;
        let mut p = WTinyLfu::new(cap);
        for id in 0..cap as u64 {
            p.on_insert(id, id);
        }
        let full = FrequencySketch::with_sample_size(cap, 40 * cap as u64).with_door_bits(8 * 40 * cap as u64);
        assert_eq!(p.sketch_bytes(), full.heap_bytes());
        assert_eq!(p.sketch.sample_size(), full.sample_size());
    }

    #[test]
    fn frequent_main_entries_beat_newcomers() {
        let mut p = WTinyLfu::new(10); // window 1, main 9
        for id in 0..10 {
            p.on_insert(id, id);
            p.on_hit(id);
        }
        p.on_insert(100, 100);
        // The window overflows; 100 (seen once) loses to probation's LRU.
        let out = p.evict();
        assert_eq!(out.map(|id| id == 100 || id < 10), Some(true));
        assert_eq!(p.len(), 10);
        assert!(p.validate().is_ok());
    }

    /// A stale probation victim loses a tie that a fresh one wins.
    #[test]
    fn stale_victims_lose_ties() {
        for (stale_age, expect_admitted) in [(0.0, false), (2.0, true)] {
            let config = WTinyLfuConfig { mini_shares: &[], stale_age, ..WTinyLfuConfig::default() };
            let mut p = WTinyLfu::with_config(10, config); // window 1, main 9
            for id in 0..=10 {
                p.on_insert(id, id);
            }
            // Main takes 0..=8; 9 loses its duel (a tie with 0).
            assert_eq!(p.evict(), Some(9));
            // 30 accesses to 1..=8; 0 stays at probation's head, untouched.
            for _ in 0..4 {
                for id in 1..=8 {
                    p.on_hit(id);
                }
            }
            // 10 (seen once) duels 0 (seen once, long ago): a tie.
            p.on_insert(100, 100);
            let out = p.evict();
            let expected = if expect_admitted { Some(0) } else { Some(10) };
            assert_eq!(out, expected, "stale age {stale_age}");
            assert!(p.validate().is_ok());
        }
    }

    #[test]
    fn v2_is_named_and_valid() {
        let mut p = WTinyLfu::with_config(64, WTinyLfuConfig::v2());
        assert_eq!(p.name(), "w-tinylfu-v2");
        for i in 0..1000u64 {
            let id = crate::mix64(i) % 200;
            if p.res.contains(id) {
                p.on_hit(id);
            } else {
                p.on_insert(id, id);
                while p.len() > 64 {
                    assert!(p.evict().is_some());
                }
            }
        }
        assert!(p.validate().is_ok());
    }
}
