//! In-memory caches with **time-to-live** (from the last write) and
//! **time-to-idle** (sliding: every read pushes the deadline forward), alone,
//! together or neither, a capacity bound with **pluggable eviction
//! policies**, and a background sweeper whose cost follows the number of
//! expired entries, not the size of the map.
//!
//! One trait, [`SlidingTtlCache`], has interchangeable backends built by one
//! [`CacheBuilder`]; the [`prelude`] imports both.
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::prelude::*;
//!
//! let cache: MutexCache<String, u64> = CacheBuilder::new()
//!     .time_to_idle(Duration::from_secs(60))
//!     .max_capacity(10_000)
//!     .build()?;
//! cache.insert("user-1".to_string(), 42);
//! assert_eq!(cache.get("user-1"), Some(42));
//! # Ok::<(), BuildError>(())
//! ```
//!
//! # Which backend?
//!
//! | backend | cargo feature | use it when |
//! |---|---|---|
//! | [`MutexCache`] | always | one lock, every operation linearizable, never above its bound; the simplest choice for low or moderate contention |
//! | `ShardedCache` | `sharded` (default) | many threads hit the cache at once: a lock per shard, reads reclaim through epochs |
//! | `MokaCache` | `moka` | you want moka's concurrent map and its own LRU / TinyLFU eviction behind ttlkit's expiry |
//! | `RedisCache` | `redis` | several processes share one cache (Redis as the store) |
//! | `TieredCache` | `redis` | a local L1 in front of a `RedisCache`, kept coherent by client tracking |
//! | [`AnyCache`] | always | the backend is chosen at run time, by [`BackendKind`] or by name |
//!
//! The in-process backends are one front-end, [`Cache`], over storage cores
//! (`MutexCache`, `ShardedCache` and `MokaCache` are its aliases), so they
//! behave alike; only their concurrency and eviction differ.
//!
//! ```
//! use ttlkit::prelude::*;
//!
//! # #[cfg(feature = "sharded")]
//! # {
//! // Contended: a lock per shard.
//! let sharded: ShardedCache<u64, String> = CacheBuilder::new().max_capacity(100_000).build()?;
//! sharded.insert(1, "one".to_string());
//! assert_eq!(sharded.backend_name(), "sharded");
//! # }
//! // Chosen from configuration at run time.
//! let any: AnyCache<u64, String> = AnyCache::from_name("mutex", CacheBuilder::new())?;
//! any.insert(2, "two".to_string());
//! assert_eq!(any.kind(), BackendKind::Mutex);
//! # Ok::<(), BuildError>(())
//! ```
//!
//! ```
//! # #[cfg(feature = "moka")]
//! # {
//! use ttlkit::prelude::*;
//!
//! let moka: MokaCache<u64, String> = CacheBuilder::new().max_capacity(1_000).build()?;
//! moka.insert(1, "one".to_string());
//! assert_eq!(moka.get(&1).as_deref(), Some("one"));
//! # }
//! # Ok::<(), ttlkit::BuildError>(())
//! ```
//!
//! The Redis backends need a server, so this one is compiled, not run:
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # {
//! use std::time::Duration;
//! use ttlkit::prelude::*;
//! use ttlkit::{RedisOptions, TieredCache};
//!
//! let l2 = RedisOptions::new("redis://127.0.0.1:6379")
//!     .prefix("myapp:tokens")
//!     .build(CacheBuilder::<String, String>::new().time_to_idle(Duration::from_secs(600)))?;
//! let l1 = CacheBuilder::new().time_to_idle(Duration::from_secs(2)).max_capacity(10_000);
//! let cache: TieredCache<String, String> = TieredCache::new(l1, l2)?;
//! cache.insert("user-1".to_string(), "token".to_string());
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Loads, sync and async
//!
//! [`get_or_insert_with`](SlidingTtlCache::get_or_insert_with) and
//! [`get_or_insert_async`](SlidingTtlCache::get_or_insert_async) (and their
//! `try_` forms) are single-flight together: one `init` per missing key,
//! however many callers, sync or async. The async forms need no runtime and
//! return `Send` futures; a caller that is cancelled leaves its load to the
//! others, which drive it on without running `init` again. The
//! [`entry`](SlidingTtlCache::entry) API says where a value came from
//! ([`Fetch`]) and computes atomically per key ([`Entry::and_compute_with`]);
//! the builder adds refresh-ahead, stale values, a load timeout, and a
//! reloader or a spawner for background reloads (see
//! [`CacheBuilder::refresh_after`] and [`CacheBuilder::reloader`]).
//!
//! ```
//! # #[cfg(feature = "sharded")]
//! # {
//! use std::time::Duration;
//! use ttlkit::prelude::*;
//! use ttlkit::{Computed, Fetch, Op};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache: ShardedCache<u32, String> = CacheBuilder::new()
//!     .time_to_live(Duration::from_secs(60))
//!     .load_timeout(Duration::from_secs(5))
//!     .build()?;
//! let v = cache.try_get_or_insert_async(1, async { Ok::<_, std::io::Error>("one".to_string()) }).await?;
//! assert_eq!(v, "one");
//! assert_eq!(cache.entry(1).or_insert_with(|| "two".to_string()).fetch, Fetch::Hit);
//! let upper = cache.entry(1).and_compute_with(|v| Op::Put(v.map_or(String::new(), |s| s.to_uppercase())));
//! assert_eq!(upper, Computed::Replaced { old: "one".into(), new: "ONE".into() });
//! # Ok(())
//! # }
//! # }
//! ```
//!
//! # Expiry settings
//!
//! | builder | an entry expires |
//! |---|---|
//! | `CacheBuilder::new()` | never (only capacity or a removal makes it leave) |
//! | [`.time_to_idle(d)`](CacheBuilder::time_to_idle) | `d` after its last `get` or write (sliding) |
//! | [`.time_to_live(d)`](CacheBuilder::time_to_live) | `d` after its last write; reads do not extend it |
//! | both | at the earlier of the two deadlines |
//! | [`insert_with_ttl(k, v, d)`](SlidingTtlCache::insert_with_ttl) | `d` after this write, and no later than the above |
//! | [`.expire_after(e)`](CacheBuilder::expire_after) | when the [`Expiry`] `e` says, per entry, on create, update and read; no later than the above |
//!
//! A response cache must refetch on a schedule, however often it is read:
//! time-to-live alone.
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::clock::MockClock;
//! use ttlkit::prelude::*;
//!
//! let clock = MockClock::new();
//! let responses: MutexCache<String, String> = CacheBuilder::new()
//!     .time_to_live(Duration::from_secs(60))
//!     .clock(clock.clone())
//!     .build()?;
//! responses.insert("/prices".to_string(), "[]".to_string());
//! clock.advance(Duration::from_secs(59));
//! assert!(responses.get("/prices").is_some()); // a read does not extend it
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(responses.get("/prices"), None); // 60 s after the write
//! # Ok::<(), BuildError>(())
//! ```
//!
//! A client cache keeps what is in use and drops what is not: time-to-idle
//! alone.
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::clock::MockClock;
//! use ttlkit::prelude::*;
//!
//! let clock = MockClock::new();
//! let clients: MutexCache<u32, String> = CacheBuilder::new()
//!     .time_to_idle(Duration::from_secs(300))
//!     .clock(clock.clone())
//!     .build()?;
//! clients.insert(7, "client of tenant 7".to_string());
//! for _ in 0..10 {
//!     clock.advance(Duration::from_secs(200));
//!     assert!(clients.get(&7).is_some()); // each read pushes the deadline on
//! }
//! clock.advance(Duration::from_secs(300));
//! assert_eq!(clients.get(&7), None); // unused for 5 min
//! # Ok::<(), BuildError>(())
//! ```
//!
//! With both, the earlier deadline wins:
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::clock::MockClock;
//! use ttlkit::prelude::*;
//!
//! let clock = MockClock::new();
//! let cache: MutexCache<&str, u32> = CacheBuilder::new()
//!     .time_to_idle(Duration::from_secs(60))
//!     .time_to_live(Duration::from_secs(100))
//!     .clock(clock.clone())
//!     .build()?;
//! cache.insert("a", 1);
//! clock.advance(Duration::from_secs(50));
//! assert_eq!(cache.get("a"), Some(1)); // idle deadline moves to t=110 s
//! clock.advance(Duration::from_secs(50));
//! assert_eq!(cache.get("a"), None); // but the time-to-live ran out at t=100 s
//! assert_eq!(cache.stats().removals(RemovalCause::Expired), 1);
//!
//! // One entry with a deadline of its own: 10 s, however often it is read.
//! cache.insert_with_ttl("token", 2, Duration::from_secs(10))?;
//! clock.advance(Duration::from_secs(10));
//! assert_eq!(cache.get("token"), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An entry's own deadline (from `insert_with_ttl` or an [`Expiry`]) can only
//! shorten its life: the cache-wide time-to-idle and time-to-live still cap
//! it. Every in-process backend supports both; the Redis backend refuses an
//! `Expiry` when it is built and `insert_with_ttl` with [`Unsupported`].
//!
//! # Eviction policies
//!
//! With [`max_capacity`](CacheBuilder::max_capacity), expired entries leave
//! first and then the policy picks victims. Name it with
//! [`.policy("s3-fifo")`](CacheBuilder::policy) (from configuration; an
//! unknown name fails at `build`) or [`.policy_kind`](CacheBuilder::policy_kind)
//! with a [`PolicyKind`]; its page lists every name. The policies themselves
//! live in the `ttlkit-strategies` crate.
//!
//! ```
//! use ttlkit::prelude::*;
//!
//! let by_name: MutexCache<u64, u64> = CacheBuilder::new().max_capacity(1_000).policy("s3-fifo").build()?;
//! let by_kind: MutexCache<u64, u64> =
//!     CacheBuilder::new().max_capacity(1_000).policy_kind(PolicyKind::Sieve).build()?;
//! by_name.insert(1, 1);
//! by_kind.insert(1, 1);
//! assert!(CacheBuilder::<u64, u64>::new().max_capacity(10).policy("no-such").build::<MutexCache<_, _>>().is_err());
//! # Ok::<(), BuildError>(())
//! ```
//!
//! # Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `sharded` | yes | `ShardedCache` (crossbeam-epoch) |
//! | `async` | no | a cache without a [`spawner`](CacheBuilder::spawner) runs its background async reloads on the caller's tokio runtime (tokio's `rt` only); `ClientStore::get_or_create_async`. The async loads themselves need no feature and no runtime |
//! | `moka` | no | `MokaCache` (moka) |
//! | `client-store` | no | `ttlkit::client_store`: one client per API key, keys zeroized, fingerprints keyed with BLAKE3 |
//! | `quanta` | no | `PreciseClock` and the ticker behind `SystemClock` read the CPU's time-stamp counter |
//! | `redis` | no | `RedisCache` and `TieredCache` |
//! | `metrics` | no | `ttlkit::metrics::CacheMetrics` and `ClientStoreBuilder::metrics`: counters through the `metrics` facade |
//!
//! `MutexCache`, [`AnyCache`], the clocks and the policies need no feature;
//! `default-features = false` leaves just those.
//!
//! ```
//! // A backend left out of this build is refused by name, with its feature.
//! # #[cfg(not(feature = "moka"))]
//! assert_eq!(ttlkit::BackendKind::from_name("moka").unwrap_err().feature, Some("moka"));
//! ```
//!
//! # Clocks
//!
//! Time comes from a [`Clock`](clock::Clock) set with
//! [`CacheBuilder::clock`]: [`SystemClock`](clock::SystemClock) (the
//! default, about a millisecond coarse and one atomic load a read),
//! [`PreciseClock`](clock::PreciseClock) (the hardware clock on every read),
//! or [`MockClock`](clock::MockClock), which moves only when told to, so
//! tests of expiry run without sleeping.
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::clock::{MockClock, PreciseClock};
//! use ttlkit::prelude::*;
//!
//! let clock = MockClock::new();
//! let cache: MutexCache<u8, u8> =
//!     CacheBuilder::new().time_to_idle(Duration::from_secs(1)).clock(clock.clone()).build()?;
//! cache.insert(1, 1);
//! clock.advance(Duration::from_secs(1)); // no sleep
//! assert_eq!(cache.get(&1), None);
//!
//! let precise: MutexCache<u8, u8> = CacheBuilder::new().clock(PreciseClock).build()?;
//! precise.insert(1, 1);
//! # Ok::<(), BuildError>(())
//! ```
//!
//! # The client store
//!
//! With the `client-store` feature, `ClientStore` keeps one client per API
//! key (an HTTP client with its authorization, say), leases it to its
//! callers and releases it after it idles and its last lease is gone. Keys
//! are held only as keyed BLAKE3 fingerprints and zeroized. Per-key circuit
//! breakers, rate limits and retry budgets are opt-in.
//!
//! ```
//! # #[cfg(feature = "client-store")]
//! # {
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use ttlkit::client_store::{ApiKey, ClientStore, Lease};
//! use ttlkit::BackendKind;
//!
//! struct Client { auth: String }
//!
//! let store: ClientStore<Client> =
//!     ClientStore::builder().idle_timeout(Duration::from_secs(300)).build_backend(BackendKind::Mutex)?;
//! let key = ApiKey::new("sk-demo-1")?;
//! let make = |key: &ApiKey| Ok::<_, Infallible>(Client { auth: key.bearer().to_string() });
//! let a = store.get_or_create(&key, make)?;
//! let b = store.get_or_create(&key, make)?;
//! assert!(Lease::ptr_eq(&a, &b));
//! assert_eq!(a.auth, "Bearer sk-demo-1");
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Inspection
//!
//! [`entry_info`](SlidingTtlCache::entry_info) tells an entry's age and
//! time left, [`iter`](SlidingTtlCache::iter) clones the live entries and
//! [`weighted_size`](SlidingTtlCache::weighted_size) sums their weights;
//! none of them refreshes or counts anything.
//! [`retain`](SlidingTtlCache::retain) removes the entries a predicate
//! rejects, each judged and removed in one step.
//! [`coldest`](SlidingTtlCache::coldest) and
//! [`hottest`](SlidingTtlCache::hottest) show what the eviction policy would
//! evict next and what it protects most, where it can tell.
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::clock::MockClock;
//! use ttlkit::prelude::*;
//!
//! let clock = MockClock::new();
//! let cache: MutexCache<&str, String> = CacheBuilder::new()
//!     .time_to_live(Duration::from_secs(60))
//!     .weigher(|_, v: &String| v.len() as u32)
//!     .clock(clock.clone())
//!     .build()?;
//! cache.insert("a", "hello".to_string());
//! clock.advance(Duration::from_secs(20));
//! let info = cache.entry_info("a").expect("live");
//! assert_eq!(info.expires_in(), Some(Duration::from_secs(40)));
//! assert_eq!(cache.iter().count(), 1);
//! assert_eq!(cache.weighted_size(), 5);
//! assert_eq!(cache.retain(|_, v| v.len() > 5), 1, "\"hello\" is rejected");
//! assert!(cache.is_empty());
//! # Ok::<(), BuildError>(())
//! ```
//!
//! # Changing a cache in use
//!
//! [`set_max_capacity`](SlidingTtlCache::set_max_capacity) (shrinking
//! evicts at once, expired entries first),
//! [`set_time_to_idle`](SlidingTtlCache::set_time_to_idle) and
//! [`set_time_to_live`](SlidingTtlCache::set_time_to_live) (applied to the
//! entries held, from their stamps) work on the mutex and sharded backends
//! while other threads use the cache; moka, whose bound and timers are
//! fixed when it is built, and Redis refuse them with a [`BuildError`].
//! A [`MemoryGuard`] does the shrinking for you: past a soft limit on the
//! process's memory it takes the caches (and client stores) it watches down
//! a step at a time, and back up once the pressure is gone.
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::prelude::*;
//!
//! let cache: MutexCache<u32, u32> =
//!     CacheBuilder::new().time_to_idle(Duration::from_secs(600)).max_capacity(1_000).build()?;
//! (0..1_000).for_each(|k| cache.insert(k, k));
//! cache.set_max_capacity(100)?; // memory is tight: down to 100 now
//! assert!(cache.len() <= 100);
//! cache.set_time_to_idle(Duration::from_secs(60))?;
//! # Ok::<(), BuildError>(())
//! ```
//!
//! # Extending: your own core
//!
//! A crate of yours can add a storage core by implementing
//! [`core::Core`] and naming `Cache<K, V, YourCore<K, V>>`; the front-end
//! keeps hashing, statistics, the listener, single-flight loads and sweeps.
//! The [`core`] module's page has a complete one; the built-in cores are
//! named there too.
//!
//! ```
//! use ttlkit::core::Core;
//! use ttlkit::prelude::*;
//!
//! // `Cache<K, V, C>` over any `C: Core<K, V>` is a full cache.
//! fn backend_of<C: Core<u8, u8>>(cache: &ttlkit::Cache<u8, u8, C>) -> &'static str {
//!     cache.backend_name()
//! }
//! let cache: MutexCache<u8, u8> = CacheBuilder::new().build()?;
//! assert_eq!(backend_of(&cache), "mutex");
//! # Ok::<(), BuildError>(())
//! ```
//!
//! # The contract
//!
//! * **Expiry.** An entry expires at `min(last_access + time_to_idle,
//!   inserted_at + time_to_live, own deadline)`, a setting left out counting
//!   as never (the own deadline comes from `insert_with_ttl` or an
//!   [`Expiry`]; a plain overwrite without an `Expiry` clears it).
//!   `get` and overwrites refresh `last_access`; `peek` and `contains_key`
//!   do not; an overwrite starts a new lifetime and reads never extend it. An expired entry is never
//!   returned, whether or not it has been purged yet.
//! * **Capacity.** With `max_capacity`, expired entries make room first,
//!   then the eviction policy picks victims. The `mutex` backend evicts
//!   inside each insert, so it is never above its bound.
//! * **Removal listener.** Called exactly once for every entry that leaves,
//!   with its [`RemovalCause`], never while a lock is held (a listener may
//!   use the cache). A panicking listener is contained and counted in
//!   [`CacheStats::listener_panics`].
//! * **Loads.** [`SlidingTtlCache::get_or_insert_with`] and
//!   [`SlidingTtlCache::get_or_insert_async`] are single-flight together;
//!   `init` runs with no lock held; an error is not cached; a panicking
//!   `init` poisons nothing; a cancelled async caller does not cancel the
//!   load. An `insert`, `remove` or `clear` of the key made while `init`
//!   runs wins: the loaded value is returned, not stored. A recursive load
//!   is [`LoadError::Recursive`]; [`Entry::and_compute_with`] is atomic per
//!   key.
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
pub mod backend;
mod build_error;
mod builder;
mod cache;
mod cache_stats;
#[cfg(feature = "client-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-store")))]
pub mod client_store;
pub mod clock;
mod compute;
mod config;
pub mod core;
mod entry;
mod expiry;
mod flight;
mod frontend;
mod inspect;
mod invalidation;
mod kind;
mod listener;
mod load_error;
mod load_settings;
mod loader;
mod loads;
mod loads_async;
mod maintenance;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod per_entry;
pub mod prelude;
mod pressure;
mod reload;
mod removal_cause;
mod stale;
mod stats;
mod sweeper;
mod sync;
mod ticker;
#[cfg(feature = "redis")]
mod tiered;
mod timer_wheel;
mod unsupported;

pub use any::AnyCache;
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
pub use cache::{CacheStats, RemovalCause, SlidingTtlCache, Unsupported};
#[cfg(feature = "client-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "client-store")))]
pub use client_store::{ApiKey, ClientStore};
pub use entry::{Computed, Entry, Fetch, Fetched, Op};
pub use frontend::Cache;
pub use inspect::{EntryInfo, Iter};
pub use invalidation::LoadTicket;
pub use kind::{BackendKind, UnknownBackend};
pub use load_error::LoadError;
pub use load_settings::BackgroundTask;
pub use maintenance::reloads::RELOAD_THREADS;
pub use per_entry::Expiry;
pub use pressure::{MemoryGuard, MemoryGuardBuilder, PressureChange};
pub use stats::LoadRecorder;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use tiered::{InvalidationMode, InvalidationStats, TieredCache};
pub use ttlkit_strategies::{PolicyKind, UnknownPolicy};

// The README's examples use every in-process backend and the client store:
// `cargo test --workspace` (which enables them) runs them.
#[cfg(all(doctest, feature = "sharded", feature = "moka", feature = "client-store", feature = "async"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// The client store example of `examples/README.md`.
#[cfg(all(doctest, feature = "client-store"))]
#[doc = include_str!("../examples/README.md")]
struct ExamplesReadmeDoctests;
