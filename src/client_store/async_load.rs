//! [`ClientStore::get_or_create_async`]: creation with an async factory,
//! single-flight across tasks and cancellation-safe.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use crate::cache::SlidingTtlCache;
use crate::client_store::api_key::ApiKey;
use crate::client_store::fingerprint::Fingerprint;
use crate::client_store::store::ClientStore;
use crate::load_error::LoadError;

/// A creation in flight, as the store awaits it.
type Creating<'a, C, E> = Pin<Box<dyn Future<Output = Result<Arc<C>, LoadError<E>>> + Send + 'a>>;

impl<C, B> ClientStore<C, B>
where
    C: Send + Sync + 'static,
    B: SlidingTtlCache<Fingerprint, Arc<C>>,
{
    /// Returns the client for `key`, creating it with the async factory
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
    /// Async and sync ([`get_or_create`](Self::get_or_create)) creations of
    /// one key share one flight: concurrent callers of either kind make one
    /// client. The `create` future is `'static` because it outlives its
    /// caller: a cancelled caller leaves it to the others (see
    /// [`SlidingTtlCache::get_or_insert_async`]).
    ///
    /// As for `get_or_create`, a `remove` or `clear` made while `create` runs
    /// wins: the client is returned to the callers but not stored.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ttlkit::client_store::{ApiKey, ClientStore};
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
    /// assert!(Arc::ptr_eq(&client, &again));
    /// assert_eq!(store.stats().created, 1);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn get_or_create_async<F, Fut, E>(&self, key: &ApiKey, create: F) -> Result<Arc<C>, LoadError<E>>
    where
        F: FnOnce(ApiKey) -> Fut,
        Fut: Future<Output = Result<C, E>> + Send + 'static,
        E: Send + Sync + 'static,
    {
        let ran = Arc::new(AtomicBool::new(false));
        let creating = create(key.clone());
        let ran_here = Arc::clone(&ran);
        let init = async move {
            ran_here.store(true, Relaxed);
            creating.await.map(Arc::new)
        };
        // Boxed as a `dyn Future + Send`: awaiting the cache's opaque future
        // here directly trips the compiler's higher-ranked lifetime check
        // where callers spawn this future.
        let loading: Creating<'_, C, E> = Box::pin(self.cache().try_get_or_insert_async(self.fingerprint(key), init));
        let result = loading.await;
        self.count(ran.load(Relaxed), result.is_ok());
        result
    }
}
