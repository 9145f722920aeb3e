//! Tests of [`RateLimiter`] on a [`MockClock`]: nothing sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use super::rate_limit::{Limited, Quota, QuotaError, RateLimiter};
use crate::clock::MockClock;

fn limiter(clock: &MockClock, quota: Quota) -> RateLimiter<u32> {
    RateLimiter::builder(quota).clock(clock.clone()).build().unwrap()
}

#[test]
fn exactly_burst_at_once_then_one_per_period() {
    let clock = MockClock::new();
    let rl = limiter(&clock, Quota::with_period(Duration::from_millis(100), 5).unwrap());
    for i in 0..5 {
        assert_eq!(rl.check(&1), Ok(()), "request {i} of the burst");
    }
    assert_eq!(rl.check(&1), Err(Limited { retry_in: Duration::from_millis(100) }));
    // A refusal costs nothing: the wait does not grow.
    assert_eq!(rl.check(&1), Err(Limited { retry_in: Duration::from_millis(100) }));
    clock.advance(Duration::from_millis(40));
    assert_eq!(rl.check(&1), Err(Limited { retry_in: Duration::from_millis(60) }));
    clock.advance(Duration::from_millis(60));
    assert_eq!(rl.check(&1), Ok(()));
    assert!(rl.check(&1).is_err(), "one per period once the burst is spent");
    // Steady traffic at the rate passes indefinitely.
    for _ in 0..20 {
        clock.advance(Duration::from_millis(100));
        assert_eq!(rl.check(&1), Ok(()));
        assert!(rl.check(&1).is_err());
    }
    // Idle a full burst window: the whole burst is back.
    clock.advance(Duration::from_millis(500));
    assert_eq!((0..10).filter(|_| rl.check(&1).is_ok()).count(), 5);
}

#[test]
fn keys_are_limited_apart() {
    let clock = MockClock::new();
    let rl = limiter(&clock, Quota::per_second(1, 1).unwrap());
    assert!(rl.check(&1).is_ok());
    assert!(rl.check(&1).is_err());
    assert!(rl.check(&2).is_ok(), "another key has its own burst");
}

#[test]
fn override_gives_a_key_its_own_quota() {
    let clock = MockClock::new();
    let rl: RateLimiter<u32> = RateLimiter::builder(Quota::per_second(1, 2).unwrap())
        .overrides(|k| (*k == 7).then(|| Quota::per_second(10, 4).unwrap()))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!((0..10).filter(|_| rl.check(&7).is_ok()).count(), 4);
    assert_eq!(rl.check(&7), Err(Limited { retry_in: Duration::from_millis(100) }));
    assert_eq!((0..10).filter(|_| rl.check(&1).is_ok()).count(), 2);
    assert_eq!(rl.check(&1), Err(Limited { retry_in: Duration::from_secs(1) }));
    assert_eq!(rl.quota_for(&7).burst(), 4);
    assert_eq!(rl.quota_for(&1).burst(), 2);
}

#[test]
fn idle_state_leaves_after_its_own_window() {
    let clock = MockClock::new();
    let rl: RateLimiter<u32> = RateLimiter::builder(Quota::per_second(1, 2).unwrap())
        .overrides(|k| (*k == 9).then(|| Quota::per_second(1, 60).unwrap()))
        .clock(clock.clone())
        .build()
        .unwrap();
    (0..100).for_each(|k| {
        let _ = rl.check(&k);
    });
    assert_eq!(rl.tracked_keys(), 100);
    // Past the default window (2 s) plus a period, only the key with a
    // 60 s window still matters.
    clock.advance(Duration::from_secs(3));
    assert_eq!(rl.purge_idle(), 99);
    assert_eq!(rl.tracked_keys(), 1);
    clock.advance(Duration::from_secs(58));
    assert_eq!(rl.purge_idle(), 1);
    assert_eq!(rl.tracked_keys(), 0);
}

#[test]
fn a_busy_key_keeps_its_state() {
    let clock = MockClock::new();
    let rl = limiter(&clock, Quota::per_second(1, 3).unwrap());
    for _ in 0..10 {
        assert!(rl.check(&1).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(rl.purge_idle(), 0);
    }
}

#[test]
fn max_keys_bounds_the_state() {
    let clock = MockClock::new();
    let rl: RateLimiter<u32> =
        RateLimiter::builder(Quota::per_second(1, 1).unwrap()).max_keys(10).clock(clock.clone()).build().unwrap();
    (0..1_000).for_each(|k| {
        let _ = rl.check(&k);
    });
    assert!(rl.tracked_keys() <= 10);
}

#[test]
fn threads_at_one_instant_never_pass_more_than_burst() {
    const THREADS: usize = 8;
    const TRIES: usize = 200;
    let clock = MockClock::new();
    clock.advance(Duration::from_secs(1));
    for burst in [1, 7, 50] {
        let rl = limiter(&clock, Quota::per_second(10, burst).unwrap());
        let passed = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (rl, passed, start) = (rl.clone(), Arc::clone(&passed), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..TRIES {
                        if rl.check(&42).is_ok() {
                            passed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(passed.load(Ordering::Relaxed), burst as usize, "burst {burst}");
    }
}

#[test]
fn bad_quotas_are_typed_errors() {
    assert_eq!(Quota::per_second(0, 1), Err(QuotaError::ZeroRate));
    assert_eq!(Quota::per_second(1, 0), Err(QuotaError::ZeroBurst));
    assert_eq!(Quota::with_period(Duration::ZERO, 1), Err(QuotaError::ZeroRate));
    assert_eq!(Quota::per_second(1_000_000_001, 1), Err(QuotaError::RateTooHigh { rate: 1_000_000_001 }));
    assert!(matches!(
        Quota::with_period(Duration::from_secs(3_600 * 24 * 365), 1_000),
        Err(QuotaError::WindowTooLong { .. })
    ));
    assert_eq!(Quota::per_second(1_000_000_000, 1).unwrap().period(), Duration::from_nanos(1));
    assert_eq!(Quota::per_second(3, 1).unwrap().period(), Duration::from_nanos(333_333_333));
}

#[test]
fn limited_is_an_error() {
    let e: Box<dyn std::error::Error> = Box::new(Limited { retry_in: Duration::from_secs(2) });
    assert_eq!(e.to_string(), "rate limited: retry in 2s");
}

#[test]
fn a_store_can_limit_by_fingerprint() {
    use crate::client_store::{ApiKey, Fingerprinter};
    let fingerprinter = Fingerprinter::with_key([3; 32]);
    let (a, b) = (ApiKey::new("sk-a").unwrap(), ApiKey::new("sk-b").unwrap());
    let clock = MockClock::new();
    let rl: RateLimiter<crate::client_store::Fingerprint> =
        RateLimiter::builder(Quota::per_second(1, 1).unwrap()).clock(clock).build().unwrap();
    assert!(rl.check(&fingerprinter.fingerprint(&a)).is_ok());
    assert!(rl.check(&fingerprinter.fingerprint(&a)).is_err());
    assert!(rl.check(&fingerprinter.fingerprint(&b)).is_ok());
}

#[test]
fn a_changed_override_applies_at_once_and_keeps_the_state_long_enough() {
    use std::sync::atomic::AtomicBool;
    let upgraded = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&upgraded);
    let clock = MockClock::new();
    let rl: RateLimiter<u32> = RateLimiter::builder(Quota::per_second(1, 1).unwrap())
        .overrides(move |_| flag.load(Ordering::Relaxed).then(|| Quota::per_second(1, 30).unwrap()))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert!(rl.check(&1).is_ok());
    assert!(rl.check(&1).is_err());
    upgraded.store(true, Ordering::Relaxed);
    // The TAT is 1 s ahead: 29 more fit in the 30 s window.
    assert_eq!((0..40).filter(|_| rl.check(&1).is_ok()).count(), 29);
    // Past the old window (1 s + a period) the state must still be held,
    // or the key would get its burst again.
    clock.advance(Duration::from_secs(5));
    assert_eq!(rl.purge_idle(), 0);
    assert_eq!((0..40).filter(|_| rl.check(&1).is_ok()).count(), 5);
}
