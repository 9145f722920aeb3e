//! The tunables of [`WTinyLfu`](crate::WTinyLfu) and their presets.

/// Tunables of [`WTinyLfu`](crate::WTinyLfu); [`Default`] is what [`PolicyKind::WTinyLfu`](crate::PolicyKind::WTinyLfu) builds.
///
/// ```
/// use ttlkit_strategies::{EvictionPolicy, WTinyLfu, WTinyLfuConfig};
///
/// let mut config = WTinyLfuConfig::default();
/// config.initial_window = 0.2;
/// let policy = WTinyLfu::with_config(1_000, config);
/// assert_eq!(policy.capacity(), 1_000);
/// assert_ne!(WTinyLfuConfig::v2(), WTinyLfuConfig::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct WTinyLfuConfig {
    /// The window's share of the capacity at start.
    pub initial_window: f64,
    /// Protected's share of the main area.
    pub protected_share: f64,
    /// Hill climbing: accesses per sample, per entry of capacity (0 = never climb).
    pub climb_sample: f64,
    /// Hill climbing: the first step, as a share of the capacity.
    pub climb_step: f64,
    /// Hill climbing: each step is this much of the last...
    pub climb_decay: f64,
    /// ...unless the hit ratio moved by at least this much (a fraction): then it restarts.
    pub climb_restart: f64,
    /// Ghost feedback: re-requests of rejected candidates grow the window by
    /// this many entries, re-requests of main's victims shrink it (0 = off).
    pub ghost_step: usize,
    /// Sketch accesses between agings, per entry of capacity.
    pub sketch_sample: f64,
    /// Conservative count-min update (only the smallest counters grow).
    pub conservative: bool,
    /// Admit a warm candidate that lost its duel once in 128 times (Caffeine's
    /// defence against hash flooding).
    pub random_admit: bool,
    /// Window shares tried by miniature simulations; the best one recently
    /// is followed (empty = off).
    pub mini_shares: &'static [f64],
    /// Filter main's admission by frequency (TinyLFU); `false` admits every
    /// window overflow (a segmented LRU behind the window).
    pub filter: bool,
    /// Window shares of extra miniatures that admit without the filter; when
    /// one of them is best, the full cache stops filtering too.
    pub mini_unfiltered: &'static [f64],
    /// Window shares of extra filtered miniatures without stale-victim
    /// ties ([`stale_age`](Self::stale_age) 0); when one of them is best,
    /// the full cache drops them too.
    pub mini_no_stale: &'static [f64],
    /// A victim not accessed for this many accesses per entry of capacity
    /// loses frequency ties (0 = never).
    pub stale_age: f64,
    /// Counter ceiling (0 = the width's own).
    pub sketch_ceiling: u64,
    /// Doorkeeper bits per entry of capacity (0 = eight per sampled access).
    pub door_bits: f64,
    /// Entries each miniature aims for (the sampling rate follows).
    pub mini_target: usize,
    /// Miniatures sample at most one key in this many (1 = small caches are
    /// simulated in full).
    pub mini_min_rate: usize,
    /// Sampled requests per miniature entry between two decisions.
    pub mini_period: f64,
    /// Each decision keeps this much of a miniature's earlier score.
    pub mini_decay: f64,
    /// Another miniature is followed only when its score beats the current
    /// one's by more than this fraction.
    pub mini_margin: f64,
}

impl Default for WTinyLfuConfig {
    /// A 1% window at first, then the best of 1%, 20% and 99% by miniature
    /// simulation; sketch aged every 40 accesses per entry, conservative
    /// update; Caffeine's random admission of warm candidates. Chosen on the
    /// published traces OLTP, P12, glimpse and scarab as one setting for
    /// all, not per trace.
    fn default() -> Self {
        WTinyLfuConfig {
            initial_window: 0.01,
            protected_share: 0.80,
            climb_sample: 0.0,
            climb_step: 0.0625,
            climb_decay: 0.98,
            climb_restart: 0.05,
            ghost_step: 0,
            sketch_sample: 40.0,
            conservative: true,
            random_admit: true,
            mini_shares: &[0.01, 0.2, 0.99],
            filter: true,
            mini_unfiltered: &[],
            mini_no_stale: &[],
            stale_age: 0.0,
            sketch_ceiling: 0,
            door_bits: 0.0,
            mini_target: 256,
            mini_min_rate: 1,
            mini_period: 3.0,
            mini_decay: 0.5,
            mini_margin: 0.0,
        }
    }
}

impl WTinyLfuConfig {
    /// The settings of [`PolicyKind::WTinyLfuV2`](crate::PolicyKind::WTinyLfuV2),
    /// chosen (one setting for all, not per trace) to beat the best published
    /// W-TinyLFU figures on the traces OLTP, P12, glimpse and scarab:
    ///
    /// * sketch aged every 80 accesses per entry, counters capped at 10, a
    ///   doorkeeper of 64 bits per entry;
    /// * a victim untouched for 2.5 × capacity accesses loses frequency ties
    ///   ([`stale_age`](Self::stale_age));
    /// * miniatures (about 4,096 entries each, at least one key in two
    ///   sampled, a decision every half miniature-capacity of sampled
    ///   requests, scores decayed by 0.9, a 0.1% margin to switch) of five
    ///   variants: filtered 1% and 20% windows, filtered 1% without stale
    ///   ties, and unfiltered (segmented LRU) 1% and 99% windows — so
    ///   workloads where frequency is a negative signal (scarab) turn the
    ///   filter off.
    pub fn v2() -> Self {
        WTinyLfuConfig {
            sketch_sample: 80.0,
            sketch_ceiling: 10,
            door_bits: 64.0,
            stale_age: 2.5,
            mini_shares: &[0.01, 0.2],
            mini_no_stale: &[0.01],
            mini_unfiltered: &[0.01, 0.99],
            mini_target: 4096,
            mini_min_rate: 2,
            mini_period: 0.5,
            mini_decay: 0.9,
            mini_margin: 0.001,
            ..WTinyLfuConfig::default()
        }
    }

    /// Caffeine's settings: a 1% window, hill climbing over samples of ten
    /// accesses per entry, a 6.25% first step decaying by 2%, restarting at a
    /// 5-point move; standard count-min update.
    pub fn caffeine() -> Self {
        WTinyLfuConfig {
            initial_window: 0.01,
            protected_share: 0.80,
            climb_sample: 10.0,
            climb_step: 0.0625,
            climb_decay: 0.98,
            climb_restart: 0.05,
            ghost_step: 0,
            sketch_sample: 10.0,
            conservative: false,
            random_admit: true,
            mini_shares: &[],
            filter: true,
            mini_unfiltered: &[],
            mini_no_stale: &[],
            stale_age: 0.0,
            sketch_ceiling: 0,
            door_bits: 0.0,
            mini_target: 256,
            mini_min_rate: 1,
            mini_period: 3.0,
            mini_decay: 0.5,
            mini_margin: 0.0,
        }
    }
}
