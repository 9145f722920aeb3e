//! Deadline rules shared by every backend.
//!
//! An entry carries two stamps: `last_access` (refreshed by `get` and by an
//! overwrite) and `inserted_at` (set by an insert or overwrite, never by a
//! read). It is expired once `now >= min(last_access + time_to_idle,
//! inserted_at + time_to_live)`.
//!
//! # Refresh granularity and its bound on precision
//!
//! A hit rewrites `last_access` only when it has moved by more than the
//! *refresh granularity* `g`, so a hot key does not write (and, in the
//! sharded backend, bounce a cache line) on every read. The stored stamp then
//! lags the true last access by at most `g`, so an entry may expire up to `g`
//! *early*, never late: no read ever returns an entry past its exact deadline.
//! The default `g` is `time_to_idle / 64`, capped at one second (Caffeine uses
//! one second); `CacheBuilder::refresh_granularity` sets it, and zero makes
//! idle expiry exact.

use std::time::Duration;

use crate::builder::{BuildError, MAX_DURATION};
use crate::cache::RemovalCause;
use crate::clock::{duration_to_nanos, Ticks};
use crate::sync::AtomicU64;
use std::sync::atomic::Ordering;

/// The expiry configuration of one cache, in ticks: when an entry stops
/// being visible, and why it left. Every core decides both through this
/// type, so the rules are written once.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::Ticks;
/// use ttlkit::{CacheBuilder, RemovalCause};
///
/// let rules = CacheBuilder::<u8, u8>::new()
///     .time_to_idle(Duration::from_secs(60))
///     .time_to_live(Duration::from_secs(100))
///     .validate()?
///     .rules();
/// let at = |s: u64| Ticks::from_nanos(s * 1_000_000_000);
/// let none = Ticks::MAX; // no deadline of its own
/// // Last read at 50 s, written at 0 s: the time-to-live (100 s) comes first.
/// assert_eq!(rules.deadline(at(50), at(0), none), at(100));
/// assert!(!rules.is_expired(at(99), at(50), at(0), none));
/// assert!(rules.is_expired(at(100), at(50), at(0), none));
/// assert_eq!(rules.departure(at(120), at(50), at(0), none, RemovalCause::Explicit), RemovalCause::Expired);
/// // An own deadline earlier than both wins.
/// assert_eq!(rules.deadline(at(50), at(0), at(70)), at(70));
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryRules {
    idle: u64,
    /// `u64::MAX` when there is no time-to-live.
    lifetime: u64,
    granularity: u64,
}

impl ExpiryRules {
    pub(crate) fn new(time_to_idle: Duration, max_lifetime: Option<Duration>, granularity: Duration) -> Self {
        ExpiryRules {
            idle: duration_to_nanos(time_to_idle),
            lifetime: max_lifetime.map_or(u64::MAX, duration_to_nanos),
            granularity: duration_to_nanos(granularity),
        }
    }

    /// The refresh granularity.
    pub(crate) fn granularity(&self) -> Duration {
        Duration::from_nanos(self.granularity)
    }

    /// The default refresh granularity for an idle timeout.
    pub(crate) fn default_granularity(time_to_idle: Duration) -> Duration {
        (time_to_idle / 64).min(Duration::from_secs(1))
    }

    /// The instant the entry stops being visible: the earliest of its idle
    /// deadline, its lifetime deadline and `own`, its own deadline
    /// ([`Ticks::MAX`] for none; see [`OwnDeadlines`](crate::core::OwnDeadlines)).
    #[inline]
    pub fn deadline(&self, last_access: Ticks, inserted_at: Ticks, own: Ticks) -> Ticks {
        let idle = last_access.as_nanos().saturating_add(self.idle);
        let life = inserted_at.as_nanos().saturating_add(self.lifetime);
        Ticks::from_nanos(idle.min(life).min(own.as_nanos()))
    }

    /// Whether an entry with these stamps is expired at `now`.
    #[inline]
    pub fn is_expired(&self, now: Ticks, last_access: Ticks, inserted_at: Ticks, own: Ticks) -> bool {
        now >= self.deadline(last_access, inserted_at, own)
    }

    /// Whether no entry's deadline under these rules comes before its
    /// deadline under `old` (neither timeout got shorter).
    pub(crate) fn never_sooner_than(&self, old: &ExpiryRules) -> bool {
        self.idle >= old.idle && self.lifetime >= old.lifetime
    }

    /// Whether a hit at `now` should rewrite an access stamp of `last_access`.
    #[inline]
    pub fn needs_refresh(&self, now: Ticks, last_access: Ticks) -> bool {
        now.as_nanos().saturating_sub(last_access.as_nanos()) > self.granularity
    }

    /// Why an entry with these stamps leaves at `now` for reason
    /// `otherwise` (replaced, removed, cleared, evicted): `Expired` if it
    /// was past its deadline, whatever removed it, else `otherwise`.
    #[inline]
    pub fn departure(
        &self,
        now: Ticks,
        last_access: Ticks,
        inserted_at: Ticks,
        own: Ticks,
        otherwise: RemovalCause,
    ) -> RemovalCause {
        if self.is_expired(now, last_access, inserted_at, own) {
            RemovalCause::Expired
        } else {
            otherwise
        }
    }
}

/// The timeouts a cache was configured with, from which its
/// [`ExpiryRules`] are derived (at build, and again when one changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) idle: Option<Duration>,
    pub(crate) live: Option<Duration>,
    /// The refresh granularity, if set explicitly.
    pub(crate) granularity: Option<Duration>,
}

impl Timeouts {
    /// The rules: no idle timeout behaves as the longest one (reads then
    /// never rewrite a stamp); the granularity defaults from the idle
    /// timeout and may not exceed it.
    pub(crate) fn rules(&self) -> Result<ExpiryRules, BuildError> {
        let granularity = match (self.idle, self.granularity) {
            (None, _) => MAX_DURATION,
            (Some(tti), Some(g)) if g > tti => {
                return Err(BuildError::DurationTooLong { what: "refresh_granularity", value: g, max: tti })
            }
            (Some(_), Some(g)) => g,
            (Some(tti), None) => ExpiryRules::default_granularity(tti),
        };
        Ok(ExpiryRules::new(self.idle.unwrap_or(MAX_DURATION), self.live, granularity))
    }
}

/// [`ExpiryRules`] that `set_time_to_idle` and `set_time_to_live` may
/// change while lock-free readers use them. Each field is its own atomic:
/// a read racing a change may see some fields old and others new, which
/// judges an entry by a mix of two valid configurations for that instant.
#[cfg_attr(not(feature = "sharded"), allow(dead_code))]
pub(crate) struct LiveRules {
    idle: AtomicU64,
    lifetime: AtomicU64,
    granularity: AtomicU64,
}

#[cfg_attr(not(feature = "sharded"), allow(dead_code))]
impl LiveRules {
    pub(crate) fn new(rules: ExpiryRules) -> Self {
        LiveRules {
            idle: AtomicU64::new(rules.idle),
            lifetime: AtomicU64::new(rules.lifetime),
            granularity: AtomicU64::new(rules.granularity),
        }
    }

    /// The rules now.
    #[inline]
    pub(crate) fn get(&self) -> ExpiryRules {
        ExpiryRules {
            idle: self.idle.load(Ordering::Relaxed),
            lifetime: self.lifetime.load(Ordering::Relaxed),
            granularity: self.granularity.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set(&self, rules: ExpiryRules) {
        self.idle.store(rules.idle, Ordering::Relaxed);
        self.lifetime.store(rules.lifetime, Ordering::Relaxed);
        self.granularity.store(rules.granularity, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn t(secs: u64) -> Ticks {
        Ticks::from_nanos(secs * S)
    }

    #[test]
    fn idle_and_lifetime_deadlines() {
        let r = ExpiryRules::new(Duration::from_secs(10), Some(Duration::from_secs(25)), Duration::ZERO);
        assert!(!r.is_expired(t(9), t(0), t(0), Ticks::MAX));
        assert!(r.is_expired(t(10), t(0), t(0), Ticks::MAX), "deadline itself is expired");
        // Refreshed access keeps it alive until the lifetime caps it.
        assert!(!r.is_expired(t(24), t(20), t(0), Ticks::MAX));
        assert!(r.is_expired(t(25), t(20), t(0), Ticks::MAX));
        assert_eq!(r.deadline(t(20), t(0), Ticks::MAX), t(25));
    }

    #[test]
    fn no_lifetime_never_caps() {
        let r = ExpiryRules::new(Duration::from_secs(1), None, Duration::ZERO);
        assert!(!r.is_expired(
            Ticks::from_nanos(u64::MAX - 1),
            Ticks::from_nanos(u64::MAX - 2),
            Ticks::ZERO,
            Ticks::MAX
        ));
    }

    #[test]
    fn granularity_skips_small_moves() {
        let r =
            ExpiryRules::new(Duration::from_secs(64), None, ExpiryRules::default_granularity(Duration::from_secs(64)));
        assert!(!r.needs_refresh(t(1), t(0)), "1 s is within the granularity");
        assert!(r.needs_refresh(Ticks::from_nanos(S + 1), t(0)));
        assert_eq!(ExpiryRules::default_granularity(Duration::from_secs(3600)), Duration::from_secs(1));
    }
}
