//! The per-key circuit breaker: its settings, the outcomes callers report,
//! the typed refusal [`Open`], and the state machine each stored client
//! carries.
//!
//! Closed, it counts outcomes; it opens on `n` consecutive failures, or
//! when the failures over a window reach a rate (once the window holds a
//! minimum of requests). Open, it refuses every request for a cooldown (or
//! for the upstream's `Retry-After`, when the failure that opened it carried
//! one). Then it is half-open: one request, the probe, goes through; its
//! success closes the breaker, its failure opens it again. A probe that
//! never reports (its lease dropped, or it hangs past the probe timeout)
//! gives its turn to the next caller.

use std::time::Duration;

use crate::builder::MAX_DURATION;
use crate::client_store::window::SlidingCounts;
use crate::clock::Ticks;

/// What one upstream request came to, as the caller reports it to its
/// [`Lease`](crate::client_store::Lease) for the key's circuit breaker.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::Outcome;
///
/// assert_eq!(Outcome::from_http_status(200, None), Outcome::Success);
/// assert_eq!(Outcome::from_http_status(404, None), Outcome::Success, "the caller's mistake, not the upstream's");
/// assert!(Outcome::from_http_status(503, None).is_failure());
/// let throttled = Outcome::from_http_status(429, Some(Duration::from_secs(7)));
/// assert_eq!(throttled, Outcome::Failure { retry_after: Some(Duration::from_secs(7)) });
/// assert_eq!(Outcome::CONNECTION_FAILED.retry_after(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The upstream answered (a 2xx, 3xx, or a 4xx other than 429: a bad
    /// request is the caller's fault and says nothing of the upstream's
    /// health).
    Success,
    /// The upstream failed: a 5xx, a 429, a connection error or a timeout.
    Failure {
        /// The upstream's `Retry-After`, if it sent one
        /// ([`parse_retry_after`](crate::client_store::parse_retry_after)).
        retry_after: Option<Duration>,
    },
}

impl Outcome {
    /// A request that never got an answer: refused or dropped connection,
    /// timeout.
    pub const CONNECTION_FAILED: Outcome = Outcome::Failure { retry_after: None };

    /// Classifies an HTTP status: 5xx and 429 are failures (with the
    /// response's `Retry-After`, if any), every other status from 100 to 499
    /// a success; a number outside 100..=599 is no HTTP status, so a failure.
    pub fn from_http_status(status: u16, retry_after: Option<Duration>) -> Outcome {
        match status {
            429 | 500..=599 => Outcome::Failure { retry_after },
            100..=499 => Outcome::Success,
            _ => Outcome::Failure { retry_after: None },
        }
    }

    /// Whether it is a failure.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failure { .. })
    }

    /// The `Retry-After` a failure carried.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Outcome::Failure { retry_after } => *retry_after,
            Outcome::Success => None,
        }
    }
}

/// A request refused because the key's circuit breaker is open (or
/// half-open with its one probe in flight): nothing was sent upstream.
/// Retry in `retry_in`.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::Open;
///
/// let open = Open { retry_in: Duration::from_secs(30) };
/// assert_eq!(open.to_string(), "circuit open: retry in 30s");
/// let _: &dyn std::error::Error = &open;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit open: retry in {retry_in:?}")]
pub struct Open {
    /// How long until the breaker lets a probe through.
    pub retry_in: Duration,
}

/// Where a key's circuit breaker stands.
///
/// ```
/// use ttlkit::client_store::BreakerState;
///
/// assert_eq!(BreakerState::Closed.to_string(), "closed");
/// assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Requests pass; outcomes are counted.
    Closed,
    /// Requests are refused until the cooldown ends.
    Open {
        /// Time left in the cooldown.
        retry_in: Duration,
    },
    /// The cooldown is over: one probe may pass (or is in flight).
    HalfOpen,
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

/// Why a circuit breaker's settings were refused (at
/// [`ClientStoreBuilder::build`](crate::client_store::ClientStoreBuilder::build)).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::{BreakerError, BreakerSettings, ClientStore, StoreBuildError};
/// use ttlkit::BackendKind;
///
/// let never = BreakerSettings::new().no_consecutive_failures();
/// let err = ClientStore::<()>::builder().circuit_breaker(never).build_backend(BackendKind::Mutex).err();
/// assert!(matches!(err, Some(StoreBuildError::Breaker(BreakerError::NoTrigger))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakerError {
    /// Neither a consecutive-failure count nor a failure rate: it could never open.
    #[error("a circuit breaker needs consecutive_failures or failure_rate to open on")]
    NoTrigger,
    /// `consecutive_failures(0)`.
    #[error("a circuit breaker's consecutive_failures must be at least 1")]
    ZeroFailures,
    /// A failure rate that is not a number in (0, 1].
    #[error("a circuit breaker's failure rate must be above 0 and at most 1, not {rate}")]
    BadRate {
        /// The rate asked for.
        rate: f64,
    },
    /// `failure_rate` over a minimum of 0 requests.
    #[error("a circuit breaker's failure rate needs a minimum of at least 1 request")]
    ZeroMinRequests,
    /// A zero duration where time must pass (named as on [`BreakerSettings`]).
    #[error("a circuit breaker's {what} must be above zero")]
    ZeroDuration {
        /// The setting.
        what: &'static str,
    },
    /// A duration longer than [`MAX_DURATION`](crate::MAX_DURATION).
    #[error("a circuit breaker's {what} ({value:?}) is longer than {max:?}")]
    DurationTooLong {
        /// The setting.
        what: &'static str,
        /// The value asked for.
        value: Duration,
        /// The longest accepted.
        max: Duration,
    },
}

/// When a key's circuit breaker opens and how long it stays open; given to
/// [`ClientStoreBuilder::circuit_breaker`](crate::client_store::ClientStoreBuilder::circuit_breaker).
///
/// By default it opens on 5 consecutive failures, stays open 30 s (or the
/// `Retry-After` of the failure that opened it, up to 10 min), and gives a
/// probe 30 s to report before another caller may probe.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::client_store::BreakerSettings;
///
/// // Open on 5 failures in a row, or on half the requests of the last
/// // minute failing once there were at least 20.
/// let settings = BreakerSettings::new()
///     .failure_rate(0.5, 20, Duration::from_secs(60))
///     .cooldown(Duration::from_secs(10));
/// assert_eq!(settings.cooldown_for(None), Duration::from_secs(10));
/// assert_eq!(settings.cooldown_for(Some(Duration::from_secs(2))), Duration::from_secs(2), "Retry-After wins");
/// assert_eq!(settings.cooldown_for(Some(Duration::from_secs(86_400))), Duration::from_secs(600), "up to a cap");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    consecutive_failures: Option<u32>,
    rate: Option<FailureRate>,
    cooldown: Duration,
    max_retry_after: Duration,
    probe_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct FailureRate {
    rate: f64,
    min_requests: u32,
    window: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            consecutive_failures: Some(5),
            rate: None,
            cooldown: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(600),
            probe_timeout: Duration::from_secs(30),
        }
    }
}

impl BreakerSettings {
    /// The defaults: open on 5 consecutive failures for 30 s.
    pub fn new() -> BreakerSettings {
        BreakerSettings::default()
    }

    /// Opens on `n` failures in a row (default 5).
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Does not count failures in a row (then a failure rate must be set).
    pub fn no_consecutive_failures(mut self) -> Self {
        self.consecutive_failures = None;
        self
    }

    /// Also opens when, over the last `window`, at least `min_requests`
    /// outcomes were reported and the share of failures among them reached
    /// `rate` (0.5: half of them).
    pub fn failure_rate(mut self, rate: f64, min_requests: u32, window: Duration) -> Self {
        self.rate = Some(FailureRate { rate, min_requests, window });
        self
    }

    /// How long it stays open (default 30 s) when the failure that opened it
    /// carried no `Retry-After`.
    pub fn cooldown(mut self, d: Duration) -> Self {
        self.cooldown = d;
        self
    }

    /// The longest `Retry-After` it honours (default 10 min); a longer one
    /// opens it for this long.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// How long a half-open breaker waits for its probe to report before it
    /// lets another caller probe (default 30 s).
    pub fn probe_timeout(mut self, d: Duration) -> Self {
        self.probe_timeout = d;
        self
    }

    /// How long a failure with this `Retry-After` opens the breaker for:
    /// the `Retry-After` (up to `max_retry_after`), else the cooldown.
    pub fn cooldown_for(&self, retry_after: Option<Duration>) -> Duration {
        retry_after.map_or(self.cooldown, |d| d.min(self.max_retry_after))
    }

    /// Checks the settings (the store builder calls it).
    pub(crate) fn check(&self) -> Result<(), BreakerError> {
        if self.consecutive_failures.is_none() && self.rate.is_none() {
            return Err(BreakerError::NoTrigger);
        }
        if self.consecutive_failures == Some(0) {
            return Err(BreakerError::ZeroFailures);
        }
        let mut durations = vec![
            ("cooldown", self.cooldown),
            ("max_retry_after", self.max_retry_after),
            ("probe_timeout", self.probe_timeout),
        ];
        if let Some(r) = self.rate {
            if !(r.rate > 0.0 && r.rate <= 1.0) {
                return Err(BreakerError::BadRate { rate: r.rate });
            }
            if r.min_requests == 0 {
                return Err(BreakerError::ZeroMinRequests);
            }
            durations.push(("failure_rate window", r.window));
        }
        for (what, value) in durations {
            if value.is_zero() {
                return Err(BreakerError::ZeroDuration { what });
            }
            if value > MAX_DURATION {
                return Err(BreakerError::DurationTooLong { what, value, max: MAX_DURATION });
            }
        }
        Ok(())
    }
}

/// Index of the outcomes in the window's counts; the failures are the other.
const OUTCOMES: usize = 0;
const FAILURES: usize = 1;

/// A state change, for the store's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    Opened,
    HalfOpened,
    Closed,
}

/// What [`Breaker::permit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Closed: go ahead.
    Pass,
    /// Half-open: go ahead as the probe numbered so; report its outcome
    /// with that number. `opened_half` is whether this call made the
    /// breaker half-open.
    Probe { id: u64, opened_half: bool },
    /// Open (or a probe in flight): retry in this long.
    Refused(Duration),
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed,
    Open {
        until: Ticks,
    },
    /// `probe`: the probe in flight and when its turn runs out.
    HalfOpen {
        probe: Option<(u64, Ticks)>,
    },
}

/// One key's breaker. Not synchronised: its stored client keeps it under a
/// lock, so a decision and the state change it makes are one step.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: State,
    consecutive: u32,
    window: Option<SlidingCounts>,
    /// The number the next probe gets (never 0, which means "no probe").
    next_probe: u64,
}

impl Breaker {
    pub(crate) fn new(settings: &BreakerSettings) -> Breaker {
        Breaker {
            state: State::Closed,
            consecutive: 0,
            window: settings.rate.map(|r| SlidingCounts::new(r.window)),
            next_probe: 1,
        }
    }

    /// Whether a request may go upstream at `now`.
    pub(crate) fn permit(&mut self, now: Ticks, s: &BreakerSettings) -> Permit {
        let mut opened_half = false;
        if let State::Open { until } = self.state {
            if now < until {
                return Permit::Refused(until.saturating_duration_since(now));
            }
            self.state = State::HalfOpen { probe: None };
            opened_half = true;
        }
        match self.state {
            State::Closed => Permit::Pass,
            State::HalfOpen { probe: Some((_, deadline)) } if now < deadline => {
                Permit::Refused(deadline.saturating_duration_since(now))
            }
            State::HalfOpen { .. } => {
                let id = self.next_probe;
                self.next_probe = self.next_probe.wrapping_add(1).max(1);
                self.state = State::HalfOpen { probe: Some((id, now.saturating_add(s.probe_timeout))) };
                Permit::Probe { id, opened_half }
            }
            State::Open { .. } => Permit::Refused(Duration::ZERO), // left above
        }
    }

    /// Whether probe `id` is still the one in flight.
    pub(crate) fn is_probe(&self, id: u64) -> bool {
        matches!(self.state, State::HalfOpen { probe: Some((p, _)) } if p == id)
    }

    /// Records an outcome reported at `now`; `probe` is the number of the
    /// probe it answers, if the reporter was let through as one. While
    /// open, and while half-open for anyone but the probe, outcomes are
    /// stale (their requests left before the breaker opened) and ignored.
    pub(crate) fn record(
        &mut self,
        now: Ticks,
        s: &BreakerSettings,
        outcome: Outcome,
        probe: Option<u64>,
    ) -> Option<Transition> {
        match self.state {
            State::Open { .. } => None,
            State::HalfOpen { .. } => {
                if !probe.is_some_and(|id| self.is_probe(id)) {
                    return None;
                }
                if outcome.is_failure() {
                    self.open(now, s, outcome.retry_after());
                    Some(Transition::Opened)
                } else {
                    self.close();
                    Some(Transition::Closed)
                }
            }
            State::Closed => {
                let failed = outcome.is_failure();
                self.consecutive = if failed { self.consecutive.saturating_add(1) } else { 0 };
                let by_count = s.consecutive_failures.is_some_and(|n| self.consecutive >= n);
                let by_rate = match (&mut self.window, s.rate) {
                    (Some(window), Some(r)) => window.at(now, |bucket, [outcomes, failures]| {
                        bucket[OUTCOMES] += 1;
                        bucket[FAILURES] += u64::from(failed);
                        let (outcomes, failures) = (outcomes + 1, failures + u64::from(failed));
                        outcomes >= u64::from(r.min_requests) && failures as f64 >= r.rate * outcomes as f64
                    }),
                    _ => false,
                };
                (failed && (by_count || by_rate)).then(|| {
                    self.open(now, s, outcome.retry_after());
                    Transition::Opened
                })
            }
        }
    }

    /// A probe that will never report (its lease is gone): the next caller
    /// may probe at once.
    pub(crate) fn abandon(&mut self, id: u64) {
        if self.is_probe(id) {
            self.state = State::HalfOpen { probe: None };
        }
    }

    /// The state as of `now`.
    pub(crate) fn state(&self, now: Ticks) -> BreakerState {
        match self.state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if now < until => {
                BreakerState::Open { retry_in: until.saturating_duration_since(now) }
            }
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether it is anything but closed.
    pub(crate) fn is_tripped(&self) -> bool {
        !matches!(self.state, State::Closed)
    }

    fn open(&mut self, now: Ticks, s: &BreakerSettings, retry_after: Option<Duration>) {
        self.state = State::Open { until: now.saturating_add(s.cooldown_for(retry_after)) };
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.consecutive = 0;
        if let Some(w) = &mut self.window {
            w.reset();
        }
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
