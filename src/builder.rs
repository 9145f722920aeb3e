//! One builder for every backend, and the typed errors of `build()`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ttlkit_strategies::{PolicyKind, UnknownPolicy};

pub use crate::build_error::BuildError;
use crate::cache::RemovalCause;
use crate::clock::{Clock, ClockSource, SystemClock};
pub use crate::config::{Config, FromConfig};
use crate::expiry::Timeouts;
use crate::listener::RemovalListener;
use crate::load_settings::LoadSettings;
use crate::per_entry::{Expiry, OwnDeadlines};

/// The longest duration the builder accepts: about 100 years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The shortest sweep interval: one tick of the [`SystemClock`], the
/// default clock. An explicit [`CacheBuilder::sweep_interval`] below it is
/// raised to it; sweeping more often finds nothing new and, at a nanosecond,
/// keeps a core busy on an idle cache.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(1);

/// The entries a weighted cache's eviction policy is sized for when
/// [`CacheBuilder::expected_entries`] is not set.
pub const DEFAULT_WEIGHTED_ENTRIES: u64 = 65_536;

/// Gives an entry its weight for a weight-bounded cache (what
/// [`CacheBuilder::weigher`] stores).
pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u32 + Send + Sync + 'static>;

/// How often, if ever, the background sweeper runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SweepSetting {
    /// Every half of the shorter of `time_to_idle` and `time_to_live`,
    /// clamped to 10 ms ..= 1 s; none for a cache where nothing expires.
    Default,
    /// At this interval (at least 1 ms).
    Every(Duration),
    /// No sweeper: expired entries are purged by writes, by
    /// `purge_expired`, and never returned by reads.
    Off,
}

/// Configures and builds any backend.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, MutexCache, RemovalCause, SlidingTtlCache};
///
/// let evicted = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&evicted);
/// let cache: MutexCache<String, u64> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(3600))
///     .time_to_live(Duration::from_secs(24 * 3600))
///     .max_capacity(10_000)
///     .policy("lru")
///     .sweep_interval(Duration::from_secs(300))
///     .removal_listener(move |k: &String, _v, cause| log.lock().unwrap().push((k.clone(), cause)))
///     .build()?;
/// cache.insert("a".to_string(), 1);
/// cache.remove("a");
/// assert_eq!(*evicted.lock().unwrap(), vec![("a".to_string(), RemovalCause::Explicit)]);
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
///
/// # Expiry: time-to-live, time-to-idle, both or neither
///
/// [`time_to_live`](Self::time_to_live) counts from the last write and is
/// never extended by reads (a response cache that must refetch);
/// [`time_to_idle`](Self::time_to_idle) counts from the last `get` or write
/// (a client cache that keeps what is in use). Set one, both (an entry
/// expires at the earlier deadline) or neither (nothing expires; only the
/// capacity bound removes entries).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::MockClock;
/// use ttlkit::{CacheBuilder, MutexCache, SlidingTtlCache};
///
/// let clock = MockClock::new();
/// let responses: MutexCache<&str, u32> =
///     CacheBuilder::new().time_to_live(Duration::from_secs(1)).clock(clock.clone()).build()?;
/// let clients: MutexCache<&str, u32> =
///     CacheBuilder::new().time_to_idle(Duration::from_secs(1)).clock(clock.clone()).build()?;
/// let both: MutexCache<&str, u32> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(1))
///     .time_to_live(Duration::from_secs(3))
///     .clock(clock.clone())
///     .build()?;
/// let forever: MutexCache<&str, u32> = CacheBuilder::new().max_capacity(100).clock(clock.clone()).build()?;
/// for cache in [&responses, &clients, &both, &forever] {
///     cache.insert("k", 1);
/// }
/// // Read every 600 ms: the TTL entry is gone after 1 s however often it
/// // is read; the idle one lives while it is read; `both` lives until its
/// // 3 s lifetime; `forever` stays.
/// for step in 1..=6 {
///     clock.advance(Duration::from_millis(600));
///     let seen = [&responses, &clients, &both, &forever].map(|c| c.get("k").is_some());
///     assert_eq!(seen, [step * 600 < 1_000, true, step * 600 < 3_000, true], "at {} ms", step * 600);
/// }
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub struct CacheBuilder<K, V> {
    time_to_idle: Option<Duration>,
    time_to_live: Option<Duration>,
    max_capacity: Option<u64>,
    weigher: Option<Weigher<K, V>>,
    /// `None` until set; a name that did not parse is kept as its error
    /// and reported by `build()`, so `policy(name)` can stay chainable.
    policy: Option<Result<PolicyKind, UnknownPolicy>>,
    sweep: SweepSetting,
    clock: Option<ClockSource>,
    listener: Option<RemovalListener<K, V>>,
    granularity: Option<Duration>,
    shards: Option<usize>,
    expected_entries: Option<u64>,
    expiry: Option<Arc<dyn Expiry<K, V>>>,
    pub(crate) loads: LoadSettings<K, V>,
}

impl<K, V> fmt::Debug for CacheBuilder<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("time_to_idle", &self.time_to_idle)
            .field("time_to_live", &self.time_to_live)
            .field("max_capacity", &self.max_capacity)
            .field("weigher", &self.weigher.is_some())
            .field("policy", &self.policy)
            .field("sweep", &self.sweep)
            .field("clock", &self.clock)
            .field("listener", &self.listener.is_some())
            .field("granularity", &self.granularity)
            .field("shards", &self.shards)
            .field("expected_entries", &self.expected_entries)
            .field("expiry", &self.expiry.is_some())
            .field("loads", &self.loads)
            .finish()
    }
}

impl<K, V> Clone for CacheBuilder<K, V> {
    fn clone(&self) -> Self {
        CacheBuilder {
            time_to_idle: self.time_to_idle,
            time_to_live: self.time_to_live,
            max_capacity: self.max_capacity,
            weigher: self.weigher.clone(),
            policy: self.policy.clone(),
            sweep: self.sweep,
            clock: self.clock.clone(),
            listener: self.listener.clone(),
            granularity: self.granularity,
            shards: self.shards,
            expected_entries: self.expected_entries,
            expiry: self.expiry.clone(),
            loads: self.loads.clone(),
        }
    }
}

impl<K, V> Default for CacheBuilder<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> CacheBuilder<K, V> {
    /// A builder for a cache where nothing expires until
    /// [`time_to_live`](Self::time_to_live) or
    /// [`time_to_idle`](Self::time_to_idle) says so.
    pub fn new() -> Self {
        CacheBuilder {
            time_to_idle: None,
            time_to_live: None,
            max_capacity: None,
            weigher: None,
            policy: None,
            sweep: SweepSetting::Default,
            clock: None,
            listener: None,
            granularity: None,
            shards: None,
            expected_entries: None,
            expiry: None,
            loads: LoadSettings::default(),
        }
    }

    /// Entries expire this long after their last `get` or write (sliding
    /// expiry). `peek` and `contains_key` do not count as reads.
    pub fn time_to_idle(mut self, d: Duration) -> Self {
        self.time_to_idle = Some(d);
        self
    }

    /// Entries expire this long after they were inserted or last
    /// overwritten, however often they are read.
    pub fn time_to_live(mut self, d: Duration) -> Self {
        self.time_to_live = Some(d);
        self
    }

    /// Gives each entry a deadline of its own, computed by `expiry` when the
    /// entry is created, updated and read (see [`Expiry`]). The time-to-idle
    /// and time-to-live, if set, still apply: an entry expires at the
    /// earliest of the three deadlines. The Redis backend has no per-entry
    /// deadlines and refuses it with [`BuildError::UnsupportedSetting`].
    pub fn expire_after(mut self, expiry: impl Expiry<K, V> + 'static) -> Self {
        self.expiry = Some(Arc::new(expiry));
        self
    }

    /// The same as [`time_to_live`](Self::time_to_live), under the name
    /// earlier versions used.
    pub fn max_lifetime(self, d: Duration) -> Self {
        self.time_to_live(d)
    }

    /// Bounds the cache to `n` entries (or `n` units of weight with
    /// [`weigher`](Self::weigher)).
    pub fn max_capacity(mut self, n: u64) -> Self {
        self.max_capacity = Some(n);
        self
    }

    /// How many entries the cache is expected to hold, for sizing its
    /// eviction policy (segment sizes, frequency sketch, ghost lists).
    ///
    /// Without a weigher the capacity is the entry count and this only
    /// lowers it (a smaller sketch for a cache rarely full). With a weigher
    /// the capacity is in weight units (bytes, say), which say nothing of the
    /// entry count, so set this to the capacity divided by the typical
    /// weight; otherwise the policy is sized for
    /// `min(max_capacity, `[`DEFAULT_WEIGHTED_ENTRIES`]`)` entries. Either
    /// way a policy allocates for at most
    /// [`MAX_SIZED_ENTRIES`](ttlkit_strategies::MAX_SIZED_ENTRIES) entries
    /// (a W-TinyLFU sketch of at most 12 MiB, grown with the residents); a larger value still bounds
    /// its segments. Zero is a [`BuildError::ZeroExpectedEntries`].
    pub fn expected_entries(mut self, n: u64) -> Self {
        self.expected_entries = Some(n);
        self
    }

    /// Measures entries by weight instead of count for `max_capacity`.
    pub fn weigher(mut self, f: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Arc::new(f));
        self
    }

    /// The eviction policy by name (see [`PolicyKind::from_name`]); `build()`
    /// rejects an unknown name with [`BuildError::UnknownPolicy`]. The
    /// default is `lru`. A backend that cannot run the policy refuses it
    /// with [`BuildError::UnsupportedPolicy`].
    pub fn policy(mut self, name: impl AsRef<str>) -> Self {
        self.policy = Some(PolicyKind::from_name(name.as_ref()));
        self
    }

    /// The eviction policy, typed.
    pub fn policy_kind(mut self, kind: PolicyKind) -> Self {
        self.policy = Some(Ok(kind));
        self
    }

    /// Runs the background sweeper at this interval, at least 1 ms (a
    /// shorter one is raised to 1 ms; zero is a [`BuildError::ZeroDuration`]).
    /// A sweep that finds more expired entries than one batch keeps going,
    /// batch by batch, without waiting for the next tick.
    pub fn sweep_interval(mut self, d: Duration) -> Self {
        self.sweep = SweepSetting::Every(d);
        self
    }

    /// Runs no background sweeper.
    pub fn no_sweeper(mut self) -> Self {
        self.sweep = SweepSetting::Off;
        self
    }

    /// Reads time from `clock` (a [`crate::clock::MockClock`] in tests).
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(ClockSource::from_clock(clock));
        self
    }

    /// Calls `f` exactly once for every entry that leaves, with its cause,
    /// never while a cache lock is held. A panic in `f` is contained.
    pub fn removal_listener(mut self, f: impl Fn(&K, V, RemovalCause) + Send + Sync + 'static) -> Self {
        self.listener = Some(Arc::new(f));
        self
    }

    /// How far an access stamp must lag before a hit rewrites it (see
    /// [`expiry`](crate#expiry-precision)); zero makes idle expiry exact. It
    /// may not exceed the time-to-idle; without one it means nothing (hits
    /// then never rewrite a stamp).
    pub fn refresh_granularity(mut self, d: Duration) -> Self {
        self.granularity = Some(d);
        self
    }

    /// The number of shards of a sharded backend (a power of two).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// Validates the settings and builds backend `B`.
    pub fn build<B: FromConfig<K, V>>(self) -> Result<B, BuildError> {
        B::from_config(self.validate()?)
    }

    /// Checks every setting and resolves defaults.
    pub fn validate(self) -> Result<Config<K, V>, BuildError> {
        let idle = self.time_to_idle.map(|d| check_duration("time_to_idle", d, MAX_DURATION)).transpose()?;
        let lifetime = self.time_to_live.map(|d| check_duration("time_to_live", d, MAX_DURATION)).transpose()?;
        // No idle timeout behaves as the longest one: reads then never need
        // to rewrite a stamp.
        let tti = idle.unwrap_or(MAX_DURATION);
        if self.max_capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        if self.expected_entries == Some(0) {
            return Err(BuildError::ZeroExpectedEntries);
        }
        let policy_entries =
            self.max_capacity.map(|cap| policy_entries(cap, self.weigher.is_some(), self.expected_entries));
        let rules = Timeouts { idle, live: lifetime, granularity: self.granularity }.rules()?;
        let horizon = tti.min(lifetime.unwrap_or(MAX_DURATION));
        let sweep_interval = match self.sweep {
            SweepSetting::Off => None,
            // Entries can still get deadlines of their own.
            SweepSetting::Default if idle.is_none() && lifetime.is_none() => Some(Duration::from_secs(1)),
            SweepSetting::Default => Some((horizon / 2).clamp(Duration::from_millis(10), Duration::from_secs(1))),
            SweepSetting::Every(d) => Some(check_duration("sweep_interval", d, MAX_DURATION)?.max(MIN_SWEEP_INTERVAL)),
        };
        let policy_set = self.policy.is_some();
        let policy = self.policy.transpose()?.unwrap_or(PolicyKind::Lru);
        if let Some(n) = self.shards {
            if n == 0 || !n.is_power_of_two() || n > 65_536 {
                return Err(BuildError::InvalidShards(n));
            }
        }
        let loads = self.loads.validate(sweep_interval.is_some())?;
        Ok(Config {
            rules,
            time_to_idle: idle,
            time_to_live: lifetime,
            max_capacity: self.max_capacity,
            weigher: self.weigher,
            policy,
            policy_set,
            granularity_set: self.granularity.is_some(),
            sweep_interval,
            // The system clock is made only when needed (it calibrates).
            clock: self.clock.unwrap_or_else(|| ClockSource::System(SystemClock::new())),
            listener: self.listener,
            shards: self.shards,
            policy_entries,
            hasher: crate::sync::RandomState::default(),
            own: OwnDeadlines::new(self.expiry),
            loads,
        })
    }
}

/// The entry count a policy is sized for (see
/// [`CacheBuilder::expected_entries`]).
fn policy_entries(max_capacity: u64, weighted: bool, expected: Option<u64>) -> u64 {
    match (weighted, expected) {
        (false, Some(n)) => n.min(max_capacity),
        (false, None) => max_capacity,
        (true, Some(n)) => n,
        (true, None) => max_capacity.min(DEFAULT_WEIGHTED_ENTRIES),
    }
}

pub(crate) fn check_duration(what: &'static str, d: Duration, max: Duration) -> Result<Duration, BuildError> {
    if d.is_zero() {
        Err(BuildError::ZeroDuration { what })
    } else if d > max {
        Err(BuildError::DurationTooLong { what, value: d, max })
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Ticks;

    fn b() -> CacheBuilder<u32, u32> {
        CacheBuilder::new().time_to_idle(Duration::from_secs(1))
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let zero = CacheBuilder::<u32, u32>::new().time_to_idle(Duration::ZERO).validate();
        assert!(matches!(zero, Err(BuildError::ZeroDuration { what: "time_to_idle" })));
        let long = b().time_to_live(MAX_DURATION + Duration::from_secs(1)).validate();
        assert!(matches!(long, Err(BuildError::DurationTooLong { what: "time_to_live", .. })));
        assert!(matches!(b().max_capacity(0).validate(), Err(BuildError::ZeroCapacity)));
        assert!(matches!(b().expected_entries(0).validate(), Err(BuildError::ZeroExpectedEntries)));
        assert!(matches!(b().policy("mru-ish").validate(), Err(BuildError::UnknownPolicy(_))));
        assert!(matches!(b().sweep_interval(Duration::ZERO).validate(), Err(BuildError::ZeroDuration { .. })));
        assert!(matches!(b().shards(3).validate(), Err(BuildError::InvalidShards(3))));
        let g = b().refresh_granularity(Duration::from_secs(2)).validate();
        assert!(matches!(g, Err(BuildError::DurationTooLong { what: "refresh_granularity", .. })));
        let msg = b().policy("nope").validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("nope") && msg.contains("lru"), "{msg}");
    }

    /// `policy(name)` parses once, when set: the same kind as `policy_kind`,
    /// the last setting wins, and `Config` knows whether one was set.
    #[test]
    fn policy_names_and_kinds_agree() {
        let chosen = |b: CacheBuilder<u32, u32>| b.validate().ok().map(|c| (c.policy(), c.policy_set));
        assert_eq!(chosen(b()), Some((PolicyKind::Lru, false)), "the default is lru, not set");
        assert_eq!(chosen(b().policy("W_TinyLFU")), Some((PolicyKind::WTinyLfu, true)));
        assert_eq!(chosen(b().policy_kind(PolicyKind::Sieve)), Some((PolicyKind::Sieve, true)));
        assert_eq!(chosen(b().policy("nope").policy_kind(PolicyKind::Arc)), Some((PolicyKind::Arc, true)));
        assert!(matches!(
            b().policy_kind(PolicyKind::Arc).policy("nope").validate(),
            Err(BuildError::UnknownPolicy(_))
        ));
        let g = |b: CacheBuilder<u32, u32>| b.validate().ok().map(|c| c.granularity_set);
        assert_eq!((g(b()), g(b().refresh_granularity(Duration::ZERO))), (Some(false), Some(true)));
    }

    #[test]
    fn explicit_sweep_intervals_have_a_floor() {
        let interval = |d| b().sweep_interval(d).validate().ok().and_then(|c| c.sweep_interval());
        assert_eq!(interval(Duration::from_nanos(1)), Some(Duration::from_millis(1)), "1 ns would spin a core");
        assert_eq!(interval(Duration::from_micros(999)), Some(Duration::from_millis(1)));
        assert_eq!(interval(Duration::from_millis(1)), Some(Duration::from_millis(1)));
        assert_eq!(interval(Duration::from_millis(3)), Some(Duration::from_millis(3)), "above the floor: as asked");
    }

    #[test]
    fn defaults_resolve() {
        let c = CacheBuilder::<u32, u32>::new().time_to_idle(Duration::from_secs(3600)).validate().ok();
        let c = c.as_ref();
        assert_eq!(c.map(|c| c.sweep_interval()), Some(Some(Duration::from_secs(1))));
        assert_eq!(c.map(|c| c.policy()), Some(PolicyKind::Lru));
        assert_eq!(c.map(|c| c.shards()), Some(None));
    }

    #[test]
    fn expiry_settings_alone_together_or_neither() {
        let c = |b: CacheBuilder<u32, u32>| {
            b.validate().ok().map(|c| (c.time_to_idle(), c.time_to_live(), c.sweep_interval()))
        };
        let (s1, s2, s3) = (Duration::from_millis(400), Duration::from_secs(2), Duration::from_secs(3600));
        assert_eq!(
            c(CacheBuilder::new()),
            Some((None, None, Some(Duration::from_secs(1)))),
            "own deadlines still come due"
        );
        assert_eq!(c(CacheBuilder::new().time_to_live(s1)), Some((None, Some(s1), Some(s1 / 2))));
        assert_eq!(c(CacheBuilder::new().time_to_idle(s2)), Some((Some(s2), None, Some(Duration::from_secs(1)))));
        let both = CacheBuilder::new().time_to_idle(s3).max_lifetime(s1);
        assert_eq!(
            c(both),
            Some((Some(s3), Some(s1), Some(s1 / 2))),
            "max_lifetime is time_to_live; the shorter sweeps"
        );
        let horizon =
            CacheBuilder::<u32, u32>::new().time_to_idle(s3).time_to_live(s2).validate().ok().map(|c| c.horizon());
        assert_eq!(horizon, Some(s2));
        // Without an idle timeout a granularity means nothing and is no error.
        assert!(CacheBuilder::<u32, u32>::new().refresh_granularity(s3).validate().is_ok());
        let rules = CacheBuilder::<u32, u32>::new().validate().ok().map(|c| c.rules());
        let far = Ticks::from_nanos(50 * 365 * 24 * 3600 * 1_000_000_000);
        assert_eq!(
            rules.map(|r| (r.is_expired(far, Ticks::ZERO, Ticks::ZERO, Ticks::MAX), r.needs_refresh(far, Ticks::ZERO))),
            Some((false, false))
        );
    }

    #[test]
    fn policies_are_sized_by_entries_not_weight() {
        let entries = |b: CacheBuilder<u32, u32>| b.validate().ok().and_then(|c| c.policy_entries());
        assert_eq!(entries(b().max_capacity(u64::MAX)), Some(u64::MAX), "unweighted: the entry bound");
        assert_eq!(entries(b().max_capacity(1_000).expected_entries(10)), Some(10));
        assert_eq!(entries(b().max_capacity(10).expected_entries(1_000)), Some(10), "never above the bound");
        let weighted = || b().max_capacity(1 << 30).weigher(|_, _| 1_024);
        assert_eq!(entries(weighted()), Some(DEFAULT_WEIGHTED_ENTRIES));
        assert_eq!(entries(weighted().expected_entries(1 << 20)), Some(1 << 20));
        assert_eq!(entries(b().max_capacity(100).weigher(|_, _| 10)), Some(100), "small bounds stay as they were");
        assert_eq!(entries(b()), None);
    }
}
