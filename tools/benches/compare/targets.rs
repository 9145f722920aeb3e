//! What a row measures: one of our backends (through `AnyCache`, with a
//! policy), another cache used directly (an anchor), or the original design.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ttlkit::clock::{Clock, Ticks};
use ttlkit::{AnyCache, BackendKind, CacheBuilder, PolicyKind, SlidingTtlCache};

use crate::anchors::{self, FoyerPolicy};
use crate::workloads::ttl_of;

/// The idle timeout of every cache in the throughput runs: long enough that
/// nothing expires while they run, so every hit pays for sliding expiry
/// (its stamp upkeep) without entries leaving for age.
pub const TTI: Duration = Duration::from_secs(3600);

/// The original design's ticker period in the throughput runs: the same as
/// our sweepers' default for a one-hour idle timeout.
pub const TICK: Duration = Duration::from_secs(1);

/// The operations a run drives.
pub trait Target: Send + Sync {
    /// Returns the value for `key`, computing and storing it on a miss
    /// (counted in `misses`).
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64;
    fn get(&self, key: u64) -> Option<u64>;
    fn insert(&self, key: u64, value: u64);
    fn len(&self) -> usize;
    /// Entries held after the keys `0..inserted` went in (for caches with
    /// no exact `len`, counted by looking them up).
    fn held(&self, inserted: u64) -> usize {
        let _ = inserted;
        self.len()
    }
    /// Runs pending maintenance so `len` and the heap are settled.
    fn settle(&self);
}

/// One row of the table: who is measured, under which policy.
#[derive(Debug, Clone, PartialEq)]
pub enum RowKind {
    /// One of our backends, under a policy it runs (moka runs only `lru`
    /// and `w-tinylfu`, as its own LRU and TinyLFU).
    Ours {
        backend: BackendKind,
        policy: PolicyKind,
    },
    MokaDirect,
    QuickDirect,
    TinyUfoDirect,
    MiniMokaDirect,
    FoyerDirect(FoyerPolicy),
    Original,
}

impl RowKind {
    pub fn backend(&self) -> String {
        match self {
            RowKind::Ours { backend, .. } => backend.name().to_owned(),
            RowKind::MokaDirect => "moka-direct".into(),
            RowKind::QuickDirect => "quick_cache-direct".into(),
            RowKind::TinyUfoDirect => "tinyufo-direct".into(),
            RowKind::MiniMokaDirect => "mini-moka-direct".into(),
            RowKind::FoyerDirect(_) => "foyer-direct".into(),
            RowKind::Original => "original".into(),
        }
    }

    pub fn policy(&self) -> String {
        match self {
            RowKind::Ours { backend: BackendKind::Moka, policy: PolicyKind::WTinyLfu } => "tinylfu (moka's own)".into(),
            RowKind::Ours { backend: BackendKind::Moka, policy: PolicyKind::Lru } => "lru (moka's own)".into(),
            RowKind::Ours { policy, .. } => policy.name().into(),
            RowKind::MokaDirect => "tinylfu (moka's own)".into(),
            RowKind::QuickDirect => "clock-pro (own)".into(),
            RowKind::TinyUfoDirect => "s3-fifo + tinylfu (own)".into(),
            RowKind::MiniMokaDirect => "tinylfu (mini-moka's own)".into(),
            RowKind::FoyerDirect(p) => p.name().into(),
            RowKind::Original => "none (unbounded)".into(),
        }
    }

    /// How the row handles time.
    pub fn expiry(&self) -> &'static str {
        match self {
            RowKind::Ours { .. } | RowKind::MokaDirect | RowKind::MiniMokaDirect => "sliding",
            RowKind::QuickDirect | RowKind::TinyUfoDirect | RowKind::FoyerDirect(_) => "NONE",
            RowKind::Original => "tick scan",
        }
    }

    /// Whether the row has per-entry deadlines (moka's `Expiry`, ours).
    pub fn per_entry_expiry(&self) -> bool {
        matches!(self, RowKind::Ours { .. } | RowKind::MokaDirect)
    }

    /// The foyer row that runs the same policy as this row, if foyer has it.
    pub fn foyer_twin(&self) -> Option<RowKind> {
        match self {
            RowKind::Ours { policy, .. } => FoyerPolicy::same_as(*policy).map(RowKind::FoyerDirect),
            RowKind::FoyerDirect(p) => Some(RowKind::FoyerDirect(*p)),
            _ => None,
        }
    }

    /// Another cache used directly: what our rows are measured against.
    pub fn is_anchor(&self) -> bool {
        !matches!(self, RowKind::Ours { .. } | RowKind::Original)
    }
}

/// Each entry's own time to live, [`ttl_of`] its key, for both ttlkit and
/// moka (each through its own per-entry expiry).
struct OwnTtl;

impl ttlkit::Expiry<u64, u64> for OwnTtl {
    fn expire_after_create(&self, key: &u64, _: &u64, _: Ticks) -> Option<Duration> {
        Some(ttl_of(*key))
    }
}

impl moka::Expiry<u64, u64> for OwnTtl {
    fn expire_after_create(&self, key: &u64, _: &u64, _: Instant) -> Option<Duration> {
        Some(ttl_of(*key))
    }
}

/// A built cache of any row kind.
pub enum Built {
    Ours(AnyCache<u64, u64>),
    Moka(moka::sync::Cache<u64, u64>),
    Quick(quick_cache::sync::Cache<u64, u64>),
    TinyUfo(anchors::TinyUfo),
    MiniMoka(mini_moka::sync::Cache<u64, u64>),
    Foyer(foyer_memory::Cache<u64, u64>),
    Original(Original<StdClock>),
}

/// Runs `$body` with `$t` bound to the concrete cache inside a [`Built`], so
/// the hot loop is monomorphized per kind.
macro_rules! with_target {
    ($built:expr, $t:ident => $body:expr) => {
        match $built {
            $crate::targets::Built::Ours($t) => $body,
            $crate::targets::Built::Moka($t) => $body,
            $crate::targets::Built::Quick($t) => $body,
            $crate::targets::Built::TinyUfo($t) => $body,
            $crate::targets::Built::MiniMoka($t) => $body,
            $crate::targets::Built::Foyer($t) => $body,
            $crate::targets::Built::Original($t) => $body,
        }
    };
}
pub(crate) use with_target;

impl Built {
    /// A cache for `kind` bounded to `capacity` entries (the original
    /// design is unbounded), with idle timeout [`TTI`].
    pub fn new(kind: &RowKind, capacity: u64) -> Result<Built, String> {
        Built::with_expiry(kind, capacity, false)
    }

    /// [`new`](Self::new), and with `per_entry` every entry also lives its
    /// own [`ttl_of`] (a row that has no per-entry expiry refuses).
    pub fn with_expiry(kind: &RowKind, capacity: u64, per_entry: bool) -> Result<Built, String> {
        if per_entry && !kind.per_entry_expiry() {
            return Err("no per-entry expiry to express it with".into());
        }
        let entries = usize::try_from(capacity).map_err(|_| format!("capacity {capacity} too large"))?;
        Ok(match kind {
            RowKind::Ours { backend, policy } => {
                let mut b =
                    CacheBuilder::<u64, u64>::new().time_to_idle(TTI).max_capacity(capacity).policy_kind(*policy);
                if per_entry {
                    b = b.expire_after(OwnTtl);
                }
                Built::Ours(AnyCache::new(*backend, b).map_err(|e| format!("{backend}: {e}"))?)
            }
            RowKind::MokaDirect if per_entry => Built::Moka(
                moka::sync::Cache::builder().max_capacity(capacity).time_to_idle(TTI).expire_after(OwnTtl).build(),
            ),
            RowKind::MokaDirect => {
                Built::Moka(moka::sync::Cache::builder().max_capacity(capacity).time_to_idle(TTI).build())
            }
            RowKind::QuickDirect => Built::Quick(quick_cache::sync::Cache::new(entries)),
            RowKind::TinyUfoDirect => Built::TinyUfo(anchors::tinyufo(entries)),
            RowKind::MiniMokaDirect => Built::MiniMoka(anchors::mini_moka(capacity, TTI)),
            RowKind::FoyerDirect(policy) => Built::Foyer(anchors::foyer(*policy, entries)),
            RowKind::Original => Built::Original(Original::new(StdClock::default(), TTI, Some(TICK))),
        })
    }
}

impl Target for AnyCache<u64, u64> {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        self.get_or_insert_with(key, || {
            *misses += 1;
            key
        })
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        SlidingTtlCache::get(self, &key)
    }
    fn insert(&self, key: u64, value: u64) {
        SlidingTtlCache::insert(self, key, value);
    }
    fn len(&self) -> usize {
        SlidingTtlCache::len(self)
    }
    fn settle(&self) {
        self.purge_expired();
    }
}

impl Target for moka::sync::Cache<u64, u64> {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        self.get_with(key, || {
            *misses += 1;
            key
        })
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        moka::sync::Cache::get(self, &key)
    }
    fn insert(&self, key: u64, value: u64) {
        moka::sync::Cache::insert(self, key, value);
    }
    fn len(&self) -> usize {
        usize::try_from(self.entry_count()).unwrap_or(usize::MAX)
    }
    fn settle(&self) {
        self.run_pending_tasks();
    }
}

impl Target for quick_cache::sync::Cache<u64, u64> {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        let v = self.get_or_insert_with(&key, || {
            *misses += 1;
            Ok::<u64, Infallible>(key)
        });
        match v {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        quick_cache::sync::Cache::get(self, &key)
    }
    fn insert(&self, key: u64, value: u64) {
        quick_cache::sync::Cache::insert(self, key, value);
    }
    fn len(&self) -> usize {
        quick_cache::sync::Cache::len(self)
    }
    fn settle(&self) {}
}

/// `std::time::Instant`, as the original design read it on every access.
#[derive(Debug, Clone, Copy)]
pub struct StdClock(Instant);

impl Default for StdClock {
    fn default() -> Self {
        StdClock(Instant::now())
    }
}

impl Clock for StdClock {
    fn now(&self) -> Ticks {
        Ticks::from_nanos(u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

/// The original design: a `Mutex<HashMap>` whose reads refresh a
/// timestamp, and a ticker thread that scans the whole map under the lock.
/// Unbounded; not single-flight (a miss computes outside the lock, then
/// inserts).
pub struct Original<C: Clock> {
    inner: Arc<OriginalInner<C>>,
    ticker: Option<Ticker>,
}

pub struct OriginalInner<C> {
    map: Mutex<HashMap<u64, (u64, u64)>>,
    clock: C,
    tti: u64,
}

impl<C: Clock> OriginalInner<C> {
    fn map(&self) -> MutexGuard<'_, HashMap<u64, (u64, u64)>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The ticker's work: one pass over every entry, under the lock.
    /// Returns (entries removed, how long the lock was held).
    fn scan(&self) -> (usize, Duration) {
        let mut map = self.map();
        let held = Instant::now();
        let now = self.clock.now().as_nanos();
        let before = map.len();
        map.retain(|_, (_, last)| now.saturating_sub(*last) < self.tti);
        (before - map.len(), held.elapsed())
    }
}

impl<C: Clock> Original<C> {
    pub fn new(clock: C, tti: Duration, tick: Option<Duration>) -> Self {
        let tti = u64::try_from(tti.as_nanos()).unwrap_or(u64::MAX);
        let inner = Arc::new(OriginalInner { map: Mutex::new(HashMap::new()), clock, tti });
        let ticker = tick.map(|every| Ticker::start(Arc::downgrade(&inner), every));
        Original { inner, ticker }
    }

    /// Runs the ticker's scan now: (entries removed, lock hold).
    pub fn scan(&self) -> (usize, Duration) {
        self.inner.scan()
    }
}

impl<C: Clock> Target for Original<C> {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        if let Some(v) = self.get(key) {
            return v;
        }
        *misses += 1;
        self.insert(key, key);
        key
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        let mut map = self.inner.map();
        let now = self.inner.clock.now().as_nanos();
        match map.get_mut(&key) {
            Some((v, last)) if now.saturating_sub(*last) < self.inner.tti => {
                *last = now;
                Some(*v)
            }
            _ => None,
        }
    }
    fn insert(&self, key: u64, value: u64) {
        let mut map = self.inner.map();
        let now = self.inner.clock.now().as_nanos();
        map.insert(key, (value, now));
    }
    fn len(&self) -> usize {
        self.inner.map().len()
    }
    fn settle(&self) {}
}

/// The original design's ticker thread; dropping it stops and joins it.
struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start<C: Clock>(target: Weak<OriginalInner<C>>, every: Duration) -> Ticker {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || loop {
            let (lock, cv) = &*flag;
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let (guard, _) = cv.wait_timeout(guard, every).unwrap_or_else(|p| p.into_inner());
            if *guard {
                return;
            }
            drop(guard);
            let Some(inner) = target.upgrade() else { return };
            inner.scan();
        });
        Ticker { stop, thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<C: Clock> fmt::Debug for Original<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Original").field("ticker", &self.ticker.is_some()).finish_non_exhaustive()
    }
}
