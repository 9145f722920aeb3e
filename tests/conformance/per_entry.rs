//! Conformance cases for per-entry expiry: `insert_with_ttl` and an
//! `Expiry` given to the builder, each beside the cache-wide deadlines.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ttlkit::clock::{MockClock, Ticks};
use ttlkit::{Expiry, RemovalCause, SlidingTtlCache};

use crate::removal_log::RemovalLog;
use crate::target::Target;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An entry given 5 s lives 5 s however often it is read, beside a
/// neighbour that lives by the cache-wide idle timeout; a zero duration
/// is never visible. The purge reports both expired entries.
pub fn insert_with_ttl_expires_on_its_own_deadline<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60))));
    cache.insert_with_ttl(1, 10, secs(5)).expect("in-process backends support it");
    cache.insert_with_ttl(3, 30, Duration::ZERO).expect("in-process backends support it");
    cache.insert(2, 20);
    assert_eq!(cache.get(&3), None, "a zero time to live is expired at once");
    for _ in 0..4 {
        clock.advance(secs(1));
        assert_eq!(cache.get(&1), Some(10));
    }
    clock.advance(secs(1));
    assert_eq!((cache.get(&1), cache.peek(&2)), (None, Some(20)), "5 s after its write");
    cache.purge_expired();
    assert_eq!(cache.len(), 1);
    assert_eq!(log.causes(), vec![RemovalCause::Expired, RemovalCause::Expired]);
}

/// The cache-wide time-to-live caps a longer per-entry one, and a plain
/// overwrite starts a new lifetime without the per-entry deadline.
pub fn cache_wide_deadlines_cap_and_overwrites_start_afresh<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).time_to_live(secs(10)));
    cache.insert_with_ttl(1, 1, secs(3600)).expect("supported");
    cache.insert_with_ttl(2, 2, secs(1)).expect("supported");
    cache.insert(2, 22);
    clock.advance(secs(2));
    assert_eq!(cache.get(&2), Some(22), "the overwrite dropped the 1 s deadline");
    clock.advance(secs(8));
    assert_eq!((cache.get(&1), cache.get(&2)), (None, None), "the 10 s lifetime caps the hour");
}

/// Many per-entry deadlines: a purge removes exactly the expired ones and
/// leaves the others, whatever order they were written in.
pub fn purge_removes_exactly_the_expired_per_entry_deadlines<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock));
    for k in (1..=100).rev() {
        cache.insert_with_ttl(k, k, secs(k)).expect("supported");
    }
    clock.advance(Duration::from_millis(50_500));
    assert_eq!(cache.purge_expired(), 50);
    assert_eq!(cache.len(), 50);
    assert!((1..=50).all(|k| cache.peek(&k).is_none()));
    assert!((51..=100).all(|k| cache.peek(&k) == Some(k)));
}

/// Records the callbacks it sees: creates live as many seconds as the
/// value, updates keep their deadline (the default), reads of odd keys
/// extend to 10 s from the read.
#[derive(Clone, Default)]
struct Recorded {
    calls: Arc<Mutex<Vec<Call>>>,
}

/// A callback's name, its key and the time left it was given.
type Call = (&'static str, u64, Option<Duration>);

impl Expiry<u64, u64> for Recorded {
    fn expire_after_create(&self, key: &u64, value: &u64, _: Ticks) -> Option<Duration> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(("create", *key, None));
        Some(secs(*value))
    }

    fn expire_after_update(&self, key: &u64, _: &u64, _: Ticks, current: Option<Duration>) -> Option<Duration> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(("update", *key, current));
        None
    }

    fn expire_after_read(&self, key: &u64, _: &u64, _: Ticks, current: Option<Duration>) -> Option<Duration> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push(("read", *key, current));
        (key % 2 == 1).then(|| secs(10))
    }
}

/// An `Expiry` is asked on create, update and `get` (with the time left),
/// never on `peek`, and its answers set the deadlines.
pub fn expiry_callbacks_set_deadlines_on_create_update_and_read<T: Target>(t: &T) {
    let clock = MockClock::new();
    let expiry = Recorded::default();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).expire_after(expiry.clone()));
    cache.insert(1, 3);
    cache.insert(2, 3);
    clock.advance(secs(2));
    assert_eq!((cache.get(&1), cache.get(&2)), (Some(3), Some(3)));
    assert_eq!(cache.peek(&1), Some(3), "a peek asks nothing");
    clock.advance(secs(1));
    assert_eq!(cache.get(&2), None, "3 s after its create; its read kept the deadline");
    cache.insert(1, 100); // an update keeps 12 s
    clock.advance(Duration::from_millis(8_999));
    assert_eq!(cache.peek(&1), Some(100));
    clock.advance(Duration::from_millis(1));
    assert_eq!(cache.peek(&1), None, "10 s after its read at 2 s");
    let calls = expiry.calls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        calls,
        vec![
            ("create", 1, None),
            ("create", 2, None),
            ("read", 1, Some(secs(1))),
            ("read", 2, Some(secs(1))),
            ("update", 1, Some(secs(9))),
        ]
    );
}

/// Shortens every read entry to one second.
struct ShortenOnRead;

impl Expiry<u64, u64> for ShortenOnRead {
    fn expire_after_create(&self, _: &u64, _: &u64, _: Ticks) -> Option<Duration> {
        Some(secs(100))
    }

    fn expire_after_read(&self, _: &u64, _: &u64, _: Ticks, _: Option<Duration>) -> Option<Duration> {
        Some(secs(1))
    }
}

/// A read that moves a deadline earlier is honoured by reads and by the
/// purge (a backend that files deadlines ahead must refile it).
pub fn a_read_that_shortens_a_deadline_is_purged_on_time<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).expire_after(ShortenOnRead)));
    for k in 0..10 {
        cache.insert(k, k);
    }
    for k in 0..5 {
        assert_eq!(cache.get(&k), Some(k));
    }
    clock.advance(secs(1));
    assert_eq!(cache.purge_expired(), 5);
    assert_eq!(cache.len(), 5);
    assert!((5..10).all(|k| cache.peek(&k) == Some(k)));
    assert_eq!(log.causes(), vec![RemovalCause::Expired; 5]);
}

/// `entry_info` shows the time left on an entry's own deadline, and
/// `expires_in` takes the earliest of the three.
pub fn entry_info_shows_the_own_deadline<T: Target>(t: &T) {
    let clock = MockClock::new();
    let cache = t.build(t.base_builder::<u64, u64>(&clock).time_to_idle(secs(60)));
    cache.insert_with_ttl(1, 1, secs(30)).expect("supported");
    cache.insert(2, 2);
    clock.advance(secs(10));
    let info = cache.entry_info(&1).expect("live");
    assert_eq!((info.own_left, info.expires_in()), (Some(secs(20)), Some(secs(20))));
    let info = cache.entry_info(&2).expect("live");
    assert_eq!((info.own_left, info.expires_in()), (None, Some(secs(50))));
}

/// Panics on the value 666 (create and update) and on reads of key 7.
struct Fussy;

impl Expiry<u64, u64> for Fussy {
    fn expire_after_create(&self, _: &u64, value: &u64, _: Ticks) -> Option<Duration> {
        assert!(*value != 666, "create of 666");
        None
    }

    fn expire_after_update(&self, _: &u64, value: &u64, _: Ticks, _: Option<Duration>) -> Option<Duration> {
        assert!(*value != 666, "update to 666");
        None
    }

    fn expire_after_read(&self, key: &u64, _: &u64, _: Ticks, _: Option<Duration>) -> Option<Duration> {
        assert!(*key != 7, "read of 7");
        None
    }
}

/// An `Expiry` that panics changes nothing: the write it was asked about
/// is not made (an older value stays), a read it panicked in leaves the
/// entry as it was, and the cache goes on working.
pub fn a_panicking_expiry_changes_nothing<T: Target>(t: &T) {
    let clock = MockClock::new();
    let log = RemovalLog::new();
    let cache = t.build(log.attach(t.base_builder::<u64, u64>(&clock).expire_after(Fussy)));
    let quiet = |f: &dyn Fn()| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err();
    cache.insert(1, 1);
    cache.insert(7, 7);
    assert!(quiet(&|| cache.insert(1, 666)), "the update panicked");
    assert!(quiet(&|| cache.insert(2, 666)), "the create panicked");
    assert!(
        quiet(&|| {
            let _ = cache.get(&7);
        }),
        "the read panicked"
    );
    assert_eq!((cache.peek(&1), cache.peek(&2), cache.peek(&7)), (Some(1), None, Some(7)));
    cache.insert(3, 3);
    assert_eq!((cache.len(), cache.get(&3)), (3, Some(3)));
    assert_eq!(log.causes(), vec![], "nothing left");
}
