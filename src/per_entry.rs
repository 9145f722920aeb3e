//! Per-entry expiry: a deadline of an entry's own, beside the cache-wide
//! time-to-idle and time-to-live.
//!
//! An entry gets its own deadline from [`SlidingTtlCache::insert_with_ttl`]
//! or from the [`Expiry`] set with [`CacheBuilder::expire_after`]. It is an
//! instant, stored with the entry, and the cache-wide deadlines still apply:
//! an entry expires at the *earliest* of its idle deadline, its lifetime
//! deadline and its own. So a per-entry duration can shorten an entry's
//! life, never lengthen it past the cache-wide bounds.
//!
//! [`SlidingTtlCache::insert_with_ttl`]: crate::SlidingTtlCache::insert_with_ttl
//! [`CacheBuilder::expire_after`]: crate::CacheBuilder::expire_after

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{duration_to_nanos, Ticks};

/// Computes each entry's own time to live, on create, update and read.
///
/// Each method gets the key, the value, the current time and (for updates
/// and reads) the time left on the entry's own deadline (`None` when it has
/// none), and returns the new time left, or `None` to keep what it has (for
/// a create: no deadline of its own). The cache-wide time-to-idle and
/// time-to-live still cap the result. The methods run inside the cache's
/// critical section for the entry, so keep them short and never call back
/// into the cache. Every method has a default, so an `Expiry` implements
/// only what it needs.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::{MockClock, Ticks};
/// use ttlkit::prelude::*;
///
/// /// A response lives as long as its `max-age`.
/// struct MaxAge;
/// impl Expiry<String, (u64, String)> for MaxAge {
///     fn expire_after_create(&self, _: &String, v: &(u64, String), _: Ticks) -> Option<Duration> {
///         Some(Duration::from_secs(v.0))
///     }
///     fn expire_after_update(&self, _: &String, v: &(u64, String), _: Ticks, _: Option<Duration>) -> Option<Duration> {
///         Some(Duration::from_secs(v.0))
///     }
/// }
///
/// let clock = MockClock::new();
/// let cache: MutexCache<String, (u64, String)> = CacheBuilder::new()
///     .expire_after(MaxAge)
///     .clock(clock.clone())
///     .build()?;
/// cache.insert("/a".into(), (10, "a".into()));
/// cache.insert("/b".into(), (60, "b".into()));
/// clock.advance(Duration::from_secs(10));
/// assert!(cache.get("/a").is_none());
/// assert!(cache.get("/b").is_some());
/// # Ok::<(), BuildError>(())
/// ```
pub trait Expiry<K, V>: Send + Sync {
    /// A new entry's own time to live; `None` (the default): none of its own.
    fn expire_after_create(&self, key: &K, value: &V, now: Ticks) -> Option<Duration> {
        let _ = (key, value, now);
        None
    }

    /// An overwritten entry's new time to live (`value` is the new value);
    /// `None` (the default) keeps its current one.
    fn expire_after_update(&self, key: &K, value: &V, now: Ticks, current: Option<Duration>) -> Option<Duration> {
        let _ = (key, value, now, current);
        None
    }

    /// A read entry's new time to live; `None` (the default) keeps it. Only
    /// `get` and loads that find the entry count as reads; `peek`,
    /// `entry_info` and `iter` do not.
    fn expire_after_read(&self, key: &K, value: &V, now: Ticks, current: Option<Duration>) -> Option<Duration> {
        let _ = (key, value, now, current);
        None
    }
}

/// How a core gives entries their own deadlines: from an explicit
/// `insert_with_ttl` duration, or from the cache's [`Expiry`]. Deadlines are
/// instants; [`Ticks::MAX`] means none.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::Ticks;
/// use ttlkit::CacheBuilder;
///
/// let config = CacheBuilder::<u8, u8>::new().validate()?;
/// let own = config.own_deadlines();
/// let now = Ticks::from_nanos(5);
/// // No Expiry: an explicit duration sets the deadline, nothing else does.
/// assert_eq!(own.on_write(&1, &1, now, Some(Duration::from_nanos(10)), None), Ticks::from_nanos(15));
/// assert_eq!(own.on_write(&1, &1, now, None, Some(Ticks::from_nanos(15))), Ticks::MAX);
/// assert_eq!(own.on_read(&1, &1, now, Ticks::MAX), None);
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub struct OwnDeadlines<K, V> {
    expiry: Option<Arc<dyn Expiry<K, V>>>,
}

impl<K, V> Clone for OwnDeadlines<K, V> {
    fn clone(&self) -> Self {
        OwnDeadlines { expiry: self.expiry.clone() }
    }
}

impl<K, V> Default for OwnDeadlines<K, V> {
    fn default() -> Self {
        OwnDeadlines { expiry: None }
    }
}

impl<K, V> fmt::Debug for OwnDeadlines<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnDeadlines").field("expiry", &self.expiry.is_some()).finish()
    }
}

impl<K, V> OwnDeadlines<K, V> {
    pub(crate) fn new(expiry: Option<Arc<dyn Expiry<K, V>>>) -> Self {
        OwnDeadlines { expiry }
    }

    /// Whether an [`Expiry`] is set (reads may then move deadlines).
    pub fn has_expiry(&self) -> bool {
        self.expiry.is_some()
    }

    /// The own deadline of an entry written at `now`. `ttl` is an explicit
    /// duration (`insert_with_ttl`), which wins. Otherwise, with an
    /// [`Expiry`], a new entry (`previous` is `None`: there was none, or it
    /// had expired) asks `expire_after_create` and an overwrite asks
    /// `expire_after_update`, keeping `previous` on `None`. Without one, a
    /// write starts a new lifetime with no deadline of its own.
    pub fn on_write(&self, key: &K, value: &V, now: Ticks, ttl: Option<Duration>, previous: Option<Ticks>) -> Ticks {
        if let Some(ttl) = ttl {
            return after(now, ttl);
        }
        let Some(expiry) = &self.expiry else { return Ticks::MAX };
        match previous {
            None => expiry.expire_after_create(key, value, now).map_or(Ticks::MAX, |d| after(now, d)),
            Some(prev) => match expiry.expire_after_update(key, value, now, left(now, prev)) {
                Some(d) => after(now, d),
                None => prev,
            },
        }
    }

    /// The new own deadline of an entry read at `now` whose own deadline is
    /// `current`, or `None` to keep it (always `None` without an [`Expiry`]).
    #[inline]
    pub fn on_read(&self, key: &K, value: &V, now: Ticks, current: Ticks) -> Option<Ticks> {
        let expiry = self.expiry.as_ref()?;
        let d = expiry.expire_after_read(key, value, now, left(now, current))?;
        Some(after(now, d)).filter(|&new| new != current)
    }
}

/// `now + d`, saturating.
fn after(now: Ticks, d: Duration) -> Ticks {
    Ticks::from_nanos(now.as_nanos().saturating_add(duration_to_nanos(d)).min(Ticks::MAX.as_nanos() - 1))
}

/// The time left until `deadline`, `None` if there is none.
fn left(now: Ticks, deadline: Ticks) -> Option<Duration> {
    (deadline != Ticks::MAX).then(|| Duration::from_nanos(deadline.as_nanos().saturating_sub(now.as_nanos())))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Halves;
    impl Expiry<u8, u8> for Halves {
        fn expire_after_create(&self, _: &u8, v: &u8, _: Ticks) -> Option<Duration> {
            Some(Duration::from_nanos(u64::from(*v)))
        }
        fn expire_after_read(&self, _: &u8, _: &u8, _: Ticks, current: Option<Duration>) -> Option<Duration> {
            current.map(|c| c / 2)
        }
    }

    fn t(n: u64) -> Ticks {
        Ticks::from_nanos(n)
    }

    #[test]
    fn explicit_ttl_wins_over_the_expiry() {
        let own = OwnDeadlines::new(Some(Arc::new(Halves)));
        assert_eq!(own.on_write(&0, &100, t(10), Some(Duration::from_nanos(5)), None), t(15));
        assert_eq!(own.on_write(&0, &100, t(10), None, None), t(110));
    }

    #[test]
    fn update_keeps_the_deadline_by_default_and_read_moves_it() {
        let own = OwnDeadlines::new(Some(Arc::new(Halves)));
        assert_eq!(own.on_write(&0, &1, t(10), None, Some(t(50))), t(50), "update defaults to keep");
        assert_eq!(own.on_read(&0, &1, t(10), t(50)), Some(t(30)), "40 left, halved");
        assert_eq!(own.on_read(&0, &1, t(10), Ticks::MAX), None, "no deadline, nothing to halve");
    }

    #[test]
    fn huge_durations_saturate_below_none() {
        assert_eq!(after(t(u64::MAX - 3), Duration::MAX), t(u64::MAX - 1));
        assert_eq!(left(t(10), t(5)), Some(Duration::ZERO));
    }
}
