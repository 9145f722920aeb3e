//! [`RetryPolicy`]: capped attempts, exponential backoff with full jitter,
//! `Retry-After` honoured, and [`RetryBudget`]s consulted before each retry.
//!
//! The policy only decides; it never sleeps, so it serves sync and async
//! callers alike (and tests run without waiting).

use std::time::Duration;

use crate::client_store::fingerprint::NoRandomness;
use crate::client_store::retry_budget::RetryBudget;

/// When and whether to retry: at most `max_attempts` attempts in all (the
/// first one included), the `n`-th retry after a random delay in
/// `[0, min(max_delay, base * 2^(n-1))]` ("full jitter"), or after the
/// server's `Retry-After` when that is longer, still capped by `max_delay`.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{GiveUp, JitterRng, RetryDecision, RetryPolicy};
///
/// let policy = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(5));
/// let mut rng = JitterRng::seeded(7);
/// // Attempt 1 failed: retry within 100 ms.
/// assert!(policy.delay(0, &mut rng) <= Duration::from_millis(100));
/// // The server said `Retry-After: 2`: that wins over the backoff.
/// let decision = policy.decide(1, Some(Duration::from_secs(2)), &[], &mut rng);
/// assert_eq!(decision, RetryDecision::Retry(Duration::from_secs(2)));
/// // Three attempts made: give up.
/// assert_eq!(policy.decide(3, None, &[], &mut rng), RetryDecision::GiveUp(GiveUp::Attempts));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1: never retry).
    pub max_attempts: u32,
    /// The backoff's first ceiling, doubled with each retry.
    pub base: Duration,
    /// No delay is longer, whatever the backoff or `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, 100 ms base, 10 s ceiling.
    fn default() -> Self {
        RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(10))
    }
}

/// What [`RetryPolicy::decide`] says after a failed attempt.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{JitterRng, RetryDecision, RetryPolicy};
///
/// let policy = RetryPolicy::new(2, Duration::from_millis(10), Duration::from_secs(1));
/// match policy.decide(1, None, &[], &mut JitterRng::seeded(1)) {
///     RetryDecision::Retry(wait) => assert!(wait <= Duration::from_millis(10)),
///     RetryDecision::GiveUp(why) => panic!("gave up: {why:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Retry after waiting this long.
    Retry(Duration),
    /// Do not retry; return the last failure.
    GiveUp(GiveUp),
}

/// Why [`RetryPolicy::decide`] gave up.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{BudgetSettings, GiveUp, JitterRng, RetryBudget, RetryDecision, RetryPolicy};
/// use ttlkit::clock::MockClock;
///
/// let empty = RetryBudget::with_clock(BudgetSettings::new(Duration::from_secs(10), 0.2, 0)?, MockClock::new());
/// let decision = RetryPolicy::default().decide(1, None, &[&empty], &mut JitterRng::seeded(1));
/// assert_eq!(decision, RetryDecision::GiveUp(GiveUp::Budget));
/// # Ok::<(), ttlkit::client_store::BudgetError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// `max_attempts` attempts were made.
    Attempts,
    /// A retry budget is spent: the upstream is failing and retrying would
    /// only add load.
    Budget,
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts in all, backing off from `base`
    /// up to `max_delay`.
    pub fn new(max_attempts: u32, base: Duration, max_delay: Duration) -> RetryPolicy {
        RetryPolicy { max_attempts, base, max_delay }
    }

    /// The backoff before retry number `retry + 1` (`retry` counts from 0):
    /// uniform in `[0, min(max_delay, base * 2^retry)]`.
    pub fn delay(&self, retry: u32, rng: &mut JitterRng) -> Duration {
        let max = self.max_delay.as_nanos();
        // Past 2^127 every ceiling is max_delay anyway.
        let ceiling = if retry >= 127 { max } else { self.base.as_nanos().saturating_mul(1u128 << retry).min(max) };
        // max_delay as nanos: a Duration's nanos fit in 94 bits, so in u128.
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.below_inclusive(ceiling))
    }

    /// The wait before retry number `retry + 1`: the backoff, or
    /// `retry_after` (parsed by [`parse_retry_after`](crate::client_store::parse_retry_after))
    /// when longer, never above `max_delay`.
    pub fn delay_honouring(&self, retry: u32, retry_after: Option<Duration>, rng: &mut JitterRng) -> Duration {
        let backoff = self.delay(retry, rng);
        retry_after.map_or(backoff, |asked| asked.max(backoff)).min(self.max_delay)
    }

    /// Whether to retry after `attempts` attempts failed, and after how long.
    ///
    /// Gives up once `attempts` reaches `max_attempts`, or when one of
    /// `budgets` (say the key's and the store's) has no retry left; a retry
    /// is charged to every budget, or to none (a budget that allowed it is
    /// refunded when a later one refuses). Otherwise waits
    /// [`delay_honouring`](Self::delay_honouring)`(attempts - 1, ...)`.
    pub fn decide(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        budgets: &[&RetryBudget],
        rng: &mut JitterRng,
    ) -> RetryDecision {
        if attempts >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUp::Attempts);
        }
        for (i, budget) in budgets.iter().enumerate() {
            if !budget.try_retry() {
                budgets[..i].iter().for_each(|b| b.refund_retry());
                return RetryDecision::GiveUp(GiveUp::Budget);
            }
        }
        RetryDecision::Retry(self.delay_honouring(attempts.saturating_sub(1), retry_after, rng))
    }
}

/// A small, fast pseudo-random generator (SplitMix64) for jitter: not for
/// secrets. Seed it per thread or per task; a fixed seed makes tests
/// repeatable.
///
/// ```
/// use ttlkit::client_store::JitterRng;
///
/// let mut a = JitterRng::seeded(42);
/// let mut b = JitterRng::seeded(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let mut fresh = JitterRng::from_os()?;
/// let _ = fresh.next_u64();
/// # Ok::<(), ttlkit::client_store::NoRandomness>(())
/// ```
#[derive(Debug, Clone)]
pub struct JitterRng {
    state: u64,
}

impl JitterRng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn seeded(seed: u64) -> JitterRng {
        JitterRng { state: seed }
    }

    /// A generator seeded from the operating system's random source, so
    /// that processes started together do not retry in step.
    pub fn from_os() -> Result<JitterRng, NoRandomness> {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| NoRandomness::new(e.to_string()))?;
        Ok(JitterRng::seeded(u64::from_le_bytes(seed)))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        // SplitMix64 (Steele, Lea and Flood, 2014): a Weyl sequence through
        // a bijective mixer, so every seed gives a full-period stream.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, max]` (multiply-shift: a bias below 2^-64 per value,
    /// far under anything jitter cares about).
    fn below_inclusive(&mut self, max: u64) -> u64 {
        let span = u128::from(max) + 1;
        // The product is below 2^64 * span, so the shifted value is below span.
        u64::try_from((u128::from(self.next_u64()) * span) >> 64).unwrap_or(max)
    }
}
