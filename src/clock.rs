//! Time as data: a [`Clock`] yields [`Ticks`], a `u64` count of nanoseconds
//! since the clock's origin, small enough to live in an `AtomicU64`.
//!
//! [`SystemClock`] (the default) is a millisecond-coarse clock read with one
//! atomic load; [`PreciseClock`] reads the OS monotonic clock on every call
//! or, with the `quanta` cargo feature, the CPU's time-stamp counter through
//! `quanta` where it is reliable (about 10 ns a read). [`MockClock`] only moves when told to, so tests of expiry
//! run in microseconds without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::ticker::{self, TickerUser};

/// A point in time: nanoseconds since a clock's origin.
///
/// `u64` nanoseconds cover about 584 years, far beyond the ~100 year limit
/// the builder accepts for any duration; arithmetic saturates.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::Ticks;
///
/// let t = Ticks::from_nanos(1_000);
/// let later = t.saturating_add(Duration::from_micros(2));
/// assert_eq!(later.as_nanos(), 3_000);
/// assert_eq!(later.saturating_duration_since(t), Duration::from_micros(2));
/// assert_eq!(t.saturating_duration_since(later), Duration::ZERO);
/// assert_eq!(Ticks::MAX.saturating_add(Duration::from_secs(1)), Ticks::MAX);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ticks(u64);

impl Ticks {
    /// The clock's origin.
    pub const ZERO: Ticks = Ticks(0);
    /// The end of time: later than any real reading.
    pub const MAX: Ticks = Ticks(u64::MAX);

    /// A tick count from nanoseconds since the origin.
    pub const fn from_nanos(nanos: u64) -> Ticks {
        Ticks(nanos)
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating at [`Ticks::MAX`].
    pub fn saturating_add(self, d: Duration) -> Ticks {
        Ticks(self.0.saturating_add(duration_to_nanos(d)))
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub fn saturating_duration_since(self, earlier: Ticks) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// Nanoseconds in `d`, saturating at `u64::MAX`.
pub(crate) fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A monotonic source of [`Ticks`]. Readings never go backwards.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use ttlkit::clock::{Clock, Ticks};
/// use ttlkit::prelude::*;
///
/// /// A clock driven by the application's own time source.
/// #[derive(Debug, Default)]
/// struct External(Arc<AtomicU64>);
///
/// impl Clock for External {
///     fn now(&self) -> Ticks {
///         Ticks::from_nanos(self.0.load(Ordering::Acquire))
///     }
/// }
///
/// let cache: MutexCache<u8, u8> = CacheBuilder::new().clock(External::default()).build()?;
/// cache.insert(1, 1);
/// assert_eq!(cache.get(&1), Some(1));
/// # Ok::<(), BuildError>(())
/// ```
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> Ticks;
}

/// The real monotonic clock, read cheaply: about one millisecond coarse.
///
/// A read is one relaxed atomic load of the time that the process's
/// maintenance thread publishes every millisecond (the thread runs while any
/// `SystemClock` or sweep needs it, and is joined when the last one goes;
/// while it runs a sweep, reads fall back to the hardware clock). So readings
/// lag real time by about a millisecond; every stamp and deadline of a cache
/// comes from the same clock, so expiry stays exact *in its time*. Use
/// [`PreciseClock`] for a full hardware-clock read each time.
///
/// ```
/// use ttlkit::clock::{Clock, SystemClock};
///
/// let clock = SystemClock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a, "monotonic");
/// ```
#[derive(Clone)]
pub struct SystemClock {
    user: Arc<TickerUser>,
}

impl SystemClock {
    /// The system clock (starting the ticker if it is not running).
    pub fn new() -> SystemClock {
        SystemClock { user: Arc::new(TickerUser::register()) }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl fmt::Debug for SystemClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemClock").field("now", &self.now()).field("coarse", &self.user.coarse).finish()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Ticks {
        if self.user.coarse {
            Ticks(ticker::recent())
        } else {
            Ticks(ticker::precise_now())
        }
    }
}

/// The hardware clock read on every call: the OS monotonic clock
/// (`std::time::Instant`), or with the `quanta` cargo feature the TSC
/// through `quanta` where it is reliable (about 10 ns a read).
///
/// ```
/// use ttlkit::clock::{Clock, PreciseClock};
/// use ttlkit::prelude::*;
///
/// let a = PreciseClock.now();
/// assert!(PreciseClock.now() >= a);
/// let cache: MutexCache<u8, u8> = CacheBuilder::new().clock(PreciseClock).build()?;
/// cache.insert(1, 1);
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Clone, Copy, Default)]
pub struct PreciseClock;

impl fmt::Debug for PreciseClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreciseClock").field("now", &self.now()).finish()
    }
}

impl Clock for PreciseClock {
    #[inline]
    fn now(&self) -> Ticks {
        Ticks(ticker::precise_now())
    }
}

/// A clock that moves only when told to. Clones share one time.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::{Clock, MockClock};
///
/// let clock = MockClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().saturating_duration_since(t0), Duration::from_secs(90));
/// ```
#[derive(Clone, Default)]
pub struct MockClock {
    nanos: Arc<AtomicU64>,
}

impl MockClock {
    /// A mock clock at its origin ([`Ticks::ZERO`]).
    pub fn new() -> MockClock {
        MockClock::default()
    }

    /// Moves time forward by `d` (saturating at [`Ticks::MAX`]).
    pub fn advance(&self, d: Duration) {
        let add = duration_to_nanos(d);
        let _ = self.nanos.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_add(add)));
    }
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockClock").field("now", &self.now()).finish()
    }
}

impl Clock for MockClock {
    #[inline]
    fn now(&self) -> Ticks {
        Ticks(self.nanos.load(Ordering::Acquire))
    }
}

/// The clock a cache reads: the two built-in clocks are matched directly so
/// the hit path inlines them; any other clock goes through a vtable.
#[derive(Clone, Debug)]
pub(crate) enum ClockSource {
    System(SystemClock),
    Mock(MockClock),
    Custom(Arc<dyn Clock>),
}

impl ClockSource {
    /// Wraps any clock, recognising the built-in ones.
    pub(crate) fn from_clock<C: Clock>(clock: C) -> ClockSource {
        let mut slot = Some(clock);
        let any: &mut dyn std::any::Any = &mut slot;
        if let Some(c) = any.downcast_mut::<Option<SystemClock>>().and_then(Option::take) {
            return ClockSource::System(c);
        }
        if let Some(c) = any.downcast_mut::<Option<MockClock>>().and_then(Option::take) {
            return ClockSource::Mock(c);
        }
        match slot {
            Some(c) => ClockSource::Custom(Arc::new(c)),
            None => ClockSource::System(SystemClock::new()),
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> Ticks {
        match self {
            ClockSource::System(c) => c.now(),
            ClockSource::Mock(c) => c.now(),
            ClockSource::Custom(c) => c.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> Ticks {
            Ticks::from_nanos(42)
        }
    }

    #[test]
    fn mock_clock_moves_only_when_told() {
        let c = MockClock::new();
        let shared = c.clone();
        assert_eq!(c.now(), Ticks::ZERO);
        shared.advance(Duration::from_millis(5));
        assert_eq!(c.now(), Ticks::from_nanos(5_000_000));
        c.advance(Duration::MAX);
        assert_eq!(c.now(), Ticks::MAX);
    }

    #[test]
    fn system_clocks_are_monotonic_and_close_to_precise() {
        let c = SystemClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let p = PreciseClock.now();
        assert!(p >= a, "the coarse clock never runs ahead of the precise one");
    }

    #[test]
    fn clock_source_recognises_builtins() {
        assert!(matches!(ClockSource::from_clock(MockClock::new()), ClockSource::Mock(_)));
        assert!(matches!(ClockSource::from_clock(SystemClock::new()), ClockSource::System(_)));
        let custom = ClockSource::from_clock(Fixed);
        assert!(matches!(custom, ClockSource::Custom(_)));
        assert_eq!(custom.now(), Ticks::from_nanos(42));
    }
}
