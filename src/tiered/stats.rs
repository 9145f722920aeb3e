//! What a tiered cache reports about its L1 invalidation: which source is
//! in use, over how many connections, and how often it dropped copies.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};

use parking_lot::Mutex;

use super::barrier::Barrier;
use super::epochs::Epochs;

/// How a [`TieredCache`](crate::TieredCache) learns that its L1 copies went
/// stale.
///
/// It needs a Redis server, so this example is compiled, not run:
///
/// ```no_run
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, InvalidationMode, RedisOptions, TieredCache};
///
/// let l2 = RedisOptions::new("redis://127.0.0.1:6379")
///     .build(CacheBuilder::<String, String>::new().time_to_idle(Duration::from_secs(60)))?;
/// let cache: TieredCache<String, String> =
///     TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(1)), l2)?;
/// match cache.invalidation_stats().mode {
///     Some(InvalidationMode::Tracking) => println!("the server tells of every change"),
///     Some(InvalidationMode::PubSub) => println!("only ttlkit writers' changes are heard"),
///     Some(_) => println!("another source"),
///     None => println!("invalidation is down: L1 is not used"),
/// }
/// # Ok::<(), ttlkit::RedisBuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidationMode {
    /// Server-assisted client tracking (`CLIENT TRACKING ... BCAST PREFIX`
    /// over RESP3, one connection per server or cluster master): every
    /// change to the prefix's data keys by any client, Redis's own expiries
    /// and evictions, and `FLUSHALL`/`FLUSHDB`.
    Tracking,
    /// The invalidations ttlkit writers publish on `<prefix>:inv`: only
    /// their own writes.
    PubSub,
}

/// A snapshot of a [`TieredCache`](crate::TieredCache)'s L1 invalidation
/// ([`TieredCache::invalidation_stats`](crate::TieredCache::invalidation_stats)).
///
/// ```no_run
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, InvalidationMode, RedisOptions, TieredCache};
///
/// let l2 = RedisOptions::new("redis://127.0.0.1:6379")
///     .build(CacheBuilder::<String, String>::new().time_to_idle(Duration::from_secs(60)))?;
/// let cache: TieredCache<String, String> =
///     TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(1)), l2)?;
/// let stats = cache.invalidation_stats();
/// if stats.mode == Some(InvalidationMode::PubSub) {
///     eprintln!("the server refused client tracking: {:?}", stats.last_error);
/// }
/// # Ok::<(), ttlkit::RedisBuildError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidationStats {
    /// The source in use; `None` while it is down (L1 is then empty and
    /// not used).
    pub mode: Option<InvalidationMode>,
    /// The invalidation connections open: one per server (each cluster
    /// master) when tracking, one for pub/sub.
    pub connections: usize,
    /// How many times invalidation went live (1, plus one per recovery).
    pub established: u64,
    /// Invalidations applied: keys dropped by tracking, messages by pub/sub.
    pub applied: u64,
    /// How many times every L1 copy was dropped at once: invalidation lost
    /// or re-established, a cluster's masters changed, `FLUSHALL` or
    /// `FLUSHDB`, a `clear` (this cache's, or another's over pub/sub).
    pub flushes: u64,
    /// Why invalidation last went down, or why tracking was refused.
    pub last_error: Option<String>,
}

impl InvalidationStats {
    /// Whether invalidation is live (L1 in use).
    pub fn is_live(&self) -> bool {
        self.mode.is_some()
    }
}

/// The invalidation state a tiered cache and its threads share.
#[derive(Default)]
pub(crate) struct State {
    /// 0 down, 1 tracking, 2 pub/sub.
    mode: AtomicU8,
    live: AtomicBool,
    connections: AtomicUsize,
    established: AtomicU64,
    applied: AtomicU64,
    flushes: AtomicU64,
    last_error: Mutex<Option<String>>,
    pub(crate) epochs: Epochs,
    pub(crate) barrier: Barrier,
}

impl State {
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(SeqCst)
    }

    pub(crate) fn mode(&self) -> Option<InvalidationMode> {
        match self.mode.load(SeqCst) {
            1 => Some(InvalidationMode::Tracking),
            2 => Some(InvalidationMode::PubSub),
            _ => None,
        }
    }

    /// Marks invalidation live (after every copy was dropped).
    pub(crate) fn go_live(&self, mode: InvalidationMode, connections: usize) {
        let code = match mode {
            InvalidationMode::Tracking => 1,
            InvalidationMode::PubSub => 2,
        };
        self.connections.store(connections, SeqCst);
        self.mode.store(code, SeqCst);
        self.established.fetch_add(1, SeqCst);
        self.live.store(true, SeqCst);
    }

    /// Marks invalidation down (before every copy is dropped).
    pub(crate) fn go_down(&self, why: String) {
        self.live.store(false, SeqCst);
        self.mode.store(0, SeqCst);
        self.connections.store(0, SeqCst);
        self.note(why);
    }

    pub(crate) fn note(&self, why: String) {
        *self.last_error.lock() = Some(why);
    }

    pub(crate) fn applied(&self) {
        self.applied.fetch_add(1, SeqCst);
    }

    pub(crate) fn flushed(&self) {
        self.flushes.fetch_add(1, SeqCst);
    }

    pub(crate) fn snapshot(&self) -> InvalidationStats {
        InvalidationStats {
            mode: self.mode(),
            connections: self.connections.load(SeqCst),
            established: self.established.load(SeqCst),
            applied: self.applied.load(SeqCst),
            flushes: self.flushes.load(SeqCst),
            last_error: self.last_error.lock().clone(),
        }
    }
}
