//! Behaviour of [`WTinyLfuAuto`] as a whole: what each mechanism is for.

use super::*;
use crate::sim::Run;
use crate::{PolicyKind, MAX_SIZED_ENTRIES};

/// Hits of `kind` at `size` over `keys`.
fn hits(kind: PolicyKind, size: usize, keys: impl IntoIterator<Item = u64>) -> u64 {
    let mut run = Run::new(kind, size);
    for k in keys {
        if let Err(e) = run.access(k) {
            panic!("{kind}: {e}");
        }
    }
    run.counts().1
}

/// A loop over more keys than fit: LRU evicts each key just before its
/// turn comes round and never hits; the debiased duel keeps a fixed part
/// resident, close to what fits.
#[test]
fn a_loop_keeps_a_resident_part() {
    let (size, keys) = (500, 550u64);
    let stream = || (0..40 * keys).map(|i| i % keys);
    assert_eq!(hits(PolicyKind::Lru, size, stream()), 0);
    let auto = hits(PolicyKind::WTinyLfuAuto, size, stream());
    let ideal = 40 * size as u64;
    assert!(auto > ideal * 8 / 10, "{auto} hits of an ideal {ideal}");
}

/// Keys that come back once, soon after their first use, and never again:
/// a 1% window with a frequency duel turns the return away, LRU keeps it.
/// The miniatures see that and the cache moves to a setting that catches
/// the returns.
#[test]
fn returns_soon_after_first_use_move_the_setting() {
    let size = 1000;
    // Key i is used at step 2i and again at step 2i + 301 (about 150 other
    // keys later), so any cache of 1,000 entries that admits it hits.
    let stream = || (0..60_000u64).map(|step| if step % 2 == 0 { step / 2 } else { step.saturating_sub(301) / 2 });
    let lru = hits(PolicyKind::Lru, size, stream());
    let mut p = WTinyLfuAuto::new(size);
    let mut run_hits = 0;
    let mut resident = std::collections::HashSet::new();
    for k in stream() {
        if resident.contains(&k) {
            run_hits += 1;
            p.on_hit(k);
            continue;
        }
        p.on_insert(k, crate::mix64(k));
        resident.insert(k);
        while resident.len() > size {
            let Some(v) = p.evict() else { panic!("nothing to evict") };
            assert!(resident.remove(&v));
        }
    }
    assert!(p.window_size() > size / 100 || p.admission != Admission::Duel(1), "still on the starting setting");
    assert!(run_hits * 10 > lru * 9, "{run_hits} hits against LRU's {lru}");
    assert_eq!(p.validate(), Ok(()));
}

/// A huge capacity (a bound in bytes, `usize::MAX`) costs only what the
/// residents need: the sketch starts small and grows with them.
#[test]
fn huge_capacities_cost_what_residents_need() {
    let mut p = WTinyLfuAuto::new(usize::MAX);
    let start = p.tuning_bytes();
    assert!(start <= 1 << 20, "{start} bytes for an empty policy");
    for id in 0..20_000u64 {
        p.on_insert(id, crate::mix64(id));
    }
    let grown = p.tuning_bytes();
    assert!(grown > start && grown <= 8 * MAX_SIZED_ENTRIES + (1 << 20), "{start} -> {grown} bytes");
    assert_eq!(p.validate(), Ok(()));
}

/// Ids the owner removes, re-inserts or never had are handled; eviction
/// empties the cache in the order `coldest` gives for probation.
#[test]
fn protocol_edges() {
    let mut p = WTinyLfuAuto::new(4);
    for id in 0..4 {
        p.on_insert(id, crate::mix64(id));
    }
    p.on_insert(2, crate::mix64(2)); // resident: a hit
    p.on_remove(9); // unknown: ignored
    p.on_hit(9);
    assert_eq!(p.len(), 4);
    p.on_remove(1);
    assert_eq!(p.len(), 3);
    assert_eq!(p.coldest(10).map(|v| v.len()), Some(3));
    assert_eq!(p.hottest(1).map(|v| v.len()), Some(1));
    let mut out = Vec::new();
    while let Some(id) = p.evict() {
        out.push(id);
    }
    out.sort_unstable();
    assert_eq!(out, [0, 2, 3]);
    assert_eq!(p.validate(), Ok(()));
    p.clear();
    assert!(p.is_empty());
}

/// A full policy of 100 (a 1% window) with ids 0..100, then one newcomer.
fn full_of_100_plus_one() -> WTinyLfuAuto {
    let mut p = WTinyLfuAuto::new(100).with_slot_ids();
    for id in 0..=100u64 {
        p.on_insert(id, crate::mix64(id));
        while p.len() > 100 {
            p.evict();
        }
    }
    p.on_insert(101, crate::mix64(101));
    p
}

/// An owner that keeps hits as bits hands them over at eviction: the
/// entry about to leave that was hit since gets its hit (to the hottest
/// place of its area) instead of leaving.
#[test]
fn an_owner_bit_is_a_hit_before_the_choice() {
    let mut p = full_of_100_plus_one();
    let leaving = p.clone().evict();
    let victim = p.evict_with_bits(&mut |id| Some(id) == leaving);
    assert!(victim.is_some() && victim != leaving, "{victim:?} left; {leaving:?} was hit");
    assert_eq!(p.hottest(1), leaving.map(|id| vec![id]), "the hit made it the hottest");
    assert_eq!(p.len(), 100);
    assert_eq!(p.validate(), Ok(()));
}

/// With every entry hit, one eviction gives at most 16 hits and then
/// chooses anyway; with none, it chooses as `evict` does.
#[test]
fn owner_bits_are_read_a_bounded_number_of_times() {
    let mut p = full_of_100_plus_one();
    let mut asked = 0;
    assert!(p
        .evict_with_bits(&mut |_| {
            asked += 1;
            true
        })
        .is_some());
    assert_eq!((asked, p.len()), (BIT_CHANCES, 100));
    let (mut told, mut owner) = (full_of_100_plus_one(), full_of_100_plus_one());
    for id in 102..400u64 {
        assert_eq!(told.evict(), owner.evict_with_bits(&mut |_| false));
        told.on_insert(id, crate::mix64(id));
        owner.on_insert(id, crate::mix64(id));
    }
}
