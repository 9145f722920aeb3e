//! [`ClientStoreStats`]: a snapshot of a store's counters.

use std::fmt;

/// A snapshot of a store's counters. Contains no key material.
///
/// ```
/// use std::convert::Infallible;
/// use ttlkit::client_store::{ApiKey, ClientStore, ClientStoreStats};
/// use ttlkit::BackendKind;
///
/// struct Client;
/// let store = ClientStore::<Client>::with_backend(BackendKind::Mutex)?;
/// let key = ApiKey::new("sk-demo-1")?;
/// let lease = store.get_or_create(&key, |_| Ok::<_, Infallible>(Client))?;
/// let failed = store.get_or_create(&ApiKey::new("sk-demo-2")?, |_| Err::<Client, _>("refused"));
/// assert!(failed.is_err());
/// let stats: ClientStoreStats = store.stats();
/// assert_eq!((stats.held, stats.created, stats.creation_failures, stats.leases), (1, 1, 1, 1));
/// drop(lease);
/// assert_eq!(store.stats().leases, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClientStoreStats {
    /// Clients held now, including expired ones not yet purged.
    pub held: usize,
    /// Clients the factory created.
    pub created: u64,
    /// Calls answered with an existing client (or one another caller was
    /// creating at the same time).
    pub reused: u64,
    /// Factory calls that returned an error (not cached).
    pub creation_failures: u64,
    /// Clients that left because they idled out or reached their max lifetime.
    pub expired: u64,
    /// Clients that left to make room under `max_clients`.
    pub evicted: u64,
    /// Clients taken out by `remove` or `clear`.
    pub removed: u64,
    /// Clients replaced by a concurrent creation (or an `adopt`) for the same key.
    pub replaced: u64,
    /// Calls of the leave or release hook that panicked (the panic was contained).
    pub hook_panics: u64,
    /// Calls [`ClientStore::admit`](crate::client_store::ClientStore::admit)
    /// refused under the rate limit.
    pub rate_limited: u64,
    /// Leases alive now.
    pub leases: u64,
    /// Clients released (gone from the store, last lease dropped, grace
    /// window passed); the release hook ran for each.
    pub released: u64,
    /// Clients gone from the store and from every lease, waiting out the
    /// grace window before their release.
    pub awaiting_release: usize,
    /// Keys held now whose circuit breaker is open or half-open.
    pub breakers_tripped: u64,
    /// Breakers that opened (from closed, or again after a failed probe).
    pub breaker_opened: u64,
    /// Breakers whose cooldown ended, letting a probe through.
    pub breaker_half_opened: u64,
    /// Breakers a successful probe closed.
    pub breaker_closed: u64,
    /// Requests a breaker refused ([`Open`](crate::client_store::Open)).
    pub breaker_rejected: u64,
    /// Retries the retry policy allowed.
    pub retries: u64,
    /// Retries a retry budget refused.
    pub retry_budget_exhausted: u64,
}

impl fmt::Display for ClientStoreStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "held {} created {} reused {} creation_failures {} expired {} evicted {} removed {} replaced {} hook_panics {} \
             rate_limited {} leases {} released {} awaiting_release {} breakers_tripped {} breaker_opened {} \
             breaker_half_opened {} breaker_closed {} breaker_rejected {} retries {} retry_budget_exhausted {}",
            self.held,
            self.created,
            self.reused,
            self.creation_failures,
            self.expired,
            self.evicted,
            self.removed,
            self.replaced,
            self.hook_panics,
            self.rate_limited,
            self.leases,
            self.released,
            self.awaiting_release,
            self.breakers_tripped,
            self.breaker_opened,
            self.breaker_half_opened,
            self.breaker_closed,
            self.breaker_rejected,
            self.retries,
            self.retry_budget_exhausted
        )
    }
}
