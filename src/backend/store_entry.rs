//! What the store keeps per slot: the entry itself, laid out so that an
//! empty slot costs no tag, and the side array of own deadlines that only
//! caches using them pay for.

use std::num::NonZeroU64;

use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::expiry::ExpiryRules;

/// A stored entry. Its own deadline lives in `OwnStamps` beside the slots
/// (most caches give none), and `inserted_at` leaves a niche so an empty
/// slot costs no tag: 16 bytes less per slot than the plain layout.
pub(super) struct Entry<K, V> {
    pub(super) key: K,
    pub(super) value: V,
    pub(super) last_access: Ticks,
    pub(super) inserted_at: Written,
}

impl<K, V> Entry<K, V> {
    pub(super) fn new(key: K, value: V, now: Ticks) -> Self {
        Entry { key, value, last_access: now, inserted_at: Written::at(now) }
    }

    pub(super) fn is_expired(&self, rules: &ExpiryRules, now: Ticks, own: Ticks) -> bool {
        rules.is_expired(now, self.last_access, self.inserted_at.get(), own)
    }

    pub(super) fn departure(
        &self,
        rules: &ExpiryRules,
        now: Ticks,
        own: Ticks,
        otherwise: RemovalCause,
    ) -> RemovalCause {
        rules.departure(now, self.last_access, self.inserted_at.get(), own, otherwise)
    }

    /// Its deadline in nanoseconds, as the wheel files it.
    pub(super) fn deadline(&self, rules: &ExpiryRules, own: Ticks) -> u64 {
        rules.deadline(self.last_access, self.inserted_at.get(), own).as_nanos()
    }
}

/// When an entry was written, stored inverted so that the all-zero pattern
/// is free and `Option<Entry>` needs no tag. The one instant it cannot hold
/// is `Ticks::MAX` (the end of time, which no clock reads); it is kept as
/// one nanosecond earlier, which moves no deadline: every timeout is at
/// least a nanosecond, and `MAX - 1` plus one saturates to `MAX` as `MAX`
/// does.
#[derive(Clone, Copy)]
pub(super) struct Written(NonZeroU64);

impl Written {
    pub(super) fn at(t: Ticks) -> Self {
        Written(NonZeroU64::new(!t.as_nanos()).unwrap_or(NonZeroU64::MIN))
    }

    pub(super) fn get(self) -> Ticks {
        Ticks::from_nanos(!self.0.get())
    }
}

/// Each slot's own deadline, `Ticks::MAX` for none. Kept only as far as
/// the highest slot that ever had one: a cache whose entries have no
/// deadlines of their own spends nothing here.
#[derive(Default)]
pub(super) struct OwnStamps(pub(super) Vec<Ticks>);

impl OwnStamps {
    pub(super) fn get(&self, idx: u32) -> Ticks {
        self.0.get(idx as usize).copied().unwrap_or(Ticks::MAX)
    }

    pub(super) fn truncate(&mut self, slots: usize) {
        self.0.truncate(slots);
    }

    pub(super) fn shrink_to(&mut self, slots: usize) {
        self.0.shrink_to(slots);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    pub(super) fn set(&mut self, idx: u32, own: Ticks) {
        let i = idx as usize;
        if i >= self.0.len() {
            if own == Ticks::MAX {
                return;
            }
            self.0.resize(i + 1, Ticks::MAX);
        }
        self.0[i] = own;
    }
}

/// The deadline of each filed slot, for the wheel's walks. Filed slots are
/// resident (`remove_at` unfiles a slot as it empties it).
pub(super) fn deadlines<'a, K, V>(
    slots: &'a [Option<Entry<K, V>>],
    owns: &'a OwnStamps,
    rules: &'a ExpiryRules,
) -> impl Fn(u32) -> u64 + 'a {
    move |idx| slots[idx as usize].as_ref().map_or(0, |e| e.deadline(rules, owns.get(idx)))
}
