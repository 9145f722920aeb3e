//! Properties of every policy under arbitrary insert / hit / remove
//! sequences and capacities (proptest).

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use ttlkit_strategies::{mix64, EvictionPolicy, FrequencySketch, PolicyKind};

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Request key: a hit if resident, else an insert (and evictions).
    Access(u64),
    /// Remove the key if resident (expiry, explicit removal).
    Remove(u64),
    /// Forget everything.
    Clear,
}

fn op(keys: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0..keys).prop_map(Op::Access),
        2 => (0..keys).prop_map(Op::Remove),
        1 => Just(Op::Clear),
    ]
}

fn ops() -> impl Strategy<Value = (usize, Vec<Op>, bool)> {
    (0usize..12, 1u64..40)
        .prop_flat_map(|(cap, keys)| (Just(cap), prop::collection::vec(op(keys), 0..300), any::<bool>()))
}

/// What the owner saw: the trace of evictions, for comparing with a model.
#[derive(Debug, Default, PartialEq, Eq)]
struct Observed {
    evicted: Vec<u64>,
    hits: u64,
}

/// Plays the owner against `p`, checking the protocol properties as it goes.
fn drive(p: &mut dyn EvictionPolicy, cap: usize, ops: &[Op], collide: bool) -> Result<Observed, TestCaseError> {
    let hash = |k: u64| if collide { k & 3 } else { mix64(k) };
    let mut resident: HashSet<u64> = HashSet::new();
    // Per key: how many times it was inserted, evicted (or refused), removed.
    let mut inserted: HashMap<u64, u64> = HashMap::new();
    let mut left: HashMap<u64, u64> = HashMap::new();
    let mut obs = Observed::default();
    for &op in ops {
        match op {
            Op::Access(k) if resident.contains(&k) => {
                obs.hits += 1;
                p.on_hit(k);
            }
            Op::Access(k) => {
                p.on_insert(k, hash(k));
                resident.insert(k);
                *inserted.entry(k).or_default() += 1;
                while resident.len() > cap {
                    let victim = p.evict();
                    let Some(v) = victim else {
                        return Err(TestCaseError::fail(format!(
                            "{}: no victim, {} resident",
                            p.name(),
                            resident.len()
                        )));
                    };
                    prop_assert!(resident.remove(&v), "{}: victim {v} is not resident", p.name());
                    *left.entry(v).or_default() += 1;
                    obs.evicted.push(v);
                }
            }
            Op::Remove(k) => {
                if resident.remove(&k) {
                    *left.entry(k).or_default() += 1;
                }
                p.on_remove(k);
            }
            Op::Clear => {
                for k in resident.drain() {
                    *left.entry(k).or_default() += 1;
                }
                p.clear();
            }
        }
        prop_assert!(resident.len() <= cap);
        prop_assert_eq!(p.len(), resident.len(), "{}: policy and owner disagree on residents", p.name());
        if let Err(e) = p.validate() {
            return Err(TestCaseError::fail(format!("{}: invalid after {op:?}: {e}", p.name())));
        }
    }
    // Every insertion is exactly one of: still resident, or gone once.
    for (&k, &n) in &inserted {
        let gone = left.get(&k).copied().unwrap_or(0);
        let live = u64::from(resident.contains(&k));
        prop_assert_eq!(n, gone + live, "{}: key {} inserted {} times", p.name(), k, n);
    }
    // Draining returns exactly the residents, each once.
    let mut drained = HashSet::new();
    while let Some(v) = p.evict() {
        prop_assert!(drained.insert(v), "{}: {v} evicted twice", p.name());
        prop_assert!(drained.len() <= resident.len() + 1);
    }
    prop_assert_eq!(&drained, &resident, "{}: drained set differs", p.name());
    prop_assert!(p.is_empty());
    Ok(obs)
}

/// LRU (`touch_on_hit`) or FIFO as a plain vector, oldest first.
fn reference_queue(cap: usize, ops: &[Op], touch_on_hit: bool) -> Observed {
    let mut q: Vec<u64> = Vec::new();
    let mut obs = Observed::default();
    for &op in ops {
        match op {
            Op::Access(k) => {
                if let Some(i) = q.iter().position(|&x| x == k) {
                    obs.hits += 1;
                    if touch_on_hit {
                        q.remove(i);
                        q.push(k);
                    }
                } else {
                    q.push(k);
                    while q.len() > cap {
                        obs.evicted.push(q.remove(0));
                    }
                }
            }
            Op::Remove(k) => q.retain(|&x| x != k),
            Op::Clear => q.clear(),
        }
    }
    obs
}

/// SIEVE as the paper describes it, over a vector (index 0 = oldest).
fn reference_sieve(cap: usize, ops: &[Op]) -> Observed {
    let mut q: Vec<(u64, bool)> = Vec::new();
    let mut hand: Option<usize> = None;
    let mut obs = Observed::default();
    for &op in ops {
        match op {
            Op::Access(k) => {
                if let Some(e) = q.iter_mut().find(|e| e.0 == k) {
                    obs.hits += 1;
                    e.1 = true;
                    continue;
                }
                q.push((k, false));
                while q.len() > cap {
                    let mut i = hand.unwrap_or(0);
                    while q[i].1 {
                        q[i].1 = false;
                        i = (i + 1) % q.len();
                    }
                    obs.evicted.push(q.remove(i).0);
                    hand = (i < q.len()).then_some(i);
                }
            }
            Op::Remove(k) => {
                if let Some(pos) = q.iter().position(|e| e.0 == k) {
                    q.remove(pos);
                    hand = match hand {
                        Some(h) if pos < h => Some(h - 1),
                        Some(h) if h < q.len() => Some(h),
                        _ => None,
                    };
                }
            }
            Op::Clear => {
                q.clear();
                hand = None;
            }
        }
    }
    obs
}

/// Plays an owner that ids its entries by slot, as ttlkit's backends do (a
/// freed slot is reused first, ids restart at 0 after a clear), against
/// `p`; returns the keys evicted, in order.
fn drive_slots(p: &mut dyn EvictionPolicy, cap: usize, ops: &[Op]) -> Result<Vec<u64>, TestCaseError> {
    let mut slot_of: HashMap<u64, u64> = HashMap::new();
    let mut key_of: HashMap<u64, u64> = HashMap::new();
    let mut free: Vec<u64> = Vec::new();
    let mut next = 0;
    let mut evicted = Vec::new();
    for &op in ops {
        match op {
            Op::Access(k) => match slot_of.get(&k) {
                Some(&s) => p.on_hit(s),
                None => {
                    let s = free.pop().unwrap_or_else(|| {
                        next += 1;
                        next - 1
                    });
                    slot_of.insert(k, s);
                    key_of.insert(s, k);
                    p.on_insert(s, mix64(k));
                    while slot_of.len() > cap {
                        let victim = p.evict();
                        let key = victim.and_then(|v| key_of.remove(&v));
                        let Some(key) = key else {
                            return Err(TestCaseError::fail(format!(
                                "{}: victim {victim:?} is not resident",
                                p.name()
                            )));
                        };
                        slot_of.remove(&key);
                        free.extend(victim);
                        evicted.push(key);
                    }
                }
            },
            Op::Remove(k) => {
                if let Some(s) = slot_of.remove(&k) {
                    key_of.remove(&s);
                    free.push(s);
                    p.on_remove(s);
                }
            }
            Op::Clear => {
                p.clear();
                slot_of.clear();
                key_of.clear();
                free.clear();
                next = 0;
            }
        }
        prop_assert_eq!(p.len(), slot_of.len(), "{}: policy and owner disagree on residents", p.name());
        if let Err(e) = p.validate() {
            return Err(TestCaseError::fail(format!("{}: invalid after {op:?}: {e}", p.name())));
        }
    }
    Ok(evicted)
}

proptest! {
    #[test]
    fn every_policy_keeps_the_protocol((cap, ops, collide) in ops()) {
        for &kind in PolicyKind::ALL {
            let mut p = kind.build(cap);
            prop_assert_eq!(p.capacity(), cap);
            drive(p.as_mut(), cap, &ops, collide)?;
        }
    }

    #[test]
    fn slot_ids_change_no_decision((cap, ops, _c) in ops()) {
        for &kind in PolicyKind::ALL {
            let by_index = drive_slots(kind.build(cap).as_mut(), cap, &ops)?;
            let by_slot = drive_slots(kind.build_for_slots(cap).as_mut(), cap, &ops)?;
            prop_assert_eq!(by_index, by_slot, "{}", kind);
        }
    }

    #[test]
    fn lru_and_fifo_equal_plain_queues((cap, ops, _c) in ops()) {
        let mut lru = PolicyKind::Lru.build(cap);
        prop_assert_eq!(drive(lru.as_mut(), cap, &ops, false)?, reference_queue(cap, &ops, true));
        let mut fifo = PolicyKind::Fifo.build(cap);
        prop_assert_eq!(drive(fifo.as_mut(), cap, &ops, false)?, reference_queue(cap, &ops, false));
    }

    #[test]
    fn sieve_equals_the_reference((cap, ops, _c) in ops()) {
        let mut sieve = PolicyKind::Sieve.build(cap);
        prop_assert_eq!(drive(sieve.as_mut(), cap, &ops, false)?, reference_sieve(cap, &ops));
    }

    #[test]
    fn sketch_never_undercounts_before_aging(
        cap in 1usize..64,
        keys in prop::collection::vec(0u64..50, 0..600),
    ) {
        let mut s = FrequencySketch::new(cap);
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for k in keys.iter().take(s.sample_size() as usize - 1) {
            s.increment(mix64(*k));
            *counts.entry(*k).or_default() += 1;
        }
        prop_assert_eq!(s.resets(), 0);
        for (k, n) in counts {
            let est = u64::from(s.frequency(mix64(k)));
            prop_assert!(est >= n.min(15), "key {} seen {} times, estimated {}", k, n, est);
        }
    }
}
