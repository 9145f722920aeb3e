use super::*;

const FAIL: Outcome = Outcome::CONNECTION_FAILED;
const OK: Outcome = Outcome::Success;

fn at(ms: u64) -> Ticks {
    Ticks::from_nanos(ms * 1_000_000)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Opens `b` with `n` failures at `now`; returns the last transition.
fn fail_n(b: &mut Breaker, s: &BreakerSettings, now: Ticks, n: u32) -> Option<Transition> {
    (0..n).map(|_| b.record(now, s, FAIL, None)).last().flatten()
}

#[test]
fn opens_on_n_consecutive_failures_and_a_success_resets_the_count() {
    let s = BreakerSettings::new().consecutive_failures(3);
    let mut b = Breaker::new(&s);
    assert_eq!(fail_n(&mut b, &s, at(0), 2), None);
    assert_eq!(b.record(at(0), &s, OK, None), None);
    assert_eq!(fail_n(&mut b, &s, at(0), 2), None, "the success reset the run");
    assert_eq!(b.record(at(0), &s, FAIL, None), Some(Transition::Opened));
    assert_eq!(b.permit(at(1_000), &s), Permit::Refused(secs(29)));
    assert_eq!(b.state(at(1_000)), BreakerState::Open { retry_in: secs(29) });
    assert!(b.is_tripped());
}

#[test]
fn four_hundreds_other_than_429_are_not_failures() {
    let s = BreakerSettings::new().consecutive_failures(2);
    let mut b = Breaker::new(&s);
    for status in [400, 401, 403, 404, 422, 499] {
        assert_eq!(b.record(at(0), &s, Outcome::from_http_status(status, None), None), None);
    }
    assert_eq!(b.state(at(0)), BreakerState::Closed);
    for (status, opens) in [(429, false), (500, true)] {
        let t = b.record(at(0), &s, Outcome::from_http_status(status, None), None);
        assert_eq!(t.is_some(), opens, "{status}");
    }
    assert!(Outcome::from_http_status(0, Some(secs(1))).is_failure(), "not an HTTP status");
    assert_eq!(Outcome::from_http_status(600, Some(secs(1))).retry_after(), None);
}

#[test]
fn failure_rate_waits_for_the_minimum_of_requests() {
    let s = BreakerSettings::new().no_consecutive_failures().failure_rate(0.5, 10, secs(10));
    let mut b = Breaker::new(&s);
    for i in 0..9 {
        let outcome = if i % 2 == 0 { FAIL } else { OK };
        assert_eq!(b.record(at(0), &s, outcome, None), None, "request {i}: below the minimum");
    }
    // 10th outcome: 5 failures of 10.
    assert_eq!(b.record(at(0), &s, FAIL, None), Some(Transition::Opened));
}

#[test]
fn failure_rate_forgets_what_slid_out_of_the_window() {
    let s = BreakerSettings::new().no_consecutive_failures().failure_rate(0.5, 4, secs(10));
    let mut b = Breaker::new(&s);
    fail_n(&mut b, &s, at(0), 3);
    // Ten seconds on, those three are out of the window: 1 of 1, under the minimum.
    assert_eq!(b.record(at(10_000), &s, FAIL, None), None);
    assert_eq!((0..2).map(|_| b.record(at(10_000), &s, OK, None)).last().flatten(), None);
    assert_eq!(b.record(at(10_000), &s, FAIL, None), Some(Transition::Opened), "2 of 4");
}

#[test]
fn one_probe_after_the_cooldown_and_its_success_closes() {
    let s = BreakerSettings::new().consecutive_failures(1).cooldown(secs(10));
    let mut b = Breaker::new(&s);
    fail_n(&mut b, &s, at(0), 1);
    assert_eq!(b.permit(at(9_999), &s), Permit::Refused(Duration::from_millis(1)));
    let Permit::Probe { id, opened_half: true } = b.permit(at(10_000), &s) else { panic!("a probe") };
    assert_eq!(b.state(at(10_000)), BreakerState::HalfOpen);
    assert_eq!(b.permit(at(10_000), &s), Permit::Refused(secs(30)), "one probe at a time");
    assert_eq!(b.record(at(10_001), &s, OK, None), None, "a stale success is not the probe's");
    assert_eq!(b.record(at(10_002), &s, OK, Some(id)), Some(Transition::Closed));
    assert_eq!(b.permit(at(10_002), &s), Permit::Pass);
    assert!(!b.is_tripped());
}

#[test]
fn a_failed_probe_opens_it_again_for_its_retry_after() {
    let s = BreakerSettings::new().consecutive_failures(1).cooldown(secs(10));
    let mut b = Breaker::new(&s);
    fail_n(&mut b, &s, at(0), 1);
    let Permit::Probe { id, .. } = b.permit(at(10_000), &s) else { panic!("a probe") };
    let throttled = Outcome::from_http_status(429, Some(secs(3)));
    assert_eq!(b.record(at(10_000), &s, throttled, Some(id)), Some(Transition::Opened));
    assert_eq!(b.permit(at(12_000), &s), Permit::Refused(secs(1)), "open for the Retry-After, not the cooldown");
    assert!(matches!(b.permit(at(13_000), &s), Permit::Probe { .. }));
    assert_eq!(b.record(at(13_000), &s, OK, Some(id)), None, "the old probe's number is spent");
}

#[test]
fn retry_after_is_capped_and_stale_outcomes_while_open_are_ignored() {
    let s = BreakerSettings::new().consecutive_failures(1).max_retry_after(secs(60));
    let mut b = Breaker::new(&s);
    b.record(at(0), &s, Outcome::Failure { retry_after: Some(secs(86_400)) }, None);
    assert_eq!(b.state(at(0)), BreakerState::Open { retry_in: secs(60) });
    assert_eq!(b.record(at(1), &s, OK, None), None);
    assert_eq!(b.record(at(1), &s, FAIL, None), None);
    assert_eq!(b.state(at(0)), BreakerState::Open { retry_in: secs(60) }, "unchanged");
}

#[test]
fn an_abandoned_or_timed_out_probe_passes_the_turn_on() {
    let s = BreakerSettings::new().consecutive_failures(1).cooldown(secs(1)).probe_timeout(secs(5));
    let mut b = Breaker::new(&s);
    fail_n(&mut b, &s, at(0), 1);
    let Permit::Probe { id: first, .. } = b.permit(at(1_000), &s) else { panic!("a probe") };
    b.abandon(first);
    let Permit::Probe { id: second, opened_half: false } = b.permit(at(1_000), &s) else { panic!("next probe") };
    assert_ne!(first, second);
    b.abandon(first); // stale: changes nothing
    assert!(b.is_probe(second));
    assert!(matches!(b.permit(at(5_999), &s), Permit::Refused(_)));
    let Permit::Probe { id: third, .. } = b.permit(at(6_000), &s) else { panic!("the hung probe's turn ran out") };
    assert_eq!(b.record(at(6_000), &s, OK, Some(second)), None, "the hung probe reports too late");
    assert_eq!(b.record(at(6_000), &s, OK, Some(third)), Some(Transition::Closed));
}

#[test]
fn bad_settings_are_typed_errors() {
    let ok = BreakerSettings::new();
    assert_eq!(ok.check(), Ok(()));
    assert_eq!(ok.no_consecutive_failures().check(), Err(BreakerError::NoTrigger));
    assert_eq!(ok.consecutive_failures(0).check(), Err(BreakerError::ZeroFailures));
    for rate in [0.0, -0.5, 1.5, f64::NAN] {
        assert!(matches!(ok.failure_rate(rate, 1, secs(1)).check(), Err(BreakerError::BadRate { .. })), "{rate}");
    }
    assert_eq!(ok.failure_rate(0.5, 0, secs(1)).check(), Err(BreakerError::ZeroMinRequests));
    assert_eq!(ok.failure_rate(1.0, 1, secs(1)).check(), Ok(()));
    assert_eq!(ok.cooldown(Duration::ZERO).check(), Err(BreakerError::ZeroDuration { what: "cooldown" }));
    assert_eq!(
        ok.failure_rate(0.5, 1, Duration::ZERO).check(),
        Err(BreakerError::ZeroDuration { what: "failure_rate window" })
    );
    assert!(matches!(
        ok.probe_timeout(Duration::MAX).check(),
        Err(BreakerError::DurationTooLong { what: "probe_timeout", .. })
    ));
}

#[test]
fn a_clock_at_the_end_of_time_saturates() {
    let s = BreakerSettings::new().consecutive_failures(1);
    let mut b = Breaker::new(&s);
    fail_n(&mut b, &s, Ticks::MAX, 1);
    assert!(matches!(b.permit(Ticks::MAX, &s), Permit::Probe { .. }), "until saturated at MAX: due at once");
}
