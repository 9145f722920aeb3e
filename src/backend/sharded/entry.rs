//! An entry of the sharded backend, shared with lock-free readers.

use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::expiry::ExpiryRules;
use crate::per_entry::OwnDeadlines;
use crate::sync::{AtomicU64, AtomicU8};
use std::sync::atomic::Ordering;

/// Set by a hit, cleared when the eviction policy looks at the entry.
const REFERENCED: u8 = 1;
/// Set (under the shard lock) before the entry is unlinked and reported.
const REMOVED: u8 = 2;

/// What a lock-free read of an entry found.
pub(crate) enum Read<'a, V> {
    /// The live value.
    Live(&'a V),
    /// The live value, and the read moved the entry's own deadline earlier
    /// than the wheel has it filed: the shard must refile it.
    Sooner(&'a V),
    /// Past its deadline: a miss.
    Expired,
    /// Removed by a writer since the reader found it: look again.
    Removed,
}

/// One key's value and stamps. The key, value, `inserted_at` and `id` never
/// change after publication (an overwrite publishes a new entry); the access
/// stamp, the own deadline and the flags are atomics that readers update
/// without a lock.
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    last_access: AtomicU64,
    pub(crate) inserted_at: Ticks,
    /// Its own deadline (`Ticks::MAX`: none), moved only by an `Expiry`'s
    /// `expire_after_read`.
    own: AtomicU64,
    flags: AtomicU8,
    /// The shard-local id the policy and the wheel know it by.
    pub(crate) id: u32,
}

impl<K, V> Entry<K, V> {
    pub(crate) fn new(key: K, value: V, now: Ticks, own: Ticks, id: u32) -> Self {
        Entry {
            key,
            value,
            last_access: AtomicU64::new(now.as_nanos()),
            inserted_at: now,
            own: AtomicU64::new(own.as_nanos()),
            flags: AtomicU8::new(0),
            id,
        }
    }

    /// Its own deadline (`Ticks::MAX`: none).
    pub(crate) fn own(&self) -> Ticks {
        Ticks::from_nanos(self.own.load(Ordering::Relaxed))
    }

    /// Whether it is expired at `now` under `rules`.
    pub(crate) fn is_expired(&self, rules: &ExpiryRules, now: Ticks) -> bool {
        rules.is_expired(now, self.last_access(), self.inserted_at, self.own())
    }

    /// Why it leaves at `now` when removed for `otherwise`.
    pub(crate) fn departure(&self, rules: &ExpiryRules, now: Ticks, otherwise: RemovalCause) -> RemovalCause {
        rules.departure(now, self.last_access(), self.inserted_at, self.own(), otherwise)
    }

    pub(crate) fn last_access(&self) -> Ticks {
        Ticks::from_nanos(self.last_access.load(Ordering::Relaxed))
    }

    /// The entry's real deadline under `rules`.
    pub(crate) fn deadline(&self, rules: &ExpiryRules) -> Ticks {
        rules.deadline(self.last_access(), self.inserted_at, self.own())
    }

    /// The lock-free part of a read: whether the entry is expired at `now`
    /// or was removed; if neither, a `get` (`refresh`) refreshes the access stamp (only when it
    /// lags by more than the granularity, so hot entries are not written on
    /// every hit), sets the reference bit (only if clear) and returns the
    /// value. The removal flag is checked after the value is read, so a
    /// reader that started after a removal was reported never returns it.
    /// A `get` also asks `own_deadlines` whether to move its own deadline.
    #[inline]
    pub(crate) fn read(
        &self,
        rules: &ExpiryRules,
        own_deadlines: &OwnDeadlines<K, V>,
        now: Ticks,
        refresh: bool,
    ) -> Read<'_, V> {
        let last = self.last_access();
        let own = self.own();
        if rules.is_expired(now, last, self.inserted_at, own) {
            return Read::Expired;
        }
        let flags = self.flags.load(Ordering::Acquire);
        if flags & REMOVED != 0 {
            return Read::Removed;
        }
        if refresh {
            if rules.needs_refresh(now, last) {
                self.last_access.fetch_max(now.as_nanos(), Ordering::Relaxed);
            }
            if flags & REFERENCED == 0 {
                self.flags.fetch_or(REFERENCED, Ordering::Relaxed);
            }
            if own_deadlines.has_expiry() {
                if let Some(new) = own_deadlines.on_read(&self.key, &self.value, now, own) {
                    // Racing readers each store theirs; the last wins, and
                    // one that moved it earlier refiles it under the lock.
                    self.own.store(new.as_nanos(), Ordering::Relaxed);
                    if new < own {
                        return Read::Sooner(&self.value);
                    }
                }
            }
        }
        Read::Live(&self.value)
    }

    /// Marks the entry removed (under the shard lock, before unlinking).
    pub(crate) fn mark_removed(&self) {
        self.flags.fetch_or(REMOVED, Ordering::AcqRel);
    }

    /// Reads and clears the reference bit (under the shard lock).
    pub(crate) fn take_referenced(&self) -> bool {
        self.flags.fetch_and(!REFERENCED, Ordering::Relaxed) & REFERENCED != 0
    }
}
