//! A panic inside a store operation (a policy call) leaves the store
//! whole: its map, wheel, weight and policy agree, it is within its bound,
//! and every entry that left was reported. (A weigher's panic never reaches
//! the store: the front-end weighs before it calls the core.)

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use ttlkit_strategies::{EntryId, EvictionPolicy, Lru};

use super::*;
use crate::sync::RandomState;

const CAP: u64 = 5;

fn at(secs: u64) -> Ticks {
    Ticks::from_nanos(secs * 1_000_000_000)
}

fn rules() -> ExpiryRules {
    ExpiryRules::new(Duration::from_secs(100), None, Duration::ZERO)
}

/// An LRU that panics on the calls `fault` picks.
#[derive(Debug)]
struct Faulty {
    lru: Lru,
    fault: Fault,
    removals: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    InsertOf(u64),
    Evict,
    Remove,
    /// On the second removal only.
    SecondRemove,
    Hit,
}

impl EvictionPolicy for Faulty {
    fn name(&self) -> &'static str {
        "lru"
    }
    fn capacity(&self) -> usize {
        self.lru.capacity()
    }
    fn len(&self) -> usize {
        self.lru.len()
    }
    fn on_insert(&mut self, id: EntryId, hash: u64) {
        assert!(self.fault != Fault::InsertOf(hash), "policy fault on insert");
        self.lru.on_insert(id, hash);
    }
    fn on_hit(&mut self, id: EntryId) {
        assert!(self.fault != Fault::Hit, "policy fault on hit");
        self.lru.on_hit(id);
    }
    fn on_remove(&mut self, id: EntryId) {
        self.removals += 1;
        assert!(self.fault != Fault::Remove, "policy fault on remove");
        assert!(self.fault != Fault::SecondRemove || self.removals != 2, "policy fault on the second remove");
        self.lru.on_remove(id);
    }
    fn evict(&mut self) -> Option<EntryId> {
        assert!(self.fault != Fault::Evict, "policy fault on evict");
        self.lru.evict()
    }
    fn clear(&mut self) {
        self.lru.clear();
    }
    fn validate(&self) -> Result<(), String> {
        self.lru.validate()
    }
}

/// A full store (keys 0..CAP) whose policy faults as `fault` says.
fn full(fault: impl FnOnce(&Store<u64, u64>) -> Fault) -> (Store<u64, u64>, DepartureList<u64, u64>) {
    let mut s = Store::new(rules(), Some(CAP), false, None, RandomState::default());
    let fault = fault(&s);
    s.policy = Some(Box::new(Faulty { lru: Lru::new(CAP as usize), fault, removals: 0 }));
    let mut out = DepartureList::new();
    for k in 0..CAP {
        s.insert(s.h(&k), k, k, at(k), &mut out);
    }
    assert!(out.is_empty());
    (s, out)
}

/// Every key is either resident or reported exactly once, and the store
/// still works: an insert evicts as it should.
fn check_whole(mut s: Store<u64, u64>, mut out: DepartureList<u64, u64>, keys: impl Iterator<Item = u64>) {
    s.validate().unwrap();
    assert!(s.weight() <= CAP, "over the bound after a panic: {}", s.weight());
    assert_eq!(s.weight(), s.len() as u64);
    for k in keys {
        let reported = out.iter().filter(|(rk, _, _)| *rk == k).count();
        let resident = usize::from(s.peek(s.h(&k), &k, at(10)).is_some());
        assert_eq!(reported + resident, 1, "key {k}: reported {reported} times, resident {resident}");
    }
    out.clear();
    for k in 100..110 {
        s.insert(s.h(&k), k, k, at(20), &mut out);
    }
    assert_eq!(s.len() as u64, CAP);
    s.validate().unwrap();
}

fn panics(f: impl FnOnce()) {
    assert!(catch_unwind(AssertUnwindSafe(f)).is_err(), "expected a panic");
}

#[test]
fn policy_panic_on_insert_is_repaired() {
    let (mut s, mut out) = full(|s| Fault::InsertOf(s.h(&99)));
    panics(|| s.insert(s.h(&99), 99, 99, at(6), &mut out));
    check_whole(s, out, (0..CAP).chain([99]));
}

#[test]
fn policy_panic_on_evict_is_repaired() {
    let (mut s, mut out) = full(|_| Fault::Evict);
    panics(|| s.insert(s.h(&99), 99, 99, at(6), &mut out));
    check_whole(s, out, (0..CAP).chain([99]));
}

#[test]
fn policy_panic_on_remove_is_repaired() {
    let (mut s, mut out) = full(|_| Fault::Remove);
    panics(|| {
        s.remove(s.h(&2), &2, at(6), &mut out);
    });
    check_whole(s, out, 0..CAP);
}

#[test]
fn policy_panic_on_hit_is_repaired() {
    let (mut s, mut out) = full(|_| Fault::Hit);
    panics(|| {
        s.get(s.h(&2), &2, at(6), &mut out);
    });
    check_whole(s, out, 0..CAP);
}

#[test]
fn policy_panic_in_a_purge_leaves_the_whole_batch_for_the_next() {
    let (mut s, mut out) = full(|_| Fault::SecondRemove);
    // Every key is past its idle deadline at 200 s: one batch of five.
    panics(|| {
        s.purge_expired(at(200), 256, &mut out);
    });
    // The policy is told first, for the whole batch, so not even the entry
    // told before the faulting one has left.
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(s.len() as u64, CAP);
    s.validate().unwrap();
    // The repaired policy is a plain one: the next purge takes them all.
    assert_eq!(s.purge_expired(at(200), 256, &mut out), (CAP as usize, false));
    assert!(out.iter().all(|r| r.2 == RemovalCause::Expired), "{out:?}");
    let mut gone: Vec<u64> = out.iter().map(|r| r.0).collect();
    gone.sort_unstable();
    assert_eq!(gone, (0..CAP).collect::<Vec<_>>());
    s.validate().unwrap();
}
