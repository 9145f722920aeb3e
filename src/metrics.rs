//! Publishing caches' counters through the [`metrics`] facade (feature
//! `metrics`): whatever recorder the application installed (a Prometheus
//! exporter, StatsD, ...) receives them.
//!
//! Nothing is added to a cache's hit path. A [`CacheMetrics`] reads each
//! watched cache's [`CacheStats`] snapshot when it publishes (every
//! interval on the process's maintenance thread, or on
//! [`publish`](CacheMetrics::publish)) and sets the series to it; only the
//! load latency histogram is fed per load, on the load's (miss) path. A
//! named `ClientStore` (feature `client-store`) publishes its
//! own series the same way (`ClientStoreBuilder::metrics`).
//!
//! Every series carries a `cache` label (the name it was watched under),
//! never a key. The series:
//!
//! | series | kind | labels |
//! |---|---|---|
//! | `ttlkit_cache_hits_total`, `ttlkit_cache_misses_total`, `ttlkit_cache_inserts_total` | counter | `cache` |
//! | `ttlkit_cache_loads_total` | counter | `cache`, `result` (`started`, `succeeded`, `failed`, `coalesced`) |
//! | `ttlkit_cache_removals_total` | counter | `cache`, `cause` (`expired`, `capacity`, `explicit`, `replaced`, `cleared`) |
//! | `ttlkit_cache_listener_panics_total` | counter | `cache` |
//! | `ttlkit_cache_entries`, `ttlkit_cache_weight` | gauge | `cache` |
//! | `ttlkit_cache_load_seconds` | histogram | `cache` |
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::metrics::CacheMetrics;
//! use ttlkit::prelude::*;
//!
//! let cache: MutexCache<u32, String> = CacheBuilder::new().max_capacity(1_000).build()?;
//! let metrics = CacheMetrics::start(Duration::from_secs(5))?; // publishes every 5 s
//! metrics.watch("user_names", &cache);
//! cache.get_or_insert_with(1, || "Ada".to_string());
//! assert_eq!(metrics.publish(), 1, "one cache published now");
//! drop(cache);
//! assert_eq!(metrics.publish(), 0, "a dropped cache is forgotten");
//! # Ok::<(), BuildError>(())
//! ```

use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ::metrics::{counter, gauge, histogram, Label};

use crate::any::AnyCache;
use crate::builder::BuildError;
use crate::cache::{CacheStats, RemovalCause, SlidingTtlCache};
use crate::core::Core;
use crate::frontend::Cache;
use crate::sweeper::{Sweep, Sweeper};
use crate::sync::Arc;

/// What a cache holds, as one publication reads it.
pub(crate) struct Snapshot {
    pub(crate) stats: CacheStats,
    pub(crate) entries: usize,
    pub(crate) weight: u64,
}

impl Snapshot {
    /// Reads `cache` now.
    pub(crate) fn of<K, V, C: SlidingTtlCache<K, V>>(cache: &C) -> Snapshot
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        Snapshot { stats: cache.stats(), entries: cache.len(), weight: cache.weighted_size() }
    }
}

/// Sets the cache series labelled `cache = name` to `snapshot`.
pub(crate) fn publish_cache(name: &Arc<str>, snapshot: &Snapshot) {
    let labels = || vec![Label::new("cache", Arc::clone(name))];
    let with = |key: &'static str, value: &'static str| {
        let mut l = labels();
        l.push(Label::new(key, value));
        l
    };
    let s = &snapshot.stats;
    counter!("ttlkit_cache_hits_total", labels()).absolute(s.hits);
    counter!("ttlkit_cache_misses_total", labels()).absolute(s.misses);
    counter!("ttlkit_cache_inserts_total", labels()).absolute(s.inserts);
    for (result, n) in [
        ("started", s.loads_started),
        ("succeeded", s.loads_succeeded),
        ("failed", s.loads_failed),
        ("coalesced", s.loads_coalesced),
    ] {
        counter!("ttlkit_cache_loads_total", with("result", result)).absolute(n);
    }
    for cause in RemovalCause::ALL {
        counter!("ttlkit_cache_removals_total", with("cause", cause_label(cause))).absolute(s.removals(cause));
    }
    counter!("ttlkit_cache_listener_panics_total", labels()).absolute(s.listener_panics);
    gauge!("ttlkit_cache_entries", labels()).set(snapshot.entries as f64);
    gauge!("ttlkit_cache_weight", labels()).set(snapshot.weight as f64);
}

/// Records one load of the cache named `name` that took `took`.
pub(crate) fn record_load(name: &Arc<str>, took: Duration) {
    histogram!("ttlkit_cache_load_seconds", "cache" => Arc::clone(name)).record(took.as_secs_f64());
}

fn cause_label(cause: RemovalCause) -> &'static str {
    match cause {
        RemovalCause::Expired => "expired",
        RemovalCause::Capacity => "capacity",
        RemovalCause::Explicit => "explicit",
        RemovalCause::Replaced => "replaced",
        RemovalCause::Cleared => "cleared",
    }
}

/// Reads a watched cache; `None` once it is gone.
type Read = Box<dyn Fn() -> Option<Snapshot> + Send + Sync>;

struct Watched {
    name: Arc<str>,
    read: Read,
}

#[derive(Default)]
struct Shared {
    watched: Mutex<Vec<Watched>>,
}

impl Shared {
    fn publish(&self) -> usize {
        let mut published = 0;
        lock(&self.watched).retain(|w| match (w.read)() {
            Some(snapshot) => {
                publish_cache(&w.name, &snapshot);
                published += 1;
                true
            }
            None => false,
        });
        published
    }
}

impl Sweep for Shared {
    fn sweep_batch(&self) -> bool {
        self.publish();
        false
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking read leaves the list as it was.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Publishes the counters of the caches it watches through the `metrics`
/// facade (see the [module docs](self) for the series). It holds caches
/// weakly: a dropped cache is forgotten.
///
/// Without a recorder installed the series go nowhere; an application
/// installs one (a Prometheus exporter, say) at start-up.
///
/// ```
/// use ttlkit::metrics::CacheMetrics;
/// use ttlkit::prelude::*;
///
/// let metrics = CacheMetrics::new(); // publishes only when asked
/// let users: MutexCache<u32, String> = CacheBuilder::new().max_capacity(1_000).build()?;
/// let any: AnyCache<u32, String> = AnyCache::from_name("mutex", CacheBuilder::new())?;
/// metrics.watch("users", &users);
/// metrics.watch_any("sessions", &any);
/// assert_eq!(metrics.publish(), 2, "from a scrape handler, say");
/// # Ok::<(), BuildError>(())
/// ```
pub struct CacheMetrics {
    shared: Arc<Shared>,
    /// The periodic publications, if started; dropping the publisher stops them.
    _task: Option<Arc<Sweeper>>,
}

impl fmt::Debug for CacheMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheMetrics")
            .field("watched", &lock(&self.shared.watched).len())
            .field("periodic", &self._task.is_some())
            .finish()
    }
}

impl Default for CacheMetrics {
    fn default() -> Self {
        CacheMetrics::new()
    }
}

impl CacheMetrics {
    /// A publisher that publishes only when [`publish`](Self::publish) is
    /// called (from a scrape handler, say).
    pub fn new() -> CacheMetrics {
        CacheMetrics { shared: Arc::default(), _task: None }
    }

    /// A publisher that also publishes every `every` on the process's
    /// maintenance thread, until it is dropped.
    pub fn start(every: Duration) -> Result<CacheMetrics, BuildError> {
        let shared: Arc<Shared> = Arc::default();
        let task = Sweeper::start(Arc::downgrade(&shared), every).map_err(BuildError::SpawnSweeper)?;
        Ok(CacheMetrics { shared, _task: Some(Arc::new(task)) })
    }

    /// Publishes `cache` under `cache = name` from now on, and names its
    /// load latency histogram so (the first name given to a cache sticks).
    pub fn watch<K, V, C>(&self, name: impl Into<String>, cache: &Cache<K, V, C>)
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        C: Core<K, V>,
    {
        let name: Arc<str> = Arc::from(name.into());
        cache.load_recorder().name_load_series(&name);
        let weak = cache.downgrade();
        let read: Read = Box::new(move || weak.upgrade().map(|shared| Snapshot::of(&Cache::from_shared(shared))));
        lock(&self.shared.watched).push(Watched { name, read });
    }

    /// [`watch`](Self::watch) for a backend picked at run time.
    pub fn watch_any<K, V>(&self, name: impl Into<String>, cache: &AnyCache<K, V>)
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        match cache {
            AnyCache::Mutex(c) => self.watch(name, c),
            #[cfg(feature = "sharded")]
            AnyCache::Sharded(c) => self.watch(name, c),
            #[cfg(feature = "moka")]
            AnyCache::Moka(c) => self.watch(name, c),
        }
    }

    /// Publishes every watched cache now; returns how many (the dropped
    /// ones are forgotten).
    pub fn publish(&self) -> usize {
        self.shared.publish()
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
