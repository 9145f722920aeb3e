use std::time::Duration;

use ttlkit_strategies::PolicyKind;

use super::*;
use crate::listener::Removed;
use crate::sync::RandomState;

const SEC: u64 = 1_000_000_000;

fn at(secs: u64) -> Ticks {
    Ticks::from_nanos(secs * SEC)
}

fn store(cap: Option<u64>, lifetime: Option<u64>) -> Store<u64, u64> {
    let rules = ExpiryRules::new(Duration::from_secs(10), lifetime.map(Duration::from_secs), Duration::ZERO);
    Store::new(rules, cap, false, Some(PolicyKind::Lru.build(cap.unwrap_or(0) as usize)), RandomState::default())
}

fn causes(out: &[Removed<u64, u64>]) -> Vec<(u64, RemovalCause)> {
    out.iter().map(|(k, _, c)| (*k, *c)).collect()
}

#[test]
fn purge_pops_only_expired_in_deadline_order() {
    let mut s = store(None, None);
    let mut out = DepartureList::new();
    for k in 0..5 {
        s.insert(s.h(&k), k, k * 100, at(k), &mut out);
    }
    // Key 0 refreshed at t=4: now the last to expire.
    assert!(s.get(s.h(&0), &0, at(4), &mut out).is_some());
    let (n, more) = s.purge_expired(at(12), 100, &mut out);
    // Deadlines: key 1 at 11, key 2 at 12, key 3 at 13, key 4 at 14, key 0 at 14.
    assert_eq!((n, more), (2, false));
    assert_eq!(causes(&out), vec![(1, RemovalCause::Expired), (2, RemovalCause::Expired)]);
    s.validate().unwrap();
}

#[test]
fn purge_respects_its_batch_limit() {
    let mut s = store(None, None);
    let mut out = DepartureList::new();
    for k in 0..10 {
        s.insert(s.h(&k), k, k, at(0), &mut out);
    }
    assert_eq!(s.purge_expired(at(10), 4, &mut out), (4, true));
    assert_eq!(s.purge_expired(at(10), 4, &mut out), (4, true));
    assert_eq!(s.purge_expired(at(10), 4, &mut out), (2, false));
    assert_eq!(s.len(), 0);
    s.validate().unwrap();
}

#[test]
fn the_lifetime_expires_hot_entries() {
    let mut s = store(None, Some(25));
    let mut out = DepartureList::new();
    s.insert(s.h(&1), 1, 1, at(0), &mut out);
    for t in (5..25).step_by(5) {
        assert!(s.get(s.h(&1), &1, at(t), &mut out).is_some());
    }
    assert_eq!(s.purge_expired(at(24), 10, &mut out), (0, false));
    assert_eq!(s.purge_expired(at(25), 10, &mut out), (1, false));
    s.validate().unwrap();
}

#[test]
fn capacity_evicts_expired_first_then_lru() {
    let mut s = store(Some(3), None);
    let mut out = DepartureList::new();
    s.insert(s.h(&1), 1, 1, at(0), &mut out);
    s.insert(s.h(&2), 2, 2, at(5), &mut out);
    s.insert(s.h(&3), 3, 3, at(6), &mut out);
    s.get(s.h(&2), &2, at(7), &mut out);
    // At t=11 key 1 is expired: it goes first, though LRU would pick it too.
    s.insert(s.h(&4), 4, 4, at(11), &mut out);
    assert_eq!(causes(&out), vec![(1, RemovalCause::Expired)]);
    out.clear();
    // Nothing expired now: LRU victim is 3 (2 was read at t=7).
    s.insert(s.h(&5), 5, 5, at(12), &mut out);
    assert_eq!(causes(&out), vec![(3, RemovalCause::Capacity)]);
    assert_eq!(s.len(), 3);
    assert_eq!(s.weight(), 3);
    s.validate().unwrap();
}

#[test]
fn overwrite_reports_replaced_or_expired() {
    let mut s = store(Some(10), None);
    let mut out = DepartureList::new();
    s.insert(s.h(&1), 1, 10, at(0), &mut out);
    s.insert(s.h(&1), 1, 11, at(1), &mut out);
    s.insert(s.h(&1), 1, 12, at(20), &mut out);
    assert_eq!(
        out.iter().map(|(k, v, c)| (*k, *v, *c)).collect::<Vec<_>>(),
        vec![(1, 10, RemovalCause::Replaced), (1, 11, RemovalCause::Expired)]
    );
    assert_eq!(s.peek(s.h(&1), &1, at(29)), Some(&12));
    assert_eq!(s.peek(s.h(&1), &1, at(30)), None);
    s.validate().unwrap();
}

#[test]
fn stamps_never_go_backwards() {
    let mut s = store(None, None);
    let mut out = DepartureList::new();
    s.insert(s.h(&1), 1, 1, at(5), &mut out);
    // A caller that read the clock earlier but took the lock later.
    s.insert(s.h(&2), 2, 2, at(3), &mut out);
    s.validate().unwrap();
    assert_eq!(s.purge_expired(at(15), 10, &mut out), (2, false));
}

#[test]
fn clear_reports_each_entry_once() {
    let mut s = store(Some(5), None);
    let mut out = DepartureList::new();
    s.insert(s.h(&1), 1, 1, at(0), &mut out);
    s.insert(s.h(&2), 2, 2, at(5), &mut out);
    s.clear(at(12), &mut out);
    let mut got = causes(&out);
    got.sort();
    assert_eq!(got, vec![(1, RemovalCause::Expired), (2, RemovalCause::Cleared)]);
    assert_eq!(s.len(), 0);
    s.insert(s.h(&3), 3, 3, at(13), &mut out);
    s.validate().unwrap();
}

#[test]
fn a_shorter_timeout_refiles_and_a_longer_one_is_met_on_the_way() {
    let mut s = store(None, None);
    let mut out = DepartureList::new();
    for k in 0..4 {
        s.insert(s.h(&k), k, k, at(k), &mut out);
    }
    // 10 s -> 5 s: keys 0 and 1 (written at 0 s and 1 s) are due by 6 s.
    s.set_rules(ExpiryRules::new(Duration::from_secs(5), None, Duration::ZERO));
    s.validate().unwrap();
    assert_eq!(s.purge_expired(at(6), 100, &mut out), (2, false));
    // 5 s -> 30 s: the filings at 7 s and 8 s are now early; a walk then
    // files them again, and they go at 32 s and 33 s.
    s.set_rules(ExpiryRules::new(Duration::from_secs(30), None, Duration::ZERO));
    assert_eq!(s.purge_expired(at(9), 100, &mut out), (0, false));
    s.validate().unwrap();
    assert_eq!(s.purge_expired(at(32), 100, &mut out), (1, false));
    assert_eq!(causes(&out[2..]), vec![(2, RemovalCause::Expired)]);
    s.validate().unwrap();
}

#[test]
fn own_and_cache_wide_deadlines_share_the_wheel() {
    let mut s = store(None, None);
    let mut out = DepartureList::new();
    // Idle 10 s for all; key 1 with 3 s of its own, key 2 with 30 s (capped).
    s.write(s.h(&0), 0, 0, 1, None, at(0), &mut out);
    s.write(s.h(&1), 1, 1, 1, Some(Duration::from_secs(3)), at(0), &mut out);
    s.write(s.h(&2), 2, 2, 1, Some(Duration::from_secs(30)), at(0), &mut out);
    s.validate().unwrap();
    assert_eq!(s.purge_expired(at(3), 100, &mut out), (1, false));
    // A read moves key 0's idle deadline to 19 s; key 2 is capped at 10 s.
    assert!(s.get(s.h(&0), &0, at(9), &mut out).is_some());
    assert_eq!(s.purge_expired(at(10), 100, &mut out), (1, false));
    assert_eq!(s.purge_expired(at(19), 100, &mut out), (1, false));
    assert_eq!(causes(&out), vec![(1, RemovalCause::Expired), (2, RemovalCause::Expired), (0, RemovalCause::Expired)]);
    s.validate().unwrap();
}

#[test]
fn room_is_made_from_an_expired_entry_behind_many_that_came_near() {
    // 100 entries due at 2.1 s, then one due at 1.2 s, all filed in one
    // 1.07 s bucket. At 1.5 s that bucket straddles the time: a walk visits
    // its entries in filing order, and the expired one comes last.
    let rules = ExpiryRules::new(Duration::from_secs(1_000), None, Duration::ZERO);
    let mut s = Store::new(rules, Some(102), false, Some(PolicyKind::Lru.build(102)), RandomState::default());
    let mut out = DepartureList::new();
    for k in 0..100 {
        s.write(s.h(&k), k, k, 1, Some(Duration::from_millis(2_100)), at(0), &mut out);
    }
    s.write(s.h(&100), 100, 100, 1, Some(Duration::from_millis(1_200)), at(0), &mut out);
    let now = Ticks::from_nanos(1_500_000_000);
    s.insert(s.h(&200), 200, 200, now, &mut out);
    s.insert(s.h(&201), 201, 201, now, &mut out);
    assert_eq!(causes(&out), vec![(100, RemovalCause::Expired)], "the expired entry goes, not a live one");
    s.validate().unwrap();
}

#[test]
fn an_empty_slot_costs_no_tag() {
    // key, value and two stamps: the own deadline lives beside the slots.
    assert_eq!(std::mem::size_of::<Option<Entry<u64, u64>>>(), 32);
    for t in [0, 1, 12_345, u64::MAX - 1] {
        assert_eq!(Written::at(Ticks::from_nanos(t)).get(), Ticks::from_nanos(t));
    }
    assert_eq!(Written::at(Ticks::MAX).get(), Ticks::from_nanos(u64::MAX - 1));
}

#[test]
fn own_deadlines_cost_nothing_until_an_entry_has_one() {
    let mut s = store(None, None);
    let mut out = DepartureList::new();
    for k in 0..100 {
        s.insert(s.h(&k), k, k, at(0), &mut out);
    }
    assert!(s.owns.0.is_empty());
    s.write(s.h(&7), 7, 7, 1, Some(Duration::from_secs(3)), at(0), &mut out);
    assert_eq!(s.owns.0.len(), 8, "kept as far as the highest slot with one");
    // The slot keeps no deadline once its entry leaves: a newcomer there has none.
    assert!(s.remove(s.h(&7), &7, at(1), &mut out).is_some());
    s.insert(s.h(&100), 100, 100, at(1), &mut out);
    assert_eq!(s.purge_expired(at(5), 100, &mut out), (0, false));
    assert_eq!(s.peek(s.h(&100), &100, at(5)), Some(&100));
    s.validate().unwrap();
}
