//! In-memory caches with **time-to-live** (from the last write) and
//! **time-to-idle** (sliding: every read pushes the deadline forward), alone,
//! together or neither, a capacity bound with **pluggable eviction
//! policies**, and a background sweeper whose cost follows the number of
//! expired entries, not the size of the map.
//!
//! One trait, [`SlidingTtlCache`], has interchangeable backends built by one
//! [`CacheBuilder`]; [`AnyCache`] picks one at run time by [`BackendKind`] (or by name).
//! The in-process backends are one front-end, [`Cache`], over three storage
//! cores ([`MutexCache`], [`ShardedCache`], [`MokaCache`] are its aliases); a
//! crate of yours can plug in a fourth through [`core::Core`].
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::{CacheBuilder, MutexCache, RemovalCause, SlidingTtlCache};
//! use ttlkit::clock::MockClock;
//!
//! let clock = MockClock::new();
//! let cache: MutexCache<&str, u32> = CacheBuilder::new()
//!     .time_to_idle(Duration::from_secs(60))
//!     .time_to_live(Duration::from_secs(300))
//!     .max_capacity(1_000)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! cache.insert("a", 1);
//! clock.advance(Duration::from_secs(59));
//! assert_eq!(cache.get("a"), Some(1)); // a hit: idle deadline now t=119 s
//! clock.advance(Duration::from_secs(59));
//! assert_eq!(cache.peek("a"), Some(1)); // peek does not refresh
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(cache.get("a"), None); // idle for 60 s since the last get
//! assert_eq!(cache.stats().removals(RemovalCause::Expired), 1);
//! # Ok::<(), ttlkit::BuildError>(())
//! ```
//!
//! # The contract
//!
//! * **Expiry.** An entry expires at `min(last_access + time_to_idle,
//!   inserted_at + time_to_live)`, a setting left out counting as never.
//!   `get` and overwrites refresh `last_access`; `peek` and `contains_key`
//!   do not; reads never extend the time-to-live. An expired entry is never
//!   returned, whether or not it has been purged yet.
//! * **Capacity.** With `max_capacity`, expired entries make room first,
//!   then the eviction policy picks victims. The `mutex` backend evicts
//!   inside each insert, so it is never above its bound.
//! * **Removal listener.** Called exactly once for every entry that leaves,
//!   with its [`RemovalCause`], never while a lock is held (a listener may
//!   use the cache). A panicking listener is contained and counted in
//!   [`CacheStats::listener_panics`].
//! * **Loads.** [`SlidingTtlCache::get_or_insert_with`] is single-flight;
//!   `init` runs with no lock held; an error is not cached; a panicking
//!   `init` poisons nothing. An `insert`, `remove` or `clear` of the key
//!   made while `init` runs wins: the loaded value is returned, not stored.
//! * **Sweeper.** Background sweeps (on by default; `no_sweeper()` turns
//!   them off) purge expired entries in batches of 256 per lock hold. Every
//!   cache's sweeps run on the process's one maintenance thread, which holds
//!   caches only weakly: dropping the last handle stops a cache's sweeps at
//!   once (waiting out one in progress), and the thread ends with the last
//!   cache and clock.
//! * **`len()`** counts entries held, including expired entries not yet
//!   purged.
//!
//! # Expiry precision
//!
//! Time is a `u64` of nanoseconds ([`Ticks`](clock::Ticks)) read from a [`Clock`](clock::Clock). A hit
//! rewrites an entry's access stamp only when it lags by more than the
//! refresh granularity (`time_to_idle / 64`, at most one second, settable
//! with [`CacheBuilder::refresh_granularity`]). So an entry may expire up to
//! one granularity *early*, never late. A zero granularity makes idle expiry
//! exact.
//!
//! # Consistency
//!
//! Every operation of the `mutex` backend is linearizable: it takes the one
//! lock once. Listener calls happen after the lock is released, so a
//! listener may observe a later state than the removal it is told about.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod any;
#[cfg(feature = "async")]
mod async_loader;
pub mod backend;
mod builder;
mod cache;
#[cfg(feature = "client-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-store")))]
pub mod client_store;
pub mod clock;
pub mod core;
mod expiry;
mod frontend;
mod inspect;
mod invalidation;
mod kind;
mod listener;
mod loader;
mod maintenance;
pub mod prelude;
mod stats;
mod sweeper;
mod sync;
mod ticker;
#[cfg(feature = "redis")]
mod tiered;

pub use any::AnyCache;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use async_loader::AsyncLoader;
#[cfg(feature = "moka")]
#[cfg_attr(docsrs, doc(cfg(feature = "moka")))]
pub use backend::moka::MokaCache;
pub use backend::mutex::MutexCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use backend::redis::{RedisBuildError, RedisCache, RedisCacheError, RedisOptions};
#[cfg(feature = "sharded")]
#[cfg_attr(docsrs, doc(cfg(feature = "sharded")))]
pub use backend::sharded::ShardedCache;
pub use builder::{BuildError, CacheBuilder, DEFAULT_WEIGHTED_ENTRIES, MAX_DURATION};
pub use cache::{CacheStats, RemovalCause, SlidingTtlCache};
#[cfg(feature = "client-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-store")))]
pub use client_store::{ApiKey, ClientStore};
pub use frontend::Cache;
pub use inspect::{EntryInfo, Iter};
pub use invalidation::LoadTicket;
pub use kind::{BackendKind, UnknownBackend};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use tiered::TieredCache;
pub use ttlkit_strategies::{PolicyKind, UnknownPolicy};

// The README's examples use every in-process backend and the client store:
// `cargo test --workspace` (which enables them) runs them.
#[cfg(all(doctest, feature = "sharded", feature = "moka", feature = "client-store", feature = "async"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
