//! [`RetryBudget`]: retries allowed only as a fraction of recent requests,
//! so a failing upstream sees at most that much extra load.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::builder::MAX_DURATION;
use crate::client_store::window::SlidingCounts;
use crate::clock::{Clock, ClockSource, SystemClock};

/// The largest ratio accepted: 100 retries per request is already far past
/// any sensible policy.
const MAX_RATIO: f64 = 100.0;

/// A budget's settings: over the last `window`, retries may reach
/// `min_retries + ratio * requests`.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{BudgetError, BudgetSettings};
///
/// let s = BudgetSettings::new(Duration::from_secs(10), 0.2, 10)?;
/// assert_eq!((s.window(), s.ratio(), s.min_retries()), (Duration::from_secs(10), 0.2, 10));
/// assert_eq!(BudgetSettings::default(), s);
/// assert_eq!(BudgetSettings::new(Duration::ZERO, 0.2, 10), Err(BudgetError::ZeroWindow));
/// assert!(matches!(BudgetSettings::new(Duration::from_secs(1), -1.0, 10), Err(BudgetError::BadRatio { .. })));
/// # Ok::<(), BudgetError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSettings {
    window: Duration,
    ratio: f64,
    min_retries: u32,
}

impl Default for BudgetSettings {
    /// A 10 s window, retries up to 20 % of requests plus 10.
    fn default() -> Self {
        BudgetSettings { window: Duration::from_secs(10), ratio: 0.2, min_retries: 10 }
    }
}

/// Why [`BudgetSettings`] could not be made.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{BudgetError, BudgetSettings};
///
/// let err = BudgetSettings::new(Duration::from_secs(1), f64::NAN, 0).unwrap_err();
/// assert!(err.to_string().contains("ratio"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// A zero window counts nothing.
    #[error("a retry budget's window must be above zero")]
    ZeroWindow,
    /// A window longer than [`MAX_DURATION`](crate::MAX_DURATION).
    #[error("a retry budget's window ({window:?}) is longer than {max:?}")]
    WindowTooLong {
        /// The window asked for.
        window: Duration,
        /// The longest accepted.
        max: Duration,
    },
    /// A ratio that is negative, not a number, or above 100.
    #[error("a retry budget's ratio must be a number from 0 to 100, not {ratio}")]
    BadRatio {
        /// The ratio asked for.
        ratio: f64,
    },
}

impl BudgetSettings {
    /// Over the last `window`, at most `min_retries + ratio * requests`
    /// retries (`ratio` 0.2: one retry per five requests).
    pub fn new(window: Duration, ratio: f64, min_retries: u32) -> Result<BudgetSettings, BudgetError> {
        if window.is_zero() {
            return Err(BudgetError::ZeroWindow);
        }
        if window > MAX_DURATION {
            return Err(BudgetError::WindowTooLong { window, max: MAX_DURATION });
        }
        if !(0.0..=MAX_RATIO).contains(&ratio) {
            return Err(BudgetError::BadRatio { ratio });
        }
        Ok(BudgetSettings { window, ratio, min_retries })
    }

    /// The sliding window requests and retries are counted over.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Retries allowed per request in the window.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Retries allowed in the window however few the requests.
    pub fn min_retries(&self) -> u32 {
        self.min_retries
    }
}

/// Index of the requests in the window's counts; the retries are the other.
const REQUESTS: usize = 0;
const RETRIES: usize = 1;

struct Inner {
    settings: BudgetSettings,
    clock: ClockSource,
    counts: Mutex<SlidingCounts>,
}

/// Retries allowed while they stay under a fraction of recent requests:
/// over a sliding window (counted in tenths), retries may reach
/// `min_retries + ratio * requests`. When an upstream fails every request,
/// retries add at most `ratio` more load (plus the small minimum), not
/// `max_attempts` times as much; the minimum lets a quiet key retry at all.
///
/// Call [`record_request`](Self::record_request) once per request (its
/// first attempt; retries are not requests) and
/// [`try_retry`](Self::try_retry) before each retry. Clones share one
/// budget; [`fresh`](Self::fresh) makes a new empty one with the same
/// settings and clock, so one budget for a store and one per key (held in a
/// ttlkit cache, say) come from one template.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{BudgetSettings, RetryBudget};
/// use ttlkit::clock::MockClock;
///
/// let clock = MockClock::new();
/// let store = RetryBudget::with_clock(BudgetSettings::new(Duration::from_secs(10), 0.2, 0)?, clock.clone());
/// let key = store.fresh();
/// (0..10).for_each(|_| key.record_request());
/// assert!(key.try_retry() && key.try_retry(), "20 % of 10 requests: 2 retries");
/// assert!(!key.try_retry());
/// assert!(!store.try_retry(), "the store saw no request");
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(key.counts(), (0, 0), "the window slid past them");
/// # Ok::<(), ttlkit::client_store::BudgetError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (requests, retries) = self.counts();
        f.debug_struct("RetryBudget")
            .field("settings", &self.inner.settings)
            .field("requests", &requests)
            .field("retries", &retries)
            .finish()
    }
}

impl Default for RetryBudget {
    /// [`BudgetSettings::default`] on the [`SystemClock`].
    fn default() -> Self {
        RetryBudget::new(BudgetSettings::default())
    }
}

impl RetryBudget {
    /// An empty budget on the [`SystemClock`].
    pub fn new(settings: BudgetSettings) -> RetryBudget {
        RetryBudget::from_source(settings, ClockSource::from_clock(SystemClock::new()))
    }

    /// An empty budget reading time from `clock` (a
    /// [`MockClock`](crate::clock::MockClock) in tests).
    pub fn with_clock<C: Clock>(settings: BudgetSettings, clock: C) -> RetryBudget {
        RetryBudget::from_source(settings, ClockSource::from_clock(clock))
    }

    pub(crate) fn from_source(settings: BudgetSettings, clock: ClockSource) -> RetryBudget {
        let inner = Inner { settings, clock, counts: Mutex::new(SlidingCounts::new(settings.window)) };
        RetryBudget { inner: Arc::new(inner) }
    }

    /// A new empty budget with these settings and this clock.
    pub fn fresh(&self) -> RetryBudget {
        RetryBudget::from_source(self.inner.settings, self.inner.clock.clone())
    }

    /// The settings.
    pub fn settings(&self) -> BudgetSettings {
        self.inner.settings
    }

    /// Counts one request (a first attempt) now.
    pub fn record_request(&self) {
        self.with_current(|bucket, _| bucket[REQUESTS] += 1);
    }

    /// Whether a retry may be made now; if so it is counted. Allowed while
    /// the retries in the window are fewer than `min_retries + ratio *
    /// requests`.
    pub fn try_retry(&self) -> bool {
        let s = self.inner.settings;
        self.with_current(|bucket, [requests, retries]| {
            // In millionths, so 0.29 of 100 requests is 29, not 28.999...;
            // rounded down: 0.2 of 9 requests allows 1 retry, not 1.8.
            let ppm = (s.ratio * 1e6).round() as u128;
            let share = u64::try_from(u128::from(requests) * ppm / 1_000_000).unwrap_or(u64::MAX);
            let allowed = share.saturating_add(u64::from(s.min_retries));
            let ok = retries < allowed;
            if ok {
                bucket[RETRIES] += 1;
            }
            ok
        })
    }

    /// Takes back one retry counted by [`try_retry`](Self::try_retry) that
    /// was not made after all (another budget refused it).
    pub(crate) fn refund_retry(&self) {
        self.with_current(|bucket, _| bucket[RETRIES] = bucket[RETRIES].saturating_sub(1));
    }

    /// The requests and retries counted over the window now.
    pub fn counts(&self) -> (u64, u64) {
        self.with_current(|_, [requests, retries]| (requests, retries))
    }

    /// Runs `f` on the current bucket's counts and the window's totals,
    /// under the lock (so a check and its count are one step).
    fn with_current<R>(&self, f: impl FnOnce(&mut [u64; 2], [u64; 2]) -> R) -> R {
        let now = self.inner.clock.now();
        self.inner.counts.lock().at(now, f)
    }
}
