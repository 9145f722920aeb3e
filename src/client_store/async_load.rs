//! [`ClientStore::get_or_create_async`]: creation with an async factory,
//! single-flight across tasks and cancellation-safe.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cache::SlidingTtlCache;
use crate::client_store::api_key::ApiKey;
use crate::client_store::fingerprint::Fingerprint;
use crate::client_store::lease::{Lease, StoredClient};
use crate::client_store::store::ClientStore;
use crate::load_error::LoadError;

/// A creation in flight, as the store awaits it.
type Creating<'a, C, E> = Pin<Box<dyn Future<Output = Result<StoredClient<C>, LoadError<E>>> + Send + 'a>>;

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
    /// Async and sync ([`get_or_create`](Self::get_or_create)) creations of
    /// one key share one flight: concurrent callers of either kind make one
    /// client.
    ///
    /// Cancellation-safe: the `create` future is `'static` because it may
    /// outlive its caller. If the caller whose `create` runs is dropped
    /// before it finishes (an aborted task, a lost `select!`, a timeout), the
    /// creation is not restarted: the callers waiting on it carry it on (see
    /// [`SlidingTtlCache::get_or_insert_async`]), and the client it makes is
    /// stored as usual. `create` receives its own copy of the key (zeroized
    /// when dropped) so its future can own it.
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
        Fut: Future<Output = Result<C, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let fingerprint = self.fingerprint(key);
        // The factory's future waits here until a load of this caller's
        // polls it. One the cache drops unpolled (a hit, or another
        // caller's load) stays for the next round, which a client released
        // while this caller looked makes.
        let creating = Arc::new(Mutex::new(Some(create(key.clone()))));
        loop {
            let ran = Arc::new(AtomicBool::new(false));
            // The lease on a client this call makes. Kept beside the load,
            // not only inside it, so this caller gets it; a cancelled call
            // drops its copy (and a stored client is still released after
            // it leaves).
            let made = Arc::new(Mutex::new(None));
            let init = {
                let (creating, ran, made, keeper) =
                    (Arc::clone(&creating), Arc::clone(&ran), Arc::clone(&made), Arc::clone(self.keeper()));
                async move {
                    let Some(future) = creating.lock().take() else {
                        unreachable!("a call whose factory ran returns: it never loops back to run it again")
                    };
                    ran.store(true, Relaxed);
                    let lease = StoredClient::file(&keeper, fingerprint, Arc::new(future.await?), true);
                    let stored = lease.stored().clone();
                    *made.lock() = Some(lease);
                    Ok(stored)
                }
            };
            // Boxed as a `dyn Future + Send`: awaiting the cache's opaque
            // future here directly trips the compiler's higher-ranked
            // lifetime check where callers spawn this future.
            let loading: Creating<'_, C, E> = Box::pin(self.cache().try_get_or_insert_async(fingerprint, init));
            let result = loading.await;
            let made = made.lock().take();
            if let Some(lease) = self.settle(ran.load(Relaxed), made, result)? {
                return Ok(lease);
            }
        }
    }
}
