//! What the moka backend stores as moka's value: the user's key and value
//! plus our own stamps, read with our [`Clock`](crate::clock::Clock).
//!
//! moka's clock cannot be injected (moka issue 522), so moka cannot decide
//! expiry under a `MockClock`. Each entry therefore carries the stamps the
//! contract is written in (`inserted_at`, `last_access`, in [`Ticks`]) and
//! every read checks them itself.
//!
//! Two atomics settle the races between readers and removers without a lock:
//!
//! * `last_access` doubles as the *expiry decision*: a remover that finds
//!   the entry expired swaps the stamp it read for [`TOMBSTONE`] with a
//!   compare-and-swap, and a hit refreshes the stamp with a compare-and-swap
//!   from the value it checked. Exactly one wins, so a hit whose refresh
//!   counted is never followed by an `Expired` report for the old deadline,
//!   and a tombstoned entry is never returned again.
//! * `fate` records *why* the entry left, decided once (first writer wins):
//!   by our own code just before it asks moka to drop the entry (`Expired`,
//!   `Cleared`), or by the removal hook from moka's cause and our stamps.
//!   The hook then reports the settled cause, so moka's `Explicit` for an
//!   entry we purged as expired is reported as `Expired`, and so on.
//!
//! `reported` makes the hook idempotent: an entry is counted and reported
//! once even if moka were ever to report it twice.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::core::Stamps;
use crate::expiry::ExpiryRules;
use crate::per_entry::OwnDeadlines;

/// `last_access` of an entry already judged expired. No real stamp is ever
/// stored as it: see [`stamp`].
const TOMBSTONE: u64 = u64::MAX;

/// The stored form of a real time: `now`, but never [`TOMBSTONE`]. A clock
/// saturated at [`Ticks::MAX`] would otherwise store the tombstone as an
/// access stamp, and the entry would look judged (no deadline, never queued
/// for purging) while still in moka. One nanosecond earlier changes no
/// deadline: every timeout is at least a nanosecond, so `MAX - 1 + idle`
/// saturates to `MAX` just as `MAX + idle` does.
fn stamp(now: Ticks) -> u64 {
    now.as_nanos().min(TOMBSTONE - 1)
}

/// Stripes a slot can name.
pub(super) const MAX_STRIPES: usize = 1 << u8::BITS;

/// `fate` of an entry still in the cache.
const IN_CACHE: u8 = 0;

/// One cached entry, shared (as `Arc<Slot>`) by moka's map, the deadline
/// queues (weakly) and readers.
pub(super) struct Slot<K, V> {
    pub(super) key: K,
    pub(super) value: V,
    inserted_at: Ticks,
    last_access: AtomicU64,
    /// Its own deadline (`Ticks::MAX`: none): set before the slot is
    /// published, moved later only by an `Expiry`'s `expire_after_read`.
    own: AtomicU64,
    fate: AtomicU8,
    reported: AtomicBool,
    /// Weight under `max_capacity` (1 without a weigher).
    pub(super) weight: u32,
    /// The write stripe its key hashes to: a byte, so it packs with the
    /// flags and the weight instead of costing a word of its own.
    stripe: u8,
}

/// What a read found.
pub(super) enum Seen {
    Live,
    /// Live, and the read moved its own deadline earlier, to this: it must
    /// be queued for purging at it.
    Sooner(Ticks),
    Expired,
}

impl Seen {
    pub(super) fn is_live(&self) -> bool {
        !matches!(self, Seen::Expired)
    }
}

/// What a remover found when it tried to judge an entry expired.
pub(super) enum Judged {
    /// It was expired; this caller's compare-and-swap (or an earlier one)
    /// tombstoned it.
    Expired,
    /// It is live until this deadline (a hit refreshed it).
    LiveUntil(Ticks),
}

impl<K, V> Slot<K, V> {
    /// A slot for the write stripe `stripe` (below [`MAX_STRIPES`]).
    pub(super) fn new(key: K, value: V, now: Ticks, weight: u32, stripe: usize) -> Self {
        debug_assert!(stripe < MAX_STRIPES);
        Slot {
            key,
            value,
            inserted_at: now,
            last_access: AtomicU64::new(stamp(now)),
            own: AtomicU64::new(u64::MAX),
            fate: AtomicU8::new(IN_CACHE),
            reported: AtomicBool::new(false),
            weight,
            stripe: stripe as u8,
        }
    }

    /// The write stripe its key hashes to.
    pub(super) fn stripe(&self) -> usize {
        usize::from(self.stripe)
    }

    /// Its own deadline (`Ticks::MAX`: none).
    pub(super) fn own(&self) -> Ticks {
        Ticks::from_nanos(self.own.load(Ordering::Acquire))
    }

    /// Sets its own deadline (before it is published).
    pub(super) fn set_own(&self, own: Ticks) {
        self.own.store(own.as_nanos(), Ordering::Release);
    }

    /// Its deadline, or `None` once tombstoned.
    pub(super) fn deadline(&self, rules: &ExpiryRules) -> Option<Ticks> {
        match self.last_access.load(Ordering::Acquire) {
            TOMBSTONE => None,
            la => Some(rules.deadline(Ticks::from_nanos(la), self.inserted_at, self.own())),
        }
    }

    /// Its stamps and weight if it is live at `now`.
    pub(super) fn stamps(&self, now: Ticks, rules: &ExpiryRules) -> Option<Stamps> {
        match self.last_access.load(Ordering::Acquire) {
            TOMBSTONE => None,
            la if rules.is_expired(now, Ticks::from_nanos(la), self.inserted_at, self.own()) => None,
            la => Some(Stamps::new(Ticks::from_nanos(la), self.inserted_at, self.weight).with_own(self.own())),
        }
    }

    /// Why it leaves at `now` when removed for `otherwise`: `Expired` if
    /// it is past its deadline (or tombstoned).
    pub(super) fn departure(&self, now: Ticks, rules: &ExpiryRules, otherwise: RemovalCause) -> RemovalCause {
        match self.last_access.load(Ordering::Acquire) {
            TOMBSTONE => RemovalCause::Expired,
            la => rules.departure(now, Ticks::from_nanos(la), self.inserted_at, self.own(), otherwise),
        }
    }

    /// A read at `now`: is it live? With `refresh`, a live entry's access
    /// stamp moves to `now` when it lags by more than the granularity; if a
    /// remover tombstones it first, the read is a miss. A live `refresh`
    /// read also asks `own_deadlines` whether to move its own deadline.
    #[inline]
    pub(super) fn read(
        &self,
        now: Ticks,
        rules: &ExpiryRules,
        own_deadlines: &OwnDeadlines<K, V>,
        refresh: bool,
    ) -> Seen {
        let seen = self.read_stamp(now, rules, refresh);
        if !refresh || !own_deadlines.has_expiry() || !seen.is_live() {
            return seen;
        }
        let own = self.own();
        match own_deadlines.on_read(&self.key, &self.value, now, own) {
            Some(new) => {
                // Racing readers each store theirs; the last wins. A remover
                // that read the old deadline, already past at its own later
                // `now`, may still expire the entry: this read then counts
                // as made before that removal (the value was live when read).
                self.own.store(new.as_nanos(), Ordering::Release);
                if new < own {
                    Seen::Sooner(new)
                } else {
                    Seen::Live
                }
            }
            None => Seen::Live,
        }
    }

    fn read_stamp(&self, now: Ticks, rules: &ExpiryRules, refresh: bool) -> Seen {
        let mut la = self.last_access.load(Ordering::Acquire);
        loop {
            if la == TOMBSTONE || rules.is_expired(now, Ticks::from_nanos(la), self.inserted_at, self.own()) {
                return Seen::Expired;
            }
            if !refresh || !rules.needs_refresh(now, Ticks::from_nanos(la)) {
                return Seen::Live;
            }
            match self.last_access.compare_exchange_weak(la, stamp(now), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Seen::Live,
                Err(current) => la = current,
            }
        }
    }

    /// Tombstones it if it is expired at `now`.
    pub(super) fn judge(&self, now: Ticks, rules: &ExpiryRules) -> Judged {
        let mut la = self.last_access.load(Ordering::Acquire);
        loop {
            if la == TOMBSTONE {
                return Judged::Expired;
            }
            let deadline = rules.deadline(Ticks::from_nanos(la), self.inserted_at, self.own());
            if now < deadline {
                return Judged::LiveUntil(deadline);
            }
            match self.last_access.compare_exchange_weak(la, TOMBSTONE, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Judged::Expired,
                Err(current) => la = current,
            }
        }
    }

    /// Records why it leaves, unless that was decided already; returns the
    /// cause that stands.
    pub(super) fn settle(&self, cause: RemovalCause) -> RemovalCause {
        match self.fate.compare_exchange(IN_CACHE, encode(cause), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => cause,
            Err(decided) => decode(decided).unwrap_or(cause),
        }
    }

    /// Records `cause` only if nothing was decided yet; true if it did.
    pub(super) fn try_settle(&self, cause: RemovalCause) -> bool {
        self.fate.compare_exchange(IN_CACHE, encode(cause), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The settled cause, if any.
    pub(super) fn fate(&self) -> Option<RemovalCause> {
        decode(self.fate.load(Ordering::Acquire))
    }

    /// Whether its departure was decided (it left or is leaving).
    pub(super) fn is_settled(&self) -> bool {
        self.fate.load(Ordering::Acquire) != IN_CACHE
    }

    /// Marks it reported; false if it already was.
    pub(super) fn mark_reported(&self) -> bool {
        !self.reported.swap(true, Ordering::AcqRel)
    }
}

fn encode(cause: RemovalCause) -> u8 {
    // `index()` is 0..5; 0 is taken by IN_CACHE.
    cause.index() as u8 + 1
}

fn decode(fate: u8) -> Option<RemovalCause> {
    RemovalCause::ALL.into_iter().find(|c| encode(*c) == fate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(secs: u64) -> Ticks {
        Ticks::from_nanos(secs * 1_000_000_000)
    }

    fn rules() -> ExpiryRules {
        ExpiryRules::new(Duration::from_secs(10), Some(Duration::from_secs(25)), Duration::ZERO)
    }

    #[test]
    fn reads_refresh_and_tombstones_stick() {
        let r = rules();
        let s = Slot::new(1u32, 10u32, t(0), 1, 0);
        assert!(matches!(s.read(t(5), &r, &OwnDeadlines::default(), true), Seen::Live));
        assert!(matches!(s.judge(t(14), &r), Judged::LiveUntil(d) if d == t(15)));
        assert!(
            matches!(s.read(t(14), &r, &OwnDeadlines::default(), false), Seen::Live),
            "peek at 14 does not refresh"
        );
        assert!(matches!(s.judge(t(15), &r), Judged::Expired));
        assert!(s.deadline(&r).is_none());
        assert!(
            matches!(s.read(t(15), &r, &OwnDeadlines::default(), true), Seen::Expired),
            "a tombstone is never live again"
        );
    }

    #[test]
    fn a_stamp_at_the_end_of_time_is_not_a_tombstone() {
        let r = rules();
        let s = Slot::new(1u32, 10u32, Ticks::MAX, 1, 0);
        assert_eq!(s.deadline(&r), Some(Ticks::MAX), "a real deadline, so it is queued for purging");
        assert_eq!(s.departure(Ticks::MAX, &r, RemovalCause::Explicit), RemovalCause::Expired);
        assert!(matches!(s.judge(Ticks::MAX, &r), Judged::Expired));
        assert!(s.deadline(&r).is_none(), "judged: now it is the tombstone");
    }

    #[test]
    fn lifetime_caps_refreshes() {
        let r = rules();
        let s = Slot::new(1u32, 10u32, t(0), 1, 0);
        for now in [8, 16, 24] {
            assert!(matches!(s.read(t(now), &r, &OwnDeadlines::default(), true), Seen::Live));
        }
        assert_eq!(s.departure(t(25), &r, RemovalCause::Explicit), RemovalCause::Expired);
    }

    #[test]
    fn first_settle_wins_and_reporting_is_once() {
        let s = Slot::new(1u32, 10u32, t(0), 1, 0);
        assert_eq!(s.fate(), None);
        assert!(s.try_settle(RemovalCause::Cleared));
        assert!(!s.try_settle(RemovalCause::Expired));
        assert_eq!(s.settle(RemovalCause::Explicit), RemovalCause::Cleared);
        assert!(s.is_settled());
        assert!(s.mark_reported());
        assert!(!s.mark_reported());
        for c in RemovalCause::ALL {
            assert_eq!(decode(encode(c)), Some(c));
        }
    }
}
