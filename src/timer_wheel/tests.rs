use proptest::prelude::*;

use super::model::{check, Op, When, IDS};
use super::*;

const SEC: u64 = 1_000_000_000;

/// Every id a complete walk to `now` hands out, removing each.
fn drain(w: &mut TimerWheel, now: u64, deadline: impl Fn(u32) -> u64) -> Vec<u32> {
    let mut out = Vec::new();
    loop {
        let mut budget = 16;
        while let Some(id) = w.next_expired(now, &mut budget, &deadline) {
            w.unschedule(id);
            out.push(id);
        }
        if !w.has_due() {
            out.sort_unstable();
            return out;
        }
    }
}

#[test]
fn exact_to_the_nanosecond_at_every_scale() {
    for d in [1, 2, 63, 64, 65, 1_000, SEC - 1, SEC, 3_600 * SEC + 7, 40 * 86_400 * SEC, u64::MAX - 1, u64::MAX] {
        let mut w = TimerWheel::default();
        w.schedule(7, d);
        assert!(drain(&mut w, d - 1, |_| d).is_empty(), "deadline {d} handed out 1 ns early");
        assert_eq!(drain(&mut w, d, |_| d), vec![7], "deadline {d} not handed out at it");
        assert_eq!(w.next_due(), u64::MAX);
    }
}

#[test]
fn a_deadline_inside_the_current_nanosecond_range_is_found() {
    // The wheel is at 1 s; deadlines a few nanoseconds on, and one already past.
    let mut w = TimerWheel::default();
    let mut budget = 1;
    assert!(w.next_expired(SEC, &mut budget, |_| u64::MAX).is_none());
    w.schedule(0, SEC + 3);
    w.schedule(1, SEC + 1);
    w.schedule(2, SEC - 5);
    assert_eq!(w.next_due(), SEC, "a past deadline is due at once");
    assert_eq!(drain(&mut w, SEC, |id| [SEC + 3, SEC + 1, SEC - 5][id as usize]), vec![2]);
    assert_eq!(w.next_due(), SEC + 1);
    assert_eq!(drain(&mut w, SEC + 2, |id| [SEC + 3, SEC + 1][id as usize]), vec![1]);
    assert_eq!(drain(&mut w, SEC + 3, |_| SEC + 3), vec![0]);
}

#[test]
fn a_lower_bound_filing_is_refiled_under_the_real_deadline() {
    let mut w = TimerWheel::default();
    let mut real = [60 * SEC, 60 * SEC, 61 * SEC];
    for (id, &d) in real.iter().enumerate() {
        w.schedule(id as u32, d);
    }
    // Entry 1 was read at 30 s: its real deadline moved to 90 s, unfiled.
    real[1] = 90 * SEC;
    assert_eq!(drain(&mut w, 61 * SEC, |id| real[id as usize]), vec![0, 2]);
    assert!(w.is_scheduled(1));
    assert!(w.next_due() > 61 * SEC && w.next_due() <= 90 * SEC);
    assert!(drain(&mut w, 90 * SEC - 1, |id| real[id as usize]).is_empty());
    assert_eq!(drain(&mut w, 90 * SEC, |id| real[id as usize]), vec![1]);
}

#[test]
fn a_walk_resumes_where_its_budget_ran_out() {
    let mut w = TimerWheel::default();
    for id in 0..100 {
        w.schedule(id, 10 * SEC + u64::from(id));
    }
    let mut got = Vec::new();
    let mut walks = 0;
    loop {
        let mut budget = 16;
        while let Some(id) = w.next_expired(20 * SEC, &mut budget, |id| 10 * SEC + u64::from(id)) {
            w.unschedule(id);
            got.push(id);
        }
        walks += 1;
        if !w.has_due() {
            break;
        }
    }
    got.sort_unstable();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(walks, 7, "16 visits a walk");
}

#[test]
fn a_walk_costs_the_due_entries_not_the_map() {
    // 100,000 entries an hour out and 1,000 due at 61 s, filed from t = 0
    // and t = 30 s: the walk at 61 s visits the due ones only.
    let mut w = TimerWheel::default();
    let deadline = |id: u32| if id < 1_000 { 60 * SEC + u64::from(id) } else { 3_600 * SEC + u64::from(id) };
    for id in 0..101_000 {
        w.schedule(id, deadline(id));
    }
    let mut budget = usize::MAX;
    let mut visits = 0;
    loop {
        let before = budget;
        let found = w.next_expired(61 * SEC, &mut budget, deadline);
        visits += before - budget;
        match found {
            Some(id) => w.unschedule(id),
            None => break,
        }
    }
    assert_eq!(visits, 1_000);
}

#[test]
fn a_straddled_bucket_goes_behind_the_expired_ones() {
    // Due at 2 s and 2.9 s, filed in buckets 1.07 s wide; the walk at 2.5 s
    // reaches the bucket 2.15..3.22 s, whose 2.9 s entry is not due yet.
    let mut w = TimerWheel::default();
    w.schedule(0, 2 * SEC + 900_000_000);
    w.schedule(1, 2 * SEC);
    let mut budget = 1;
    let now = 2 * SEC + 500_000_000;
    assert_eq!(w.next_expired(now, &mut budget, |id| [2 * SEC + 900_000_000, 2 * SEC][id as usize]), Some(1));
}

#[test]
fn relocate_truncate_and_clear_keep_the_lists_whole() {
    let mut w = TimerWheel::default();
    for id in 0..10 {
        w.schedule(id, SEC * u64::from(id + 1));
    }
    for id in 5..10 {
        w.relocate(id, id + 20);
    }
    w.relocate(3, 30);
    w.unschedule(30);
    for id in 25..30 {
        w.relocate(id, id - 20);
    }
    w.truncate(10);
    let filed = w.filed().unwrap();
    let mut ids: Vec<u32> = filed.iter().map(|&(id, _)| id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    assert_eq!(w.earliest(), Some(0));
    w.clear();
    assert!(w.filed().unwrap().is_empty());
    assert_eq!((w.next_due(), w.earliest()), (u64::MAX, None));
    w.schedule(3, 5);
    assert_eq!(w.next_due(), 5);
}

#[test]
fn an_empty_wheel_holds_no_memory() {
    let mut w = TimerWheel::default();
    w.unschedule(1);
    w.relocate(1, 2);
    let mut budget = 8;
    assert!(w.next_expired(SEC, &mut budget, |_| 0).is_none());
    assert_eq!(w.links.capacity(), 0);
    assert_eq!(w.now(), SEC);
}

#[test]
fn far_jumps_and_the_end_of_time() {
    let mut w = TimerWheel::default();
    w.schedule(0, 5);
    w.schedule(1, 86_400 * SEC);
    w.schedule(2, u64::MAX - 1);
    w.schedule(3, u64::MAX);
    let real = [5, 86_400 * SEC, u64::MAX - 1, u64::MAX];
    assert_eq!(drain(&mut w, u64::MAX - 2, |id| real[id as usize]), vec![0, 1]);
    assert_eq!(w.next_due(), u64::MAX - 1);
    assert_eq!(drain(&mut w, u64::MAX - 1, |id| real[id as usize]), vec![2]);
    // The end of time is a deadline too: a saturated clock reaches it.
    assert_eq!(drain(&mut w, u64::MAX, |id| real[id as usize]), vec![3]);
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        6 => (any::<u64>(), 0u8..64).prop_map(|(magnitude, shift)| When::Ahead { magnitude, shift }),
        1 => (0u64..SEC).prop_map(|back| When::Behind { back }),
        1 => Just(When::End),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    prop_oneof![
        6 => (id.clone(), when()).prop_map(|(id, when)| Op::Schedule { id, when }),
        2 => (id.clone(), when()).prop_map(|(id, when)| Op::Extend { id, when }),
        1 => id.clone().prop_map(|id| Op::Cancel { id }),
        1 => (id.clone(), id).prop_map(|(from, to)| Op::Relocate { from, to }),
        4 => (any::<u64>(), 0u8..64).prop_map(|(by, shift)| Op::Advance { by, shift }),
        3 => (1u16..40, any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(budget, drain, batch, abandon)| Op::Walk { budget, drain, batch, abandon }),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/timer_wheel/tests.proptest-regressions"
        )))),
        ..ProptestConfig::default()
    })]

    /// Exactly the entries whose real deadline has passed come out of a
    /// complete walk, each once; filings stay lower bounds.
    #[test]
    fn matches_a_model_of_sorted_deadlines(ops in proptest::collection::vec(op(), 1..120)) {
        if let Err(e) = check(&ops) {
            return Err(TestCaseError::fail(e));
        }
    }
}

#[test]
fn decoded_bytes_run_against_the_model() {
    // The fuzz target's decoder over a few fixed inputs.
    for seed in 0u64..64 {
        let bytes: Vec<u8> =
            (0..512u64).map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed).to_le_bytes()[3]).collect();
        check(&model::decode(&bytes)).unwrap();
    }
}
