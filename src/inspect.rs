//! Looking at a cache without touching it: what [`SlidingTtlCache::entry_info`]
//! and [`SlidingTtlCache::iter`] return.
//!
//! [`SlidingTtlCache::entry_info`]: crate::SlidingTtlCache::entry_info
//! [`SlidingTtlCache::iter`]: crate::SlidingTtlCache::iter

use std::time::Duration;

use crate::clock::Ticks;

/// A live entry's age, deadlines and weight, measured at one instant by
/// [`SlidingTtlCache::entry_info`](crate::SlidingTtlCache::entry_info).
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::MockClock;
/// use ttlkit::{CacheBuilder, MutexCache, SlidingTtlCache};
///
/// let clock = MockClock::new();
/// let cache: MutexCache<&str, u32> = CacheBuilder::new()
///     .time_to_idle(Duration::from_secs(60))
///     .time_to_live(Duration::from_secs(600))
///     .clock(clock.clone())
///     .build()?;
/// cache.insert("a", 1);
/// clock.advance(Duration::from_secs(20));
/// let info = cache.entry_info("a").unwrap();
/// assert_eq!(info.expires_in(), Some(Duration::from_secs(40))); // idle first
/// assert_eq!(info.live_left, Some(Duration::from_secs(580)));
/// // Looking refreshed nothing: idle for 60 s since the insert, it is gone.
/// clock.advance(Duration::from_secs(40));
/// assert_eq!(cache.iter().count(), 0);
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// Since the entry was inserted or last overwritten.
    pub since_write: Duration,
    /// Since its last `get` or write, as stored: a hit within the refresh
    /// granularity does not move the stamp.
    pub since_access: Duration,
    /// Until its idle deadline; `None` without a time-to-idle.
    pub idle_left: Option<Duration>,
    /// Until its time-to-live runs out; `None` without one.
    pub live_left: Option<Duration>,
    /// Until its own deadline (from `insert_with_ttl` or the cache's
    /// [`Expiry`](crate::Expiry)); `None` without one.
    pub own_left: Option<Duration>,
    /// Its weight (1 without a weigher).
    pub weight: u32,
}

impl EntryInfo {
    /// Until it expires (the earlier deadline); `None` if it never does.
    pub fn expires_in(&self) -> Option<Duration> {
        [self.idle_left, self.live_left, self.own_left].into_iter().flatten().min()
    }

    pub(crate) fn at(
        now: Ticks,
        stamps: Stamps,
        time_to_idle: Option<Duration>,
        time_to_live: Option<Duration>,
    ) -> Self {
        // A core judges the entry live at the latest time it has seen,
        // which can be later than `now`: another thread read the clock after
        // this call did and stamped the entry first. Measured at `now`, that
        // entry would show an idle time left beyond the timeout and no time
        // since its access; measured at its last access (no later than the
        // core's time, and the entry was live then too), every figure is
        // one instant's.
        let now = now.max(stamps.last_access);
        let left = |from: Ticks, d: Duration| from.saturating_add(d).saturating_duration_since(now);
        EntryInfo {
            since_write: now.saturating_duration_since(stamps.last_write),
            since_access: now.saturating_duration_since(stamps.last_access),
            idle_left: time_to_idle.map(|d| left(stamps.last_access, d)),
            live_left: time_to_live.map(|d| left(stamps.last_write, d)),
            own_left: (stamps.own != Ticks::MAX).then(|| stamps.own.saturating_duration_since(now)),
            weight: stamps.weight,
        }
    }
}

/// What a [`Core`](crate::core::Core) knows of one entry: its two stamps,
/// its own deadline and its weight.
///
/// ```
/// use ttlkit::clock::Ticks;
/// use ttlkit::core::Stamps;
///
/// // What a core's `inspect` reports: last access, last write, weight.
/// let stamps = Stamps::new(Ticks::from_nanos(2_000), Ticks::from_nanos(1_000), 1);
/// assert_eq!(stamps, Stamps::new(Ticks::from_nanos(2_000), Ticks::from_nanos(1_000), 1));
/// // An entry with a deadline of its own says so.
/// let own = stamps.with_own(Ticks::from_nanos(9_000));
/// assert_ne!(own, stamps);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamps {
    last_access: Ticks,
    last_write: Ticks,
    own: Ticks,
    weight: u32,
}

impl Stamps {
    /// An entry last read or written at `last_access`, inserted or last
    /// overwritten at `last_write`, weighing `weight`, with no deadline of
    /// its own.
    pub fn new(last_access: Ticks, last_write: Ticks, weight: u32) -> Self {
        Stamps { last_access, last_write, own: Ticks::MAX, weight }
    }

    /// When the entry was inserted or last overwritten.
    pub(crate) fn last_write(&self) -> Ticks {
        self.last_write
    }

    /// The same, with its own deadline `own` ([`Ticks::MAX`] for none).
    pub fn with_own(self, own: Ticks) -> Self {
        Stamps { own, ..self }
    }
}

/// The live entries of a cache as [`SlidingTtlCache::iter`](crate::SlidingTtlCache::iter)
/// found them: clones, taken a lock at a time (so weakly consistent under
/// concurrent writes), none expired when it was taken.
///
/// ```
/// use ttlkit::prelude::*;
///
/// let cache: MutexCache<u32, &str> = CacheBuilder::new().build()?;
/// cache.insert(1, "one");
/// cache.insert(2, "two");
/// let mut entries: Vec<(u32, &str)> = cache.iter().collect();
/// entries.sort();
/// assert_eq!(entries, [(1, "one"), (2, "two")]);
/// assert_eq!(cache.iter().len(), 2);
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug)]
pub struct Iter<K, V>(std::vec::IntoIter<(K, V)>);

impl<K, V> Iter<K, V> {
    pub(crate) fn new(entries: Vec<(K, V)>) -> Self {
        Iter(entries.into_iter())
    }
}

impl<K, V> Iterator for Iter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Iter<K, V> {}
