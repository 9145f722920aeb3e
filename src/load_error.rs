//! [`LoadError`]: a failed load's error, shared by every caller of the load.

use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The error of a failed `try_*` load (`init` returned `Err(e)`), shared by
/// the caller that ran `init` and every caller that waited on the same load:
/// one `Arc<E>` inside, so they all see the same `E`.
///
/// It is a [`std::error::Error`] whenever `E` is [`Display`](fmt::Display) +
/// [`Debug`](fmt::Debug), without `E: Error`, so `?` takes it into
/// `anyhow::Result` or `Box<dyn Error + Send + Sync>` also when `E` is
/// itself `anyhow::Error` or a boxed error (neither of which implements
/// `Error`). `Display` and `Debug` are `E`'s, formatter flags included
/// (`{:#}` of a `LoadError<anyhow::Error>` prints anyhow's chain).
/// [`source`](Error::source) is `None`: without `E: Error` the chain below
/// `E` cannot be reached generically, so an error that wraps a `LoadError`
/// (an `anyhow::Error` made by `?`) shows only `E`'s own message in its
/// chain; downcast it to `LoadError<E>` and reach the rest through `E`.
///
/// `E` is reached through [`Deref`], [`shared`](Self::shared) (the `Arc`
/// itself, to compare with [`Arc::ptr_eq`]), [`into_arc`](Self::into_arc),
/// or [`into_inner`](Self::into_inner), which hands `E` back by value when
/// no other caller still holds it.
///
/// ```
/// use std::sync::Arc;
/// use ttlkit::prelude::*;
/// use ttlkit::LoadError;
///
/// #[derive(Debug, PartialEq)]
/// struct Upstream(u16);
/// impl std::fmt::Display for Upstream {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "upstream answered {}", self.0)
///     }
/// }
///
/// fn load(cache: &MutexCache<u32, String>) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
///     // `?` works: LoadError<Upstream> is an Error.
///     Ok(cache.try_get_or_insert_with(1, || Err(Upstream(503)))?)
/// }
///
/// let cache: MutexCache<u32, String> = CacheBuilder::new().build()?;
/// assert_eq!(load(&cache).unwrap_err().to_string(), "upstream answered 503");
///
/// let err: LoadError<Upstream> = cache.try_get_or_insert_with(1, || Err(Upstream(502))).unwrap_err();
/// assert_eq!(err.0, 502, "derefs to the shared E");
/// let again = err.clone();
/// assert!(Arc::ptr_eq(err.shared(), again.shared()), "clones share one Arc");
/// let err = err.into_inner().expect_err("`again` still holds it");
/// drop(again);
/// assert_eq!(err.into_inner().ok(), Some(Upstream(502)), "alone: E by value");
/// # Ok::<(), BuildError>(())
/// ```
pub struct LoadError<E> {
    error: Arc<E>,
}

impl<E> LoadError<E> {
    /// Wraps the shared error of one load.
    pub(crate) fn new(error: Arc<E>) -> Self {
        LoadError { error }
    }

    /// The error from `init`, by reference (also reachable through `Deref`).
    pub fn get(&self) -> &E {
        &self.error
    }

    /// The `Arc` shared by every caller of the load (compare two with
    /// [`Arc::ptr_eq`] to tell whether they came from one load).
    pub fn shared(&self) -> &Arc<E> {
        &self.error
    }

    /// The shared `Arc`, keeping the other callers' references alive.
    pub fn into_arc(self) -> Arc<E> {
        self.error
    }

    /// `E` by value if this is the last reference to it; otherwise the
    /// error itself, unchanged, as `Err` (like [`Arc::try_unwrap`]).
    pub fn into_inner(self) -> Result<E, Self> {
        Arc::try_unwrap(self.error).map_err(LoadError::new)
    }
}

impl<E> Deref for LoadError<E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.error
    }
}

impl<E> AsRef<E> for LoadError<E> {
    fn as_ref(&self) -> &E {
        &self.error
    }
}

// By hand: cloning shares the Arc, so `E` need not be `Clone`.
impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        LoadError { error: Arc::clone(&self.error) }
    }
}

impl<E> From<LoadError<E>> for Arc<E> {
    fn from(e: LoadError<E>) -> Arc<E> {
        e.error
    }
}

impl<E: PartialEq> PartialEq for LoadError<E> {
    fn eq(&self, other: &Self) -> bool {
        *self.error == *other.error
    }
}

impl<E: Eq> Eq for LoadError<E> {}

impl<E: fmt::Debug> fmt::Debug for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.error, f)
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.error, f)
    }
}

// Not `E: Error`: `anyhow::Error` and `Box<dyn Error + Send + Sync>` are
// Display + Debug but not Error, and they are the errors `?` is most
// wanted for. Without specialization `source` cannot delegate only when
// `E: Error`, so it keeps the default `None`.
impl<E: fmt::Display + fmt::Debug> Error for LoadError<E> {}
