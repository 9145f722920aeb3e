//! [`RateLimiter`]: a per-key rate limit by the generic cell rate algorithm
//! (GCRA), with a default [`Quota`] and per-key overrides.
//!
//! GCRA keeps one number per key, its *theoretical arrival time* (TAT): the
//! instant by which the key's requests so far would have drained at the
//! quota's rate. A request at `now` is allowed when, after it, the TAT is no
//! more than one burst window (`burst * period`) ahead of `now`; it then
//! moves the TAT one period on. So `burst` requests pass at once, then one
//! per period.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::mutex::MutexCache;
use crate::builder::{BuildError, CacheBuilder, MAX_DURATION};
use crate::cache::SlidingTtlCache;
use crate::clock::{duration_to_nanos, Clock, ClockSource, SystemClock, Ticks};
use crate::per_entry::Expiry;

/// How many keys a limiter tracks at most by default (see
/// [`RateLimiterBuilder::max_keys`]).
pub const DEFAULT_MAX_KEYS: u64 = 100_000;

/// A rate and a burst: one request per `period` on average, up to `burst`
/// at once. Only valid quotas can be made.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{Quota, QuotaError};
///
/// let q = Quota::per_second(10, 20)?;
/// assert_eq!(q.period(), Duration::from_millis(100));
/// assert_eq!(q.burst(), 20);
/// assert_eq!(q.burst_window(), Duration::from_secs(2));
/// assert_eq!(Quota::with_period(Duration::from_secs(6), 1)?.period(), Duration::from_secs(6));
/// assert_eq!(Quota::per_second(0, 5), Err(QuotaError::ZeroRate));
/// assert_eq!(Quota::per_second(5, 0), Err(QuotaError::ZeroBurst));
/// # Ok::<(), QuotaError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    period_nanos: u64,
    burst: u32,
}

/// Why a [`Quota`] could not be made.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{Quota, QuotaError};
///
/// assert_eq!(Quota::with_period(Duration::ZERO, 1), Err(QuotaError::ZeroRate));
/// assert!(matches!(Quota::per_second(2_000_000_000, 1), Err(QuotaError::RateTooHigh { .. })));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// A rate of zero (or a zero period): no request could ever pass.
    #[error("a quota's rate must be above zero")]
    ZeroRate,
    /// A burst of zero: no request could ever pass.
    #[error("a quota's burst must be at least 1")]
    ZeroBurst,
    /// More than one request per nanosecond, the clock's resolution.
    #[error("a quota's rate of {rate} per second is above one per nanosecond")]
    RateTooHigh {
        /// The rate asked for.
        rate: u32,
    },
    /// `burst * period` is longer than [`MAX_DURATION`](crate::MAX_DURATION).
    #[error("a quota's burst window ({window:?}) is longer than {max:?}")]
    WindowTooLong {
        /// `burst * period`, saturated.
        window: Duration,
        /// The longest window accepted.
        max: Duration,
    },
}

impl Quota {
    /// `rate` requests per second on average (the period is one second
    /// divided by `rate`, rounded down to a nanosecond), up to `burst` at once.
    pub fn per_second(rate: u32, burst: u32) -> Result<Quota, QuotaError> {
        if rate == 0 {
            return Err(QuotaError::ZeroRate);
        }
        let period = Duration::from_secs(1) / rate;
        if period.is_zero() {
            return Err(QuotaError::RateTooHigh { rate });
        }
        Quota::with_period(period, burst)
    }

    /// One request per `period` on average, up to `burst` at once.
    pub fn with_period(period: Duration, burst: u32) -> Result<Quota, QuotaError> {
        if period.is_zero() {
            return Err(QuotaError::ZeroRate);
        }
        if burst == 0 {
            return Err(QuotaError::ZeroBurst);
        }
        let window = period.saturating_mul(burst);
        if window > MAX_DURATION {
            return Err(QuotaError::WindowTooLong { window, max: MAX_DURATION });
        }
        // The window fits in MAX_DURATION (about a century), so in u64 nanos.
        Ok(Quota { period_nanos: duration_to_nanos(period), burst })
    }

    /// The time one request costs: the inverse of the rate.
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period_nanos)
    }

    /// How many requests may pass at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// `burst * period`: how long a full burst takes to drain, and so how
    /// long a key's state matters after its last request.
    pub fn burst_window(&self) -> Duration {
        Duration::from_nanos(self.window_nanos())
    }

    fn window_nanos(&self) -> u64 {
        // Checked in `with_period`: at most MAX_DURATION, so no overflow.
        self.period_nanos.saturating_mul(u64::from(self.burst))
    }
}

/// A request refused by a [`RateLimiter`]: retry in `retry_in`, when the
/// key's next request would pass (if no other request of the key comes
/// first).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::Limited;
///
/// let limited = Limited { retry_in: Duration::from_millis(250) };
/// assert_eq!(limited.to_string(), "rate limited: retry in 250ms");
/// let _: &dyn std::error::Error = &limited;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited: retry in {retry_in:?}")]
pub struct Limited {
    /// How long until a request of this key would pass.
    pub retry_in: Duration,
}

/// Picks a key's own quota; `None` gives it the limiter's default.
type Overrides<K> = Arc<dyn Fn(&K) -> Option<Quota> + Send + Sync + 'static>;

/// One key's GCRA state, shared by every thread that checks the key.
#[derive(Debug)]
struct KeyState {
    /// The theoretical arrival time, in nanoseconds on the limiter's clock.
    tat: AtomicU64,
    /// How long the state still matters after a check: the key's current
    /// burst window plus one period. Read by [`Forget`] to set the entry's
    /// deadline.
    keep_nanos: AtomicU64,
}

/// Gives each key's state a deadline of its own: its burst window (plus a
/// period) after its last check. By then the TAT is in the past, the state
/// is the same as a fresh one, and dropping it changes no decision.
struct Forget;

impl<K> Expiry<K, Arc<KeyState>> for Forget {
    fn expire_after_create(&self, _: &K, state: &Arc<KeyState>, _: Ticks) -> Option<Duration> {
        Some(Duration::from_nanos(state.keep_nanos.load(Ordering::Relaxed)))
    }

    fn expire_after_read(&self, _: &K, state: &Arc<KeyState>, _: Ticks, _: Option<Duration>) -> Option<Duration> {
        Some(Duration::from_nanos(state.keep_nanos.load(Ordering::Relaxed)))
    }
}

/// A per-key rate limit by GCRA: a default [`Quota`], optionally a quota of
/// its own for some keys, and [`check`](Self::check) per request.
///
/// **Bounded state.** Each key's TAT lives in a [`MutexCache`] whose entries
/// carry a deadline of their own: one burst window (plus one period) after
/// the key's last check, the instant from which the state equals a fresh
/// one. So an idle key's state leaves exactly when it stops mattering,
/// whatever its quota (a single cache-wide idle timeout would have to guess
/// the longest override's window: too short lets a returning key burst
/// early, too long keeps the state of every key seen in that time). Expired
/// state is swept in the background (or by [`purge_idle`](Self::purge_idle)).
/// On top of that, at most [`max_keys`](RateLimiterBuilder::max_keys) keys
/// are tracked (default [`DEFAULT_MAX_KEYS`]) so a flood of distinct keys
/// cannot grow the map: past it the eviction policy drops some key's state,
/// and that key starts afresh (the limiter fails open for it, rather than
/// refusing traffic it cannot account for).
///
/// **Concurrency.** The state is an atomic TAT updated by compare-and-swap,
/// and a new key's state is created once (single-flight), so however many
/// threads check one key at one instant, at most `burst` pass. (Only a
/// state dropped while a check holds it, by eviction past `max_keys` or by a
/// thread stalled for a whole burst window, can let a key start afresh.)
///
/// The override callback runs on every check, so a changed quota (a plan
/// upgrade) applies at once; keep it cheap. Handles are cheap clones
/// sharing one limiter.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{Limited, Quota, RateLimiter};
/// use ttlkit::clock::MockClock;
///
/// let clock = MockClock::new();
/// let limiter: RateLimiter<&str> = RateLimiter::builder(Quota::per_second(1, 2)?)
///     .overrides(|key: &&str| (*key == "gold").then(|| Quota::per_second(100, 100)).and_then(Result::ok))
///     .clock(clock.clone())
///     .build()?;
///
/// assert!(limiter.check(&"free").is_ok());
/// assert!(limiter.check(&"free").is_ok());
/// assert_eq!(limiter.check(&"free"), Err(Limited { retry_in: Duration::from_secs(1) }));
/// assert!((0..100).all(|_| limiter.check(&"gold").is_ok()));
/// clock.advance(Duration::from_secs(1));
/// assert!(limiter.check(&"free").is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RateLimiter<K> {
    states: MutexCache<K, Arc<KeyState>>,
    default: Quota,
    overrides: Option<Overrides<K>>,
    clock: ClockSource,
}

impl<K> Clone for RateLimiter<K> {
    fn clone(&self) -> Self {
        RateLimiter {
            states: self.states.clone(),
            default: self.default,
            overrides: self.overrides.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<K> fmt::Debug for RateLimiter<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("default", &self.default)
            .field("overrides", &self.overrides.is_some())
            .field("tracked_keys", &self.states.len())
            .field("clock", &self.clock)
            .finish()
    }
}

impl<K> RateLimiter<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A limiter giving every key `default`, on the [`SystemClock`].
    pub fn new(default: Quota) -> Result<RateLimiter<K>, BuildError> {
        RateLimiter::builder(default).build()
    }

    /// A builder with `default` as every key's quota.
    pub fn builder(default: Quota) -> RateLimiterBuilder<K> {
        RateLimiterBuilder { default, overrides: None, clock: None, max_keys: DEFAULT_MAX_KEYS }
    }

    /// The quota `key` gets: its override, or the default.
    pub fn quota_for(&self, key: &K) -> Quota {
        self.overrides.as_ref().and_then(|pick| pick(key)).unwrap_or(self.default)
    }

    /// Counts one request of `key` now: `Ok(())` if it may pass, or
    /// [`Limited`] with the time until one would. A refused request costs
    /// the key nothing.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        let quota = self.quota_for(key);
        let keep = quota.window_nanos().saturating_add(quota.period_nanos);
        let state = self.states.get_or_insert_with(key.clone(), || {
            Arc::new(KeyState { tat: AtomicU64::new(0), keep_nanos: AtomicU64::new(keep) })
        });
        if state.keep_nanos.swap(keep, Ordering::Relaxed) < keep {
            // The key's quota grew: read the entry once more so its deadline
            // follows the longer window before the TAT can outrun it.
            let _ = self.states.get(key);
        }
        let now = self.clock.now().as_nanos();
        let mut tat = state.tat.load(Ordering::Acquire);
        loop {
            let next = tat.max(now).saturating_add(quota.period_nanos);
            let allowed_until = now.saturating_add(quota.window_nanos());
            if next > allowed_until {
                return Err(Limited { retry_in: Duration::from_nanos(next - allowed_until) });
            }
            // A lost race re-reads the TAT another thread moved, so each
            // passing request takes its own period.
            match state.tat.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// How many keys have state now, including idle ones not yet swept.
    pub fn tracked_keys(&self) -> usize {
        self.states.len()
    }

    /// Drops the state of every key idle past its burst window now, without
    /// waiting for the background sweep; returns how many left.
    pub fn purge_idle(&self) -> usize {
        self.states.purge_expired()
    }
}

/// Configures a [`RateLimiter`]: the default quota, per-key overrides, the
/// clock and the bound on tracked keys.
///
/// ```
/// use ttlkit::client_store::{Quota, RateLimiter};
/// use ttlkit::clock::MockClock;
///
/// let limiter: RateLimiter<u64> = RateLimiter::builder(Quota::per_second(5, 10)?)
///     .overrides(|tenant: &u64| if *tenant == 0 { Quota::per_second(50, 50).ok() } else { None })
///     .max_keys(1_000)
///     .clock(MockClock::new())
///     .build()?;
/// assert_eq!(limiter.quota_for(&0).burst(), 50);
/// assert_eq!(limiter.quota_for(&7).burst(), 10);
/// assert!(RateLimiter::<u64>::builder(Quota::per_second(5, 10)?).max_keys(0).build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RateLimiterBuilder<K> {
    default: Quota,
    overrides: Option<Overrides<K>>,
    clock: Option<ClockSource>,
    max_keys: u64,
}

impl<K> fmt::Debug for RateLimiterBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterBuilder")
            .field("default", &self.default)
            .field("overrides", &self.overrides.is_some())
            .field("clock", &self.clock)
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl<K> RateLimiterBuilder<K>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// Asks `pick` for each key's quota on every check; `None` gives the
    /// default. Runs outside any lock of the limiter.
    pub fn overrides(mut self, pick: impl Fn(&K) -> Option<Quota> + Send + Sync + 'static) -> Self {
        self.overrides = Some(Arc::new(pick));
        self
    }

    /// Reads time from `clock` (a [`crate::clock::MockClock`] in tests;
    /// default: the [`SystemClock`]).
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(ClockSource::from_clock(clock));
        self
    }

    /// The same, for a clock already wrapped (the store's).
    pub(crate) fn clock_source(mut self, clock: Option<ClockSource>) -> Self {
        self.clock = clock.or(self.clock);
        self
    }

    /// Tracks at most `n` keys (default [`DEFAULT_MAX_KEYS`]); past it a
    /// key's state is evicted and that key starts afresh. Zero is refused
    /// at [`build`](Self::build) with [`BuildError::ZeroCapacity`].
    pub fn max_keys(mut self, n: u64) -> Self {
        self.max_keys = n;
        self
    }

    /// Builds the limiter.
    pub fn build(self) -> Result<RateLimiter<K>, BuildError> {
        let clock = self.clock.unwrap_or_else(|| ClockSource::from_clock(SystemClock::new()));
        let states = CacheBuilder::new().max_capacity(self.max_keys).expire_after(Forget);
        // The deadlines are instants on the limiter's clock: the cache must
        // read the same one.
        let states = match &clock {
            ClockSource::System(c) => states.clock(c.clone()),
            ClockSource::Mock(c) => states.clock(c.clone()),
            ClockSource::Custom(c) => states.clock(Shared(Arc::clone(c))),
        };
        Ok(RateLimiter { states: states.build()?, default: self.default, overrides: self.overrides, clock })
    }
}

/// Hands a custom clock the limiter holds to its cache too.
#[derive(Debug)]
struct Shared(Arc<dyn Clock>);

impl Clock for Shared {
    fn now(&self) -> Ticks {
        self.0.now()
    }
}
