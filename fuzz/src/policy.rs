//! The policy target: one operation sequence drives every policy as an owner
//! would (inserts, hits told at once or kept as reference bits the way the
//! sharded backend keeps them, removals, evictions while over capacity,
//! clears), checking the protocol and calling `validate()` after each step.

use std::collections::BTreeMap;

use ttlkit_strategies::{mix64, EvictionPolicy, PolicyKind};

const KEYS: u64 = 32;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// A hit if resident (told to the policy), else an insert and
    /// evictions until the owner is within capacity.
    Access(u64),
    /// A hit kept as the owner's reference bit (a lock-free read).
    Touch(u64),
    /// The entry left for a reason the policy did not choose.
    Remove(u64),
    /// Forget everything.
    Clear,
}

/// The first bytes give the capacity and whether hashes collide; the rest
/// are steps. Every policy in `PolicyKind::ALL` runs the same sequence.
pub fn policies(data: &[u8]) {
    let [cap, flags, rest @ ..] = data else { return };
    let capacity = usize::from(cap % 24);
    let collide = flags & 1 == 1;
    let steps: Vec<Step> = rest
        .chunks(2)
        .take(2000)
        .map(|c| {
            let key = u64::from(c.get(1).copied().unwrap_or(0)) % KEYS;
            match c[0] % 16 {
                0..=8 => Step::Access(key),
                9..=11 => Step::Touch(key),
                12..=14 => Step::Remove(key),
                _ => Step::Clear,
            }
        })
        .collect();
    for &kind in PolicyKind::ALL {
        let mut policy = kind.build(capacity);
        if let Err(e) = drive(policy.as_mut(), capacity, collide, &steps) {
            panic!("{kind} (capacity {capacity}, collide {collide}): {e}\n  steps: {steps:?}");
        }
    }
}

fn drive(p: &mut dyn EvictionPolicy, capacity: usize, collide: bool, steps: &[Step]) -> Result<(), String> {
    let hash = |k: u64| if collide { k & 3 } else { mix64(k) };
    // Resident keys (used as ids) and their owner-kept reference bits.
    let mut resident: BTreeMap<u64, bool> = BTreeMap::new();
    for (i, &step) in steps.iter().enumerate() {
        match step {
            Step::Access(k) if resident.contains_key(&k) => p.on_hit(k),
            Step::Access(k) => {
                p.on_insert(k, hash(k));
                resident.insert(k, false);
                while resident.len() > capacity {
                    let victim = if p.reads_reference_bits() {
                        p.evict_with_bits(&mut |id| resident.get_mut(&id).map(std::mem::take).unwrap_or(false))
                    } else {
                        p.evict()
                    };
                    let Some(v) = victim else {
                        return Err(format!("step {i} {step:?}: no victim with {} resident", resident.len()));
                    };
                    if resident.remove(&v).is_none() {
                        return Err(format!("step {i} {step:?}: victim {v} is not resident"));
                    }
                }
            }
            Step::Touch(k) => {
                if let Some(bit) = resident.get_mut(&k) {
                    *bit = true;
                }
            }
            Step::Remove(k) => {
                resident.remove(&k);
                p.on_remove(k);
            }
            Step::Clear => {
                resident.clear();
                p.clear();
            }
        }
        p.validate().map_err(|e| format!("step {i} {step:?}: validate: {e}"))?;
        if p.len() != resident.len() {
            return Err(format!("step {i} {step:?}: the policy tracks {} of {} resident", p.len(), resident.len()));
        }
    }
    Ok(())
}
