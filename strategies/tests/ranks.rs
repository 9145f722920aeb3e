//! `coldest` and `hottest`: what the policies that can tell say about
//! their residents, and that asking changes nothing.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use ttlkit_strategies::{EvictionPolicy, PolicyKind};

fn filled(kind: PolicyKind) -> Box<dyn EvictionPolicy> {
    let mut p = kind.build(64);
    for id in 0..40 {
        p.on_insert(id, id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    }
    for id in (0..40).step_by(3) {
        p.on_hit(id);
    }
    p
}

#[test]
fn every_ranking_names_each_resident_once() {
    for &kind in PolicyKind::ALL {
        let p = filled(kind);
        let (Some(cold), Some(hot)) = (p.coldest(usize::MAX), p.hottest(usize::MAX)) else {
            assert!(p.coldest(1).is_none() && p.hottest(1).is_none(), "{kind}: tells one ranking, not the other");
            continue;
        };
        for ranking in [&cold, &hot] {
            let seen: HashSet<u64> = ranking.iter().copied().collect();
            assert_eq!((seen.len(), ranking.len()), (40, 40), "{kind}: each resident once");
        }
        assert_eq!(p.coldest(5).as_deref(), Some(&cold[..5]), "{kind}: a prefix");
        assert_eq!(p.hottest(5).as_deref(), Some(&hot[..5]), "{kind}: a prefix");
        p.validate().unwrap();
    }
}

#[test]
fn queues_rank_exactly_and_asking_changes_nothing() {
    for kind in [PolicyKind::Lru, PolicyKind::Fifo] {
        let mut p = filled(kind);
        let cold = p.coldest(3).unwrap();
        let hot = p.hottest(1).unwrap();
        if kind == PolicyKind::Lru {
            assert_eq!((cold, hot), (vec![1, 2, 4], vec![39]), "hits moved 0, 3, .. 39 to the tail");
        } else {
            assert_eq!((cold, hot), (vec![0, 1, 2], vec![39]), "FIFO ignores hits");
        }
        let next = p.coldest(1).unwrap()[0];
        assert_eq!(p.evict(), Some(next), "{kind}: the coldest is the next victim");
    }
}
