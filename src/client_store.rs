//! The LLM client store: one API client per API key, on any backend.
//!
//! A service that calls an API for many customers keeps one HTTP client per
//! API key; held in a plain map, those clients never leave. [`ClientStore`]
//! is that map done right:
//!
//! * **Bounded.** A client leaves after an idle timeout (default 1 h), after
//!   a max lifetime however busy (default 24 h, so a rotated key's client
//!   dies), and when `max_clients` (default 10,000) crowds it out. A sweeper
//!   (default every 5 min) removes expired clients without traffic.
//! * **Shared.** [`ClientStore::get_or_create`] and
//!   `ClientStore::get_or_create_async` (feature `async`) are single-flight per key; a failed
//!   creation is not cached. Reusing one client reuses its connection pool:
//!   N requests open one TCP connection, not N (`tests/client_store.rs`
//!   shows it over real HTTP).
//! * **Secret.** An [`ApiKey`] prints as `<redacted>` and is zeroized on
//!   drop. The map is keyed by a [`Fingerprint`] (a keyed BLAKE3 hash under a
//!   per-store random key), and no stat, error or `Debug` output of the store
//!   holds key material.
//! * **Leased.** A caller holds a [`Lease`] (it derefs to the client)
//!   while it uses the client. An `on_leave` hook receives every departing
//!   client with its [`RemovalCause`](crate::RemovalCause); an
//!   `on_release` hook receives it once it has left **and** its last lease
//!   is gone (after a grace window, if set), so a response streaming through
//!   an evicted client is never cut off, and no client is leaked open.
//!   Only clients the store created are released ([`ClientStore::adopt`]
//!   files one the app owns).
//! * **Resilient.** Each key may have a circuit breaker
//!   ([`BreakerSettings`]: consecutive failures or a failure rate, a
//!   cooldown or the upstream's `Retry-After`, one half-open probe), asked
//!   with [`Lease::permit`] ([`Open`] when refused) and fed with
//!   [`Lease::record`] ([`Outcome::from_http_status`]); a GCRA rate limit
//!   ([`Quota`], per-key overrides) checked by [`ClientStore::admit`]
//!   ([`Limited`]); and a [`RetryPolicy`] (full jitter, `Retry-After`,
//!   capped attempts) within [`RetryBudget`]s per key and per store, asked
//!   with [`Lease::retry`]. The breaker's and budget's state lives with the
//!   key's client and leaves with it. [`RateLimiter`] and the retry pieces
//!   also work on their own.
//! * **Observable.** [`ClientStore::stats`] counts clients created, reused,
//!   expired, evicted and released, live leases, breaker transitions,
//!   rate-limit refusals and retries; with the `metrics` feature, a named
//!   store publishes them through the `metrics` facade.
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use ttlkit::client_store::{ApiKey, ClientStore, Lease};
//! use ttlkit::{BackendKind, RemovalCause};
//! use ttlkit::clock::MockClock;
//!
//! struct Client { authorization: String }
//!
//! let clock = MockClock::new();
//! let (left, closed) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
//! let (left_log, closed_log) = (Arc::clone(&left), Arc::clone(&closed));
//! let store = ClientStore::<Client>::builder()
//!     .clock(clock.clone())
//!     .on_leave(move |fingerprint, _client, cause| left_log.lock().unwrap().push((*fingerprint, cause)))
//!     .on_release(move |fingerprint, _client| closed_log.lock().unwrap().push(*fingerprint))
//!     .build_backend(BackendKind::Mutex)?;
//!
//! let key = ApiKey::new("sk-live-xyz")?;
//! let make = |key: &ApiKey| Ok::<_, Infallible>(Client { authorization: key.bearer().to_string() });
//! let first = store.get_or_create(&key, make)?;
//!
//! clock.advance(Duration::from_secs(3601)); // idle for over an hour
//! store.purge_expired();
//! assert_eq!(*left.lock().unwrap(), vec![(store.fingerprint(&key), RemovalCause::Expired)]);
//! assert!(closed.lock().unwrap().is_empty(), "still leased");
//!
//! let second = store.get_or_create(&key, make)?;
//! assert!(!Lease::ptr_eq(&first, &second), "a fresh client after the idle timeout");
//! drop(first);
//! assert_eq!(*closed.lock().unwrap(), vec![store.fingerprint(&key)], "released with its last lease");
//! assert_eq!((store.stats().created, store.stats().expired, store.stats().released), (2, 1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api_key;
#[cfg(feature = "async")]
mod async_load;
mod breaker;
mod builder;
mod fingerprint;
mod keeper;
mod lease;
mod rate_limit;
#[cfg(test)]
mod rate_limit_tests;
mod retry;
mod retry_after;
mod retry_budget;
#[cfg(test)]
mod retry_tests;
mod store;
#[cfg(feature = "metrics")]
mod store_metrics;
mod store_stats;
mod window;

pub use api_key::{ApiKey, InvalidApiKey, MAX_API_KEY_LEN};
pub use breaker::{BreakerError, BreakerSettings, BreakerState, Open, Outcome};
pub use builder::{
    ClientStoreBuilder, LeaveHook, StoreBuildError, StoreSettings, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_LIFETIME, DEFAULT_SWEEP_INTERVAL,
};
pub use fingerprint::{Fingerprint, Fingerprinter, NoRandomness};
pub use keeper::ReleaseHook;
pub use lease::{Lease, StoredClient};
pub use rate_limit::{Limited, Quota, QuotaError, RateLimiter, RateLimiterBuilder, DEFAULT_MAX_KEYS};
pub use retry::{GiveUp, JitterRng, RetryDecision, RetryPolicy};
pub use retry_after::parse_retry_after;
pub use retry_budget::{BudgetError, BudgetSettings, RetryBudget};
pub use store::ClientStore;
pub use store_stats::ClientStoreStats;
