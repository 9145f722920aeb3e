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
//!   [`ClientStore::get_or_create_async`] are single-flight per key; a failed
//!   creation is not cached. Reusing one client reuses its connection pool:
//!   N requests open one TCP connection, not N (`tests/client_store.rs`
//!   shows it over real HTTP).
//! * **Secret.** An [`ApiKey`] prints as `<redacted>` and is zeroized on
//!   drop. The map is keyed by a [`Fingerprint`] (a keyed BLAKE3 hash under a
//!   per-store random key), and no stat, error or `Debug` output of the store
//!   holds key material.
//! * **Observable.** An `on_leave` hook receives every departing client
//!   with its [`RemovalCause`](crate::RemovalCause), so the app can drain or
//!   close it; [`ClientStore::stats`] counts clients created, reused,
//!   expired and evicted.
//! * **Resilient** (standalone pieces for now). [`RateLimiter`] limits each
//!   key by GCRA (a [`Quota`] per key, from a default and an override
//!   callback) and answers [`Limited`] with the time to wait;
//!   [`RetryPolicy`] backs off with full jitter, honours `Retry-After`
//!   ([`parse_retry_after`]) and caps attempts; a [`RetryBudget`] per key
//!   and one per store keep retries to a fraction of recent requests.
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use ttlkit::client_store::{ApiKey, ClientStore};
//! use ttlkit::{BackendKind, RemovalCause};
//! use ttlkit::clock::MockClock;
//!
//! struct Client { authorization: String }
//!
//! let clock = MockClock::new();
//! let left = Arc::new(Mutex::new(Vec::new()));
//! let log = Arc::clone(&left);
//! let store = ClientStore::<Client>::builder()
//!     .clock(clock.clone())
//!     .on_leave(move |fingerprint, _client, cause| log.lock().unwrap().push((*fingerprint, cause)))
//!     .build_backend(BackendKind::Mutex)?;
//!
//! let key = ApiKey::new("sk-live-xyz")?;
//! let make = |key: &ApiKey| Ok::<_, Infallible>(Client { authorization: key.bearer().to_string() });
//! let first = store.get_or_create(&key, make).map_err(|e| e.to_string())?;
//!
//! clock.advance(Duration::from_secs(3601)); // idle for over an hour
//! store.purge_expired();
//! assert_eq!(*left.lock().unwrap(), vec![(store.fingerprint(&key), RemovalCause::Expired)]);
//!
//! let second = store.get_or_create(&key, make).map_err(|e| e.to_string())?;
//! assert!(!Arc::ptr_eq(&first, &second), "a fresh client after the idle timeout");
//! assert_eq!((store.stats().created, store.stats().expired), (2, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod api_key;
#[cfg(feature = "async")]
mod async_load;
mod builder;
mod fingerprint;
mod rate_limit;
#[cfg(test)]
mod rate_limit_tests;
mod retry;
mod retry_after;
mod retry_budget;
#[cfg(test)]
mod retry_tests;
mod store;
mod window;

pub use api_key::{ApiKey, InvalidApiKey, MAX_API_KEY_LEN};
pub use builder::{
    ClientStoreBuilder, LeaveHook, StoreBuildError, StoreSettings, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_LIFETIME, DEFAULT_SWEEP_INTERVAL,
};
pub use fingerprint::{Fingerprint, Fingerprinter, NoRandomness};
pub use rate_limit::{Limited, Quota, QuotaError, RateLimiter, RateLimiterBuilder, DEFAULT_MAX_KEYS};
pub use retry::{GiveUp, JitterRng, RetryDecision, RetryPolicy};
pub use retry_after::parse_retry_after;
pub use retry_budget::{BudgetError, BudgetSettings, RetryBudget};
pub use store::{ClientStore, ClientStoreStats};
