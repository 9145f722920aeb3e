//! For reference-bit policies (CLOCK, SIEVE), hits kept as owner-side bits
//! and handed over at eviction (`evict_with_bits`) give exactly the same
//! victims as hits told through `on_hit`. This is what lets the sharded
//! backend record hits without a lock and still run these policies exactly.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use ttlkit_strategies::PolicyKind;

#[derive(Debug, Clone, Copy)]
enum Op {
    Access(u64),
    Remove(u64),
}

fn ops() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..10, 1u64..30).prop_flat_map(|(cap, keys)| {
        let op = prop_oneof![8 => (0..keys).prop_map(Op::Access), 1 => (0..keys).prop_map(Op::Remove)];
        (Just(cap), prop::collection::vec(op, 0..300))
    })
}

/// Replays `ops`; hits go to `on_hit` (`told`) or to owner bits (`!told`).
fn run(kind: PolicyKind, cap: usize, ops: &[Op], told: bool) -> Vec<u64> {
    let mut policy = kind.build(cap);
    let mut resident = HashSet::new();
    let mut bits: HashMap<u64, bool> = HashMap::new();
    let mut evicted = Vec::new();
    for &op in ops {
        match op {
            Op::Access(k) if resident.contains(&k) => {
                if told {
                    policy.on_hit(k);
                } else {
                    bits.insert(k, true);
                }
            }
            Op::Access(k) => {
                policy.on_insert(k, k);
                resident.insert(k);
                bits.insert(k, false);
                while resident.len() > cap {
                    let v = if told {
                        policy.evict()
                    } else {
                        policy.evict_with_bits(&mut |id| bits.insert(id, false).unwrap_or(false))
                    }
                    .unwrap();
                    assert!(resident.remove(&v), "victim {v} was not resident");
                    evicted.push(v);
                }
            }
            Op::Remove(k) => {
                if resident.remove(&k) {
                    policy.on_remove(k);
                }
            }
        }
        policy.validate().unwrap();
    }
    evicted
}

proptest! {
    #[test]
    fn owner_bits_equal_told_hits((cap, ops) in ops()) {
        for &kind in PolicyKind::ALL {
            let policy = kind.build(cap);
            if !policy.reads_reference_bits() {
                continue;
            }
            prop_assert_eq!(run(kind, cap, &ops, true), run(kind, cap, &ops, false), "{}", kind);
        }
    }
}

#[test]
fn clock_and_sieve_read_reference_bits() {
    let readers: Vec<_> =
        PolicyKind::ALL.iter().filter(|k| k.build(4).reads_reference_bits()).map(|k| k.name()).collect();
    assert_eq!(readers, vec!["clock", "sieve"]);
}

#[test]
fn owner_bits_go_to_the_reference_bit_policies_and_w_tinylfu_auto() {
    let takers: Vec<_> =
        PolicyKind::ALL.iter().filter(|k| k.build_for_slots(4).takes_owner_bits()).map(|k| k.name()).collect();
    assert_eq!(takers, vec!["clock", "sieve", "w-tinylfu-auto"]);
}
