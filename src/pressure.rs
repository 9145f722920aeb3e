//! [`MemoryGuard`]: shrinks the caches it watches while the process's
//! memory is over a soft limit, and grows them back once it is not.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::builder::BuildError;
use crate::cache::SlidingTtlCache;
use crate::core::Core;
use crate::frontend::{Cache, Frontend};
use crate::sweeper::{Sweep, Sweeper};
use crate::sync::{Arc, Weak};

/// How a check reads the memory in use, in bytes (`None`: no reading).
type Reading = Box<dyn Fn() -> Option<u64> + Send + Sync>;
/// What the guard tells of each change.
type Hook = Box<dyn Fn(&PressureChange) + Send + Sync>;
/// Sets a watched cache's bound; `None` once the cache is gone.
pub(crate) type Resize = Box<dyn Fn(u64) -> Option<Result<(), BuildError>> + Send + Sync>;

/// One change the guard made to a watched cache's bound, as its
/// [`on_change`](MemoryGuardBuilder::on_change) hook receives it.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ttlkit::prelude::*;
/// use ttlkit::{MemoryGuard, PressureChange};
///
/// let changes: Arc<Mutex<Vec<PressureChange>>> = Arc::default();
/// let log = Arc::clone(&changes);
/// let guard = MemoryGuard::builder(1_000)
///     .reading(|| Some(2_000)) // always over the limit
///     .on_change(move |change| log.lock().unwrap().push(change.clone()))
///     .build();
/// let cache: MutexCache<u64, u64> = CacheBuilder::new().max_capacity(100).build()?;
/// guard.watch("responses", &cache)?;
/// guard.check();
///
/// let changes = changes.lock().unwrap();
/// let change = &changes[0];
/// assert_eq!((change.name.as_str(), change.from, change.to), ("responses", 100, 75));
/// assert_eq!((change.reading, change.limit), (2_000, 1_000));
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PressureChange {
    /// The name the cache was watched under.
    pub name: String,
    /// Its bound before the change.
    pub from: u64,
    /// Its bound after it.
    pub to: u64,
    /// The memory reading (bytes) that called for it.
    pub reading: u64,
    /// The soft limit (bytes).
    pub limit: u64,
}

/// Builds a [`MemoryGuard`]: from [`MemoryGuard::builder`], with the soft
/// limit in bytes.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::MemoryGuard;
///
/// // Checked by hand: a reading of 0 bytes is under the 64 MiB limit.
/// let guard = MemoryGuard::builder(64 << 20).reading(|| Some(0)).build();
/// assert_eq!(guard.check(), 0, "nothing watched, nothing changed");
///
/// // Checked every 5 s on the maintenance thread, each change logged.
/// let periodic = MemoryGuard::builder(512 << 20)
///     .on_change(|change| eprintln!("{}: {} -> {}", change.name, change.from, change.to))
///     .start(Duration::from_secs(5))?;
/// drop(periodic); // stops its checks
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub struct MemoryGuardBuilder {
    limit: u64,
    reading: Reading,
    hook: Option<Hook>,
}

impl fmt::Debug for MemoryGuardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryGuardBuilder").field("limit", &self.limit).finish_non_exhaustive()
    }
}

impl MemoryGuardBuilder {
    /// Reads the memory with `reading` (bytes) instead of the process's
    /// resident set: a byte budget summed from the caches' weighers, say, or
    /// a test's injected value.
    pub fn reading(mut self, reading: impl Fn() -> Option<u64> + Send + Sync + 'static) -> Self {
        self.reading = Box::new(reading);
        self
    }

    /// Calls `hook` after each change, outside every lock (to log it).
    pub fn on_change(mut self, hook: impl Fn(&PressureChange) + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The guard, checked only when [`MemoryGuard::check`] is called.
    pub fn build(self) -> MemoryGuard {
        let shared =
            Arc::new(Shared { limit: self.limit, reading: self.reading, hook: self.hook, watched: Mutex::default() });
        MemoryGuard { shared, _checks: None }
    }

    /// The guard, also checked every `every` on the process's maintenance
    /// thread until it is dropped.
    pub fn start(self, every: Duration) -> Result<MemoryGuard, BuildError> {
        let mut guard = self.build();
        let checks = Sweeper::start(Arc::downgrade(&guard.shared), every).map_err(BuildError::SpawnSweeper)?;
        guard._checks = Some(Arc::new(checks));
        Ok(guard)
    }
}

/// Shrinks the caches it watches while memory is over a soft limit and
/// restores them after.
///
/// Each check takes one step for every watched cache: over the limit, its
/// bound goes down by a quarter (never below a sixteenth of its full
/// bound), its policy evicting the coldest entries (`Capacity`); under
/// nine tenths of the limit, it goes back up by a third (never above its
/// full bound); in between nothing changes, so a reading that hovers at the
/// limit does not make caches flap.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use ttlkit::prelude::*;
/// use ttlkit::MemoryGuard;
///
/// let used = Arc::new(AtomicU64::new(0));
/// let reading = Arc::clone(&used);
/// let guard = MemoryGuard::builder(1 << 30).reading(move || Some(reading.load(Ordering::Relaxed))).build();
/// let cache: MutexCache<u64, u64> = CacheBuilder::new().max_capacity(1_000).build()?;
/// (0..1_000).for_each(|k| cache.insert(k, k));
/// guard.watch("responses", &cache)?;
///
/// used.store(2 << 30, Ordering::Relaxed); // over the 1 GiB limit
/// guard.check();
/// assert!(cache.len() <= 750, "a quarter off");
/// used.store(0, Ordering::Relaxed); // the pressure is gone
/// while guard.check() > 0 {}
/// cache.insert(5_000, 1); // room for all 1,000 again
/// # Ok::<(), BuildError>(())
/// ```
pub struct MemoryGuard {
    shared: Arc<Shared>,
    /// The periodic checks, if started; dropping the guard stops them.
    _checks: Option<Arc<Sweeper>>,
}

impl fmt::Debug for MemoryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryGuard")
            .field("limit", &self.shared.limit)
            .field("watched", &lock(&self.shared.watched).len())
            .field("periodic", &self._checks.is_some())
            .finish()
    }
}

impl MemoryGuard {
    /// A guard with a soft limit of `limit_bytes`, reading the process's
    /// resident memory (Linux: `VmRSS` in `/proc/self/status`; elsewhere
    /// there is no reading, so give one with
    /// [`reading`](MemoryGuardBuilder::reading)).
    pub fn builder(limit_bytes: u64) -> MemoryGuardBuilder {
        MemoryGuardBuilder { limit: limit_bytes, reading: Box::new(resident_bytes), hook: None }
    }

    /// Watches `cache`, whose bound now is its full bound. The guard holds
    /// it weakly: a dropped cache is forgotten. Refused, as
    /// [`SlidingTtlCache::set_max_capacity`] refuses, for a cache whose
    /// bound cannot change (built without one; moka's).
    pub fn watch<K, V, C>(&self, name: impl Into<String>, cache: &Cache<K, V, C>) -> Result<(), BuildError>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        C: Core<K, V>,
    {
        let full = cache.max_capacity().ok_or(BuildError::MissingSetting {
            what: "MemoryGuard::watch",
            needs: "a cache built with a max_capacity",
        })?;
        // A resize to the same bound changes nothing but says whether it can.
        cache.set_max_capacity(full)?;
        let weak: Weak<Frontend<K, V, C>> = cache.downgrade();
        let resize: Resize =
            Box::new(move |n| weak.upgrade().map(|shared| Cache::from_shared(shared).set_max_capacity(n)));
        self.add(name.into(), full, resize);
        Ok(())
    }

    /// Watches a client store: under pressure its `max_clients` goes down
    /// in the same steps as a cache's bound, and back up after. The clients
    /// it evicts leave as [`Capacity`](crate::RemovalCause::Capacity)
    /// (`on_leave`), and each is released once its last lease is gone, so a
    /// request in flight keeps its client. Held weakly, like a cache.
    /// Refused for a store whose backend cannot change its bound (moka).
    ///
    /// ```
    /// use ttlkit::client_store::ClientStore;
    /// use ttlkit::{BackendKind, MemoryGuard};
    ///
    /// let store: ClientStore<String> = ClientStore::builder().max_clients(100).build_backend(BackendKind::Mutex)?;
    /// let guard = MemoryGuard::builder(512 << 20).build();
    /// guard.watch_store("clients", &store)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "client-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "client-store")))]
    pub fn watch_store<C, B>(
        &self,
        name: impl Into<String>,
        store: &crate::client_store::ClientStore<C, B>,
    ) -> Result<(), BuildError>
    where
        C: Send + Sync + 'static,
        B: SlidingTtlCache<crate::client_store::Fingerprint, crate::client_store::StoredClient<C>> + 'static,
    {
        let (full, resize) = store.resizer()?;
        self.add(name.into(), full, resize);
        Ok(())
    }

    fn add(&self, name: String, full: u64, resize: Resize) {
        lock(&self.shared.watched).push(Watched { name, full, now: full, resize });
    }

    /// Reads the memory and takes one step for every watched cache; returns
    /// how many bounds it changed.
    pub fn check(&self) -> usize {
        self.shared.check()
    }
}

struct Watched {
    name: String,
    full: u64,
    now: u64,
    resize: Resize,
}

struct Shared {
    limit: u64,
    reading: Reading,
    hook: Option<Hook>,
    watched: Mutex<Vec<Watched>>,
}

impl Shared {
    fn check(&self) -> usize {
        let Some(reading) = (self.reading)() else { return 0 };
        let limit = self.limit;
        let over = reading > limit;
        let relaxed = u128::from(reading) * 10 < u128::from(limit) * 9;
        if !over && !relaxed {
            return 0;
        }
        let mut changes = Vec::new();
        lock(&self.watched).retain_mut(|w| {
            let to =
                if over { (w.now - w.now / 4).max(w.full / 16).max(1) } else { (w.now + w.now / 3 + 1).min(w.full) };
            if to == w.now {
                return true;
            }
            match (w.resize)(to) {
                None => false,
                Some(Ok(())) => {
                    changes.push(PressureChange { name: w.name.clone(), from: w.now, to, reading, limit });
                    w.now = to;
                    true
                }
                // Refused now (it was accepted when watched): keep it as it is.
                Some(Err(_)) => true,
            }
        });
        if let Some(hook) = &self.hook {
            changes.iter().for_each(hook);
        }
        changes.len()
    }
}

impl Sweep for Shared {
    fn sweep_batch(&self) -> bool {
        self.check();
        false
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking hook runs outside the lock; a resize's panic leaves the
    // list whole (an entry's `now` is updated only after it returns).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's resident memory in bytes, where the platform tells it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
#[path = "pressure_tests.rs"]
mod tests;
