//! Tests of the retry helper: jitter, `Retry-After`, budgets (on a
//! [`MockClock`]: nothing sleeps).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::retry::{GiveUp, JitterRng, RetryDecision, RetryPolicy};
use super::retry_after::parse_retry_after;
use super::retry_budget::{BudgetError, BudgetSettings, RetryBudget};
use crate::clock::MockClock;

const MS: Duration = Duration::from_millis(1);

#[test]
fn jitter_stays_within_bounds_and_grows_to_max_delay() {
    let policy = RetryPolicy::new(10, 100 * MS, 2_000 * MS);
    let mut rng = JitterRng::seeded(1);
    let mut previous_mean = Duration::ZERO;
    for retry in 0..8u32 {
        let ceiling = (100 * MS * 2u32.pow(retry)).min(2_000 * MS);
        let samples: Vec<_> = (0..2_000).map(|_| policy.delay(retry, &mut rng)).collect();
        assert!(samples.iter().all(|d| *d <= ceiling), "retry {retry}: above {ceiling:?}");
        let mean = samples.iter().sum::<Duration>() / 2_000;
        // Full jitter: the mean is about half the ceiling.
        assert!(mean > ceiling * 2 / 5 && mean < ceiling * 3 / 5, "retry {retry}: mean {mean:?}");
        assert!(*samples.iter().max().unwrap() > ceiling * 9 / 10, "the range is used up to the ceiling");
        if ceiling < 2_000 * MS {
            assert!(mean > previous_mean, "grows with attempts");
        }
        previous_mean = mean;
    }
    // Huge attempt numbers and durations saturate instead of overflowing.
    let wide = RetryPolicy::new(u32::MAX, Duration::MAX, Duration::MAX);
    let _ = wide.delay(u32::MAX, &mut rng);
    assert!(policy.delay(u32::MAX, &mut rng) <= 2_000 * MS);
}

#[test]
fn seeded_jitter_repeats() {
    let policy = RetryPolicy::default();
    let a: Vec<_> = (0..5).map(|r| policy.delay(r, &mut JitterRng::seeded(9))).collect();
    let b: Vec<_> = (0..5).map(|r| policy.delay(r, &mut JitterRng::seeded(9))).collect();
    assert_eq!(a, b);
}

#[test]
fn retry_after_longer_than_backoff_wins_capped_by_max_delay() {
    let policy = RetryPolicy::new(5, 100 * MS, 5_000 * MS);
    let mut rng = JitterRng::seeded(3);
    assert_eq!(policy.delay_honouring(0, Some(3_000 * MS), &mut rng), 3_000 * MS);
    assert_eq!(policy.delay_honouring(0, Some(60_000 * MS), &mut rng), 5_000 * MS);
    // Shorter than the backoff's ceiling: never below the jittered backoff.
    for _ in 0..100 {
        let d = policy.delay_honouring(3, Some(MS), &mut rng);
        assert!(d >= MS && d <= 800 * MS);
    }
    assert!(policy.delay_honouring(0, None, &mut rng) <= 100 * MS);
}

#[test]
fn attempts_are_capped() {
    let policy = RetryPolicy::new(3, 10 * MS, 100 * MS);
    let mut rng = JitterRng::seeded(5);
    assert!(matches!(policy.decide(1, None, &[], &mut rng), RetryDecision::Retry(d) if d <= 10 * MS));
    assert!(matches!(policy.decide(2, None, &[], &mut rng), RetryDecision::Retry(d) if d <= 20 * MS));
    assert_eq!(policy.decide(3, None, &[], &mut rng), RetryDecision::GiveUp(GiveUp::Attempts));
    let never = RetryPolicy::new(1, 10 * MS, 100 * MS);
    assert_eq!(never.decide(1, None, &[], &mut rng), RetryDecision::GiveUp(GiveUp::Attempts));
}

/// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
fn example_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(784_111_777)
}

#[test]
fn retry_after_parses_seconds_and_http_dates() {
    let now = example_now();
    assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
    assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("Sun, 06 Nov 1994 09:49:37 GMT", now), Some(Duration::from_secs(3_600)));
    assert_eq!(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now), Some(Duration::from_secs(86_400)));
    assert_eq!(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO), "past");
    // Leap years and the epoch itself.
    let epoch = UNIX_EPOCH;
    assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", epoch), Some(Duration::from_secs(10)));
    let leap = parse_retry_after("Thu, 29 Feb 2024 12:00:00 GMT", epoch);
    assert_eq!(leap, Some(Duration::from_secs(1_709_208_000)));
    assert_eq!(parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", epoch), Some(Duration::from_secs(4_102_444_800)));
}

#[test]
fn garbage_retry_after_is_none() {
    let now = example_now();
    for bad in [
        "",
        "   ",
        "-5",
        "1.5",
        "soon",
        "120s",
        "Sunday, 06-Nov-94 08:49:37 GMT", // RFC 850, obsolete
        "Sun Nov  6 08:49:37 1994",       // asctime, obsolete
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Mon, 06 Nov 1994 08:49:37 GMT", // the wrong weekday
        "Sun, 31 Nov 1994 08:49:37 GMT", // no 31st of November
        "Tue, 29 Feb 2100 08:49:37 GMT", // 2100 is not a leap year
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT extra",
        "Sun, 0a Nov 1994 08:49:37 GMT",
        "Wed, 01 Jan 1969 00:00:00 GMT",
        "Sün, 06 Nov 1994 08:49:37 GM",
    ] {
        assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
    }
}

fn budget(clock: &MockClock, ratio: f64, min: u32) -> RetryBudget {
    RetryBudget::with_clock(BudgetSettings::new(Duration::from_secs(10), ratio, min).unwrap(), clock.clone())
}

#[test]
fn budget_caps_retries_at_the_fraction_of_requests() {
    let clock = MockClock::new();
    let b = budget(&clock, 0.2, 0);
    (0..100).for_each(|_| b.record_request());
    assert_eq!((0..100).filter(|_| b.try_retry()).count(), 20);
    assert_eq!(b.counts(), (100, 20));
    // More requests, more room.
    (0..10).for_each(|_| b.record_request());
    assert_eq!((0..100).filter(|_| b.try_retry()).count(), 2);
}

#[test]
fn budget_recovers_as_the_window_slides() {
    let clock = MockClock::new();
    let b = budget(&clock, 0.2, 0);
    (0..50).for_each(|_| b.record_request());
    assert_eq!((0..50).filter(|_| b.try_retry()).count(), 10);
    // Half a window on, the new requests add room while the old retries
    // still count.
    clock.advance(Duration::from_secs(5));
    (0..50).for_each(|_| b.record_request());
    assert_eq!((0..50).filter(|_| b.try_retry()).count(), 10);
    assert_eq!(b.counts(), (100, 20));
    // A full window after the first batch, it (requests and retries) is gone.
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.counts(), (50, 10));
    assert!(!b.try_retry(), "50 requests allow 10 retries, all taken");
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.counts(), (0, 0));
    (0..5).for_each(|_| b.record_request());
    assert!(b.try_retry());
    assert!(!b.try_retry());
}

#[test]
fn minimum_lets_a_quiet_key_retry() {
    let clock = MockClock::new();
    let b = budget(&clock, 0.2, 3);
    assert_eq!((0..10).filter(|_| b.try_retry()).count(), 3, "no requests, still 3 retries");
    b.record_request();
    assert!(!b.try_retry(), "0.2 of 1 request rounds down to 0");
    (0..4).for_each(|_| b.record_request());
    assert!(b.try_retry(), "5 requests: 3 + 1");
    assert!(!b.try_retry());
    clock.advance(Duration::from_secs(10));
    assert_eq!((0..10).filter(|_| b.try_retry()).count(), 3, "a new window, a new minimum");
}

#[test]
fn decide_charges_every_budget_or_none() {
    let clock = MockClock::new();
    let store = budget(&clock, 0.0, 1);
    let key = store.fresh();
    let other = store.fresh();
    let policy = RetryPolicy::new(5, 10 * MS, 100 * MS);
    let mut rng = JitterRng::seeded(2);
    assert!(matches!(policy.decide(1, None, &[&key, &store], &mut rng), RetryDecision::Retry(_)));
    assert_eq!((key.counts(), store.counts()), ((0, 1), (0, 1)));
    // The store is spent: the other key's retry is refused and not charged.
    assert_eq!(policy.decide(1, None, &[&other, &store], &mut rng), RetryDecision::GiveUp(GiveUp::Budget));
    assert_eq!(other.counts(), (0, 0));
}

#[test]
fn bad_budget_settings_are_typed_errors() {
    let s = Duration::from_secs(1);
    assert_eq!(BudgetSettings::new(Duration::ZERO, 0.2, 1), Err(BudgetError::ZeroWindow));
    assert!(matches!(BudgetSettings::new(Duration::MAX, 0.2, 1), Err(BudgetError::WindowTooLong { .. })));
    assert!(matches!(BudgetSettings::new(s, -0.1, 1), Err(BudgetError::BadRatio { .. })));
    assert!(matches!(BudgetSettings::new(s, f64::NAN, 1), Err(BudgetError::BadRatio { .. })));
    assert!(matches!(BudgetSettings::new(s, f64::INFINITY, 1), Err(BudgetError::BadRatio { .. })));
    assert!(BudgetSettings::new(s, 0.0, 0).is_ok());
    // A window shorter than its ten buckets still counts.
    let clock = MockClock::new();
    let tiny = RetryBudget::with_clock(BudgetSettings::new(Duration::from_nanos(3), 1.0, 0).unwrap(), clock);
    tiny.record_request();
    assert!(tiny.try_retry());
}

#[test]
fn budgets_per_key_live_in_a_cache_beside_the_stores() {
    use crate::prelude::*;
    let clock = MockClock::new();
    let store = budget(&clock, 0.5, 0);
    let per_key: MutexCache<u32, RetryBudget> =
        CacheBuilder::new().time_to_idle(Duration::from_secs(60)).clock(clock.clone()).build().unwrap();
    for key in [1, 1, 2, 2] {
        per_key.get_or_insert_with(key, || store.fresh()).record_request();
        store.record_request();
    }
    let one = per_key.get_or_insert_with(1, || store.fresh());
    assert!(one.try_retry() && store.try_retry());
    assert!(!one.try_retry(), "key 1: half of its 2 requests");
    assert_eq!(store.counts(), (4, 1));
    clock.advance(Duration::from_secs(60));
    assert_eq!(per_key.purge_expired(), 2, "idle keys' budgets leave");
}
