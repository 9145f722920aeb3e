//! [`ClientStore::get_or_create_async`]: creation with an async factory,
//! single-flight across tasks and cancellation-safe.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cache::SlidingTtlCache;
use crate::client_store::api_key::ApiKey;
use crate::client_store::fingerprint::Fingerprint;
use crate::client_store::lease::{Lease, StoredClient};
use crate::client_store::store::ClientStore;
use crate::load_error::LoadError;

impl<C, B> ClientStore<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, StoredClient<C>>,
{
    /// Returns a lease on the client for `key`, creating it with the async factory
    /// `create` if the store has none (or only an expired one).
    ///
    /// Single-flight across tasks: concurrent callers for the same key await
    /// one `create` (the first caller's) and share its client; waiting does
    /// not block a thread. An error from `create` goes to this caller and to
    /// those that waited, and is not cached.
    ///
    /// Cancellation-safe: if the caller running `create` is dropped before
    /// it finishes (an aborted task, a lost `select!`, a timeout), the
    /// callers waiting on it wake and one of them runs its own `create`; a
    /// later caller proceeds as if nothing happened. `create` receives its
    /// own copy of the key (zeroized when dropped) so its future can own it.
    ///
    /// Async and sync ([`get_or_create`](Self::get_or_create)) creations are
    /// single-flight among themselves, not with each other: if both kinds
    /// race on a new key, two clients may be made and the one stored first
    /// reaches the hook as [`RemovalCause::Replaced`](crate::RemovalCause).
    ///
    /// As for `get_or_create`, a `remove` or `clear` made while `create` runs
    /// wins: the client is leased to the callers but not stored.
    ///
    /// ```
    /// use ttlkit::client_store::{ApiKey, ClientStore, Lease};
    /// use ttlkit::BackendKind;
    ///
    /// struct Client { authorization: String }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = ClientStore::<Client>::with_backend(BackendKind::Mutex)?;
    /// let key = ApiKey::new("sk-demo-2")?;
    /// let make = |key: ApiKey| async move {
    ///     // e.g. a TLS handshake or a token exchange
    ///     Ok::<_, std::io::Error>(Client { authorization: key.bearer().to_string() })
    /// };
    /// let client = store.get_or_create_async(&key, make).await?;
    /// let again = store.get_or_create_async(&key, make).await?;
    /// assert!(Lease::ptr_eq(&client, &again));
    /// assert_eq!(store.stats().created, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn get_or_create_async<F, Fut, E>(&self, key: &ApiKey, create: F) -> Result<Lease<C>, LoadError<E>>
    where
        F: FnOnce(ApiKey) -> Fut,
        Fut: Future<Output = Result<C, E>>,
        E: Send + Sync + 'static,
    {
        let fingerprint = self.fingerprint(key);
        let mut create = Some(create);
        loop {
            let ran = AtomicBool::new(false);
            // The lease on a client this call makes. Held here, not in the
            // loader's future, so a cancelled call drops it (and a client
            // that was stored is still released after it leaves).
            let made = Mutex::new(None);
            let keeper = self.keeper();
            let init = || {
                ran.store(true, Relaxed);
                let creating = create.take().map(|create| create(key.clone()));
                let made = &made;
                async move {
                    let Some(creating) = creating else {
                        unreachable!("a call that ran the factory returns: it never loops back to run it again")
                    };
                    let lease = StoredClient::file(keeper, fingerprint, Arc::new(creating.await?), true);
                    let stored = lease.stored().clone();
                    *made.lock() = Some(lease);
                    Ok(stored)
                }
            };
            let result = self.loader().try_get_or_insert_with(self.cache(), fingerprint, init).await;
            let made = made.into_inner();
            if let Some(lease) = self.settle(ran.load(Relaxed), made, result)? {
                return Ok(lease);
            }
        }
    }
}
