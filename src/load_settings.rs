//! The builder's settings for loads: refresh-ahead, serving stale values,
//! the load timeout, the reloader, and where background reloads run.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::builder::{check_duration, BuildError, CacheBuilder, MAX_DURATION};
use crate::flight::SharedError;
#[cfg(doc)]
use crate::maintenance::reloads::RELOAD_THREADS;

/// A background task of a cache: an async reload to run to completion.
///
/// A [`spawner`](CacheBuilder::spawner) receives each one. This one queues
/// them, and the test runs them when it likes:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use futures_executor::block_on;
/// use ttlkit::clock::MockClock;
/// use ttlkit::prelude::*;
/// use ttlkit::BackgroundTask;
///
/// let queue: Arc<Mutex<Vec<BackgroundTask>>> = Arc::default();
/// let queued = Arc::clone(&queue);
/// let clock = MockClock::new();
/// let cache: MutexCache<&str, u32> = CacheBuilder::new()
///     .time_to_live(Duration::from_secs(60))
///     .refresh_after(Duration::from_secs(45))
///     .spawner(move |task: BackgroundTask| queued.lock().unwrap().push(task))
///     .clock(clock.clone())
///     .build()?;
/// assert_eq!(block_on(cache.get_or_insert_async("rate", async { 1 })), 1);
/// clock.advance(Duration::from_secs(50)); // due for a refresh, still live
/// assert_eq!(block_on(cache.get_or_insert_async("rate", async { 2 })), 1, "served at once");
///
/// let tasks = std::mem::take(&mut *queue.lock().unwrap());
/// assert_eq!(tasks.len(), 1, "one reload, handed to the spawner");
/// tasks.into_iter().for_each(block_on);
/// assert_eq!(cache.get("rate"), Some(2));
/// # Ok::<(), BuildError>(())
/// ```
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a cache's background tasks (see [`CacheBuilder::spawner`]).
pub(crate) type Spawner = Arc<dyn Fn(BackgroundTask) + Send + Sync + 'static>;

/// Reloads a key in the background (see [`CacheBuilder::reloader`]), its
/// error erased as a load's is.
pub(crate) type Reloader<K, V> = Arc<dyn Fn(&K) -> Result<V, SharedError> + Send + Sync + 'static>;

/// The load settings, as set on the builder and as a cache keeps them.
pub(crate) struct LoadSettings<K, V> {
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) serve_stale_for: Option<Duration>,
    pub(crate) load_timeout: Option<Duration>,
    pub(crate) spawner: Option<Spawner>,
    pub(crate) reloader: Option<Reloader<K, V>>,
}

impl<K, V> Default for LoadSettings<K, V> {
    fn default() -> Self {
        LoadSettings { refresh_after: None, serve_stale_for: None, load_timeout: None, spawner: None, reloader: None }
    }
}

impl<K, V> Clone for LoadSettings<K, V> {
    fn clone(&self) -> Self {
        LoadSettings {
            refresh_after: self.refresh_after,
            serve_stale_for: self.serve_stale_for,
            load_timeout: self.load_timeout,
            spawner: self.spawner.clone(),
            reloader: self.reloader.clone(),
        }
    }
}

impl<K, V> fmt::Debug for LoadSettings<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadSettings")
            .field("refresh_after", &self.refresh_after)
            .field("serve_stale_for", &self.serve_stale_for)
            .field("load_timeout", &self.load_timeout)
            .field("spawner", &self.spawner.is_some())
            .field("reloader", &self.reloader.is_some())
            .finish()
    }
}

impl<K, V> LoadSettings<K, V> {
    /// Checks the durations and that each setting has what it needs;
    /// `sweeps` says whether the cache runs a sweeper.
    pub(crate) fn validate(self, sweeps: bool) -> Result<Self, BuildError> {
        let check = |what, d: Option<Duration>| d.map(|d| check_duration(what, d, MAX_DURATION)).transpose();
        let settings = LoadSettings {
            refresh_after: check("refresh_after", self.refresh_after)?,
            serve_stale_for: check("serve_stale_for", self.serve_stale_for)?,
            load_timeout: check("load_timeout", self.load_timeout)?,
            spawner: self.spawner,
            reloader: self.reloader,
        };
        if settings.serve_stale_for.is_some() && !sweeps {
            return Err(BuildError::MissingSetting {
                what: "serve_stale_for",
                needs: "the sweeper (on unless no_sweeper() is set): it bounds how late an expiry is noticed",
            });
        }
        if settings.reloader.is_some() && settings.refresh_after.is_none() && settings.serve_stale_for.is_none() {
            return Err(BuildError::MissingSetting {
                what: "reloader",
                needs: "refresh_after or serve_stale_for (it runs only the reloads they start)",
            });
        }
        Ok(settings)
    }

    /// The first setting that is set, for a backend that has none of them.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn first_set(&self) -> Option<&'static str> {
        [
            ("refresh_after", self.refresh_after.is_some()),
            ("serve_stale_for", self.serve_stale_for.is_some()),
            ("load_timeout", self.load_timeout.is_some()),
            ("spawner", self.spawner.is_some()),
            ("reloader", self.reloader.is_some()),
        ]
        .into_iter()
        .find_map(|(name, set)| set.then_some(name))
    }
}

/// # Loads: refresh-ahead, stale values, timeouts
///
/// These apply to the load-through calls (`get_or_insert_with`,
/// `get_or_insert_async`, their `try_` forms and the
/// [`entry`](crate::SlidingTtlCache::entry) API), never to a plain `get`,
/// which never returns an expired value. The in-process backends take
/// them; the Redis backend refuses them.
///
/// **Where a reload runs.** A reload that callers do not wait for
/// (refresh-ahead, or revalidating a stale value) runs:
///
/// * with a [`reloader`](Self::reloader), on the process's reload pool (at
///   most [`RELOAD_THREADS`] threads for every cache together), for sync
///   and async callers alike. The caller that found the value due (or
///   stale) is served it at once, as every other caller is: nobody waits
///   for the reload, and a slow reloader holds up neither callers nor the
///   maintenance thread's sweeps and clock;
/// * without one, for the **sync** forms, on the thread of the caller that
///   found it due: its `init` may borrow from that caller's stack, so it
///   cannot move to another thread. That caller gets the new value (or, if
///   the reload fails, the old one); every other caller meanwhile gets the
///   current value at once;
/// * without one, for the **async** forms, on the
///   [`spawner`](Self::spawner) if one is set, else (feature `async`) on
///   the tokio runtime of the calling task if there is one; the caller
///   then gets the current value at once. With neither, the caller that
///   found it due awaits the reload itself, as a sync caller does.
///
/// The same spawner finishes an async load whose callers were all dropped
/// (cancelled): without one, its future stays parked in the cache and the
/// next caller of the key drives it on, from where it was.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::clock::MockClock;
/// use ttlkit::prelude::*;
///
/// let clock = MockClock::new();
/// let cache: MutexCache<&str, u32> = CacheBuilder::new()
///     .time_to_live(Duration::from_secs(60))
///     .refresh_after(Duration::from_secs(45))
///     .clock(clock.clone())
///     .build()?;
/// assert_eq!(cache.get_or_insert_with("rate", || 1), 1);
/// clock.advance(Duration::from_secs(50)); // due for a refresh, still live
/// assert_eq!(cache.get_or_insert_with("rate", || 2), 2, "no reloader: this caller reloaded");
/// assert_eq!(cache.stats().refreshes_succeeded, 1);
/// clock.advance(Duration::from_secs(50)); // a fresh lifetime from the reload
/// assert_eq!(cache.get("rate"), Some(2));
/// # Ok::<(), BuildError>(())
/// ```
impl<K, V> CacheBuilder<K, V> {
    /// Refresh-ahead: a load-through read of an entry written more than `d`
    /// ago (and still live) starts one reload of it, single-flight with any
    /// other load of the key. Callers meanwhile are served the current
    /// value (see the section above for where the reload runs). On success
    /// the new value replaces it (the old one is reported `Replaced`; the
    /// new one starts a new lifetime); on error the old value stays and the
    /// failure is counted ([`CacheStats::refreshes_failed`](crate::CacheStats::refreshes_failed)).
    /// Needs a core that reports an entry's age
    /// ([`Core::inspect`](crate::core::Core::inspect)); every built-in one does.
    pub fn refresh_after(mut self, d: Duration) -> Self {
        self.loads.refresh_after = Some(d);
        self
    }

    /// Stale-while-revalidate and stale-if-error: a load-through read that
    /// finds no live value for a key whose value expired less than `d` ago
    /// is served that value, marked stale
    /// ([`Fetch::Stale`](crate::Fetch::Stale) from the
    /// [`entry`](crate::SlidingTtlCache::entry) API; the `get_or_insert_*`
    /// forms return it as is), while one reload runs; if the reload fails,
    /// callers keep getting the stale value until the window closes. A
    /// `remove`, `insert`, `clear` or load of the key ends its window.
    ///
    /// The window counts from when the cache removed the entry as expired:
    /// a sweep does within one sweep interval of its deadline (so this
    /// needs the sweeper: with [`no_sweeper`](Self::no_sweeper) `build`
    /// refuses it with [`BuildError::MissingSetting`]), a read or write
    /// that finds it expired earlier does then. At most `max_capacity`
    /// stale values are kept.
    pub fn serve_stale_for(mut self, d: Duration) -> Self {
        self.loads.serve_stale_for = Some(d);
        self
    }

    /// A caller that has waited `d` (on the cache's clock) for another
    /// caller's load or compute of the same key stops waiting. The `try_`
    /// forms return [`LoadError::TimedOut`](crate::LoadError::TimedOut);
    /// the other forms, which cannot return an error, panic with its
    /// message. It does not take the load over: the load it waited on
    /// carries on, and stores its value when it ends. A caller running its
    /// own `init` is not limited (nothing can stop an `init` from outside;
    /// bound it inside, e.g. with your runtime's timeout).
    pub fn load_timeout(mut self, d: Duration) -> Self {
        self.loads.load_timeout = Some(d);
        self
    }

    /// Runs the cache's background tasks, async reloads nobody waits for,
    /// with `spawn` (for example `|task| { tokio::spawn(task); }`), which
    /// must run each task to completion. See the section above for what
    /// runs there.
    ///
    /// ```
    /// use ttlkit::prelude::*;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BuildError> {
    /// let cache: MutexCache<u32, String> = CacheBuilder::new()
    ///     .spawner(|task| {
    ///         tokio::spawn(task);
    ///     })
    ///     .build()?;
    /// assert_eq!(cache.get_or_insert_async(1, async { "one".to_string() }).await, "one");
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawner(mut self, spawn: impl Fn(BackgroundTask) + Send + Sync + 'static) -> Self {
        self.loads.spawner = Some(Arc::new(spawn));
        self
    }

    /// Reloads in the background: with a reloader, every reload that
    /// [`refresh_after`](Self::refresh_after) or
    /// [`serve_stale_for`](Self::serve_stale_for) starts runs `reload(&key)`
    /// on the process's reload pool, and the caller that started it is
    /// served the current (or stale) value at once, sync or async (see the
    /// section above). The caller's own `init` then runs only when there is
    /// no value to serve. `build` refuses a reloader without either setting
    /// ([`BuildError::MissingSetting`]): it would never run.
    ///
    /// The reload is one load of its key, single-flight with every other
    /// load and compute of it: callers that find it running are served the
    /// current value, or, with none to serve, wait for it. A write of the
    /// key made while it runs wins, and the reloaded value is dropped. On
    /// success the value replaces the old one (reported
    /// [`Replaced`](crate::RemovalCause::Replaced), with a new write stamp
    /// and lifetime). On an error or a panic (contained on the pool thread)
    /// the old value stays, the failure is counted in
    /// [`refreshes_failed`](crate::CacheStats::refreshes_failed) and
    /// `loads_failed`, and the key is due again at its next load-through
    /// read. The error may be of any type `E`: a waiter whose own `init`
    /// has the same error type receives it as a
    /// [`LoadError::Init`](crate::LoadError::Init), as from any load it
    /// waited on; no one else sees it.
    ///
    /// A reload runs while its cache lives; one queued or running when the
    /// cache is dropped stores nothing. The reloader itself lives as long
    /// as the cache: one that holds a handle to its own cache keeps it
    /// alive for ever.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use ttlkit::clock::MockClock;
    /// use ttlkit::prelude::*;
    ///
    /// let clock = MockClock::new();
    /// let (replaced, heard) = mpsc::channel();
    /// let cache: MutexCache<&str, u32> = CacheBuilder::new()
    ///     .time_to_live(Duration::from_secs(60))
    ///     .refresh_after(Duration::from_secs(45))
    ///     .reloader(|_key: &&str| Ok::<_, std::io::Error>(2)) // say, fetch the rate again
    ///     .removal_listener(move |_, old, cause| replaced.send((old, cause)).unwrap_or(()))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// assert_eq!(cache.get_or_insert_with("rate", || 1), 1);
    /// clock.advance(Duration::from_secs(50)); // due for a refresh, still live
    /// assert_eq!(cache.get_or_insert_with("rate", || 3), 1, "served at once; the reload runs elsewhere");
    /// assert_eq!(heard.recv().ok(), Some((1, RemovalCause::Replaced)));
    /// assert_eq!(cache.get("rate"), Some(2));
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn reloader<E>(mut self, reload: impl Fn(&K) -> Result<V, E> + Send + Sync + 'static) -> Self
    where
        E: Send + Sync + 'static,
    {
        self.loads.reloader = Some(Arc::new(move |key: &K| reload(key).map_err(|e| Arc::new(e) as SharedError)));
        self
    }
}
