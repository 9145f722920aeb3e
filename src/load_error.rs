//! [`LoadError`]: why a `try_*` load gave no value.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a `try_*` load gave no value: `init` failed (one `Arc<E>` shared by
/// the caller that ran `init` and every caller that waited on it), the
/// caller gave up waiting for another caller's load after the cache's
/// [`load_timeout`](crate::CacheBuilder::load_timeout), or `init` asked the
/// cache for the very key it is loading.
///
/// It is a [`std::error::Error`] whenever `E` is [`Display`](fmt::Display) +
/// [`Debug`](fmt::Debug), without `E: Error`, so `?` takes it into
/// `anyhow::Result` or `Box<dyn Error + Send + Sync>` also when `E` is
/// itself `anyhow::Error` or a boxed error (neither of which implements
/// `Error`). For [`Init`](Self::Init), `Display` and `Debug` are `E`'s,
/// formatter flags included (`{:#}` of a `LoadError<anyhow::Error>` prints
/// anyhow's chain). [`source`](Error::source) is `None`: without
/// `E: Error` the chain below `E` cannot be reached generically, so an error
/// that wraps a `LoadError` (an `anyhow::Error` made by `?`) shows only
/// `E`'s own message in its chain; downcast it to `LoadError<E>` and reach
/// the rest through `E`.
///
/// `E` is reached by matching [`Init`](Self::Init), or through
/// [`get`](Self::get), [`shared`](Self::shared) (the `Arc` itself, to
/// compare with [`Arc::ptr_eq`]), [`into_arc`](Self::into_arc), or
/// [`into_inner`](Self::into_inner), which hands `E` back by value when no
/// other caller still holds it.
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
/// assert!(matches!(&err, LoadError::Init(e) if e.0 == 502));
/// assert_eq!(err.get(), Some(&Upstream(502)));
/// let again = err.clone();
/// assert!(Arc::ptr_eq(err.shared().unwrap(), again.shared().unwrap()), "clones share one Arc");
/// let err = err.into_inner().expect_err("`again` still holds it");
/// drop(again);
/// assert_eq!(err.into_inner().ok(), Some(Upstream(502)), "alone: E by value");
/// # Ok::<(), BuildError>(())
/// ```
#[non_exhaustive]
pub enum LoadError<E> {
    /// `init` returned this error. It is not cached: the next caller runs
    /// `init` again.
    Init(Arc<E>),
    /// The caller waited longer than the cache's
    /// [`load_timeout`](crate::CacheBuilder::load_timeout) for another
    /// caller's load of the key and stopped waiting. It did not take the
    /// load over: that load carries on and stores its value when it ends.
    TimedOut {
        /// How long the caller waited, on the cache's clock.
        waited: Duration,
    },
    /// `init` (or an [`and_compute_with`](crate::Entry::and_compute_with)
    /// closure) asked the cache for the key it is loading, which would wait
    /// for itself forever. A programming error; the non-`try` forms panic
    /// with this message.
    Recursive,
}

/// The message of [`LoadError::Recursive`], and of the panic of the
/// non-`try` forms.
pub(crate) const RECURSIVE_LOAD: &str = "ttlkit: recursive load of the same key \
     (`init` asked the cache for the key it is loading; it would wait for itself forever)";

impl<E> LoadError<E> {
    /// Wraps the shared error of one load.
    pub(crate) fn new(error: Arc<E>) -> Self {
        LoadError::Init(error)
    }

    /// The error from `init`, by reference; `None` for a timeout or a
    /// recursive load.
    pub fn get(&self) -> Option<&E> {
        self.shared().map(|e| &**e)
    }

    /// The `Arc` shared by every caller of the failed load (compare two
    /// with [`Arc::ptr_eq`] to tell whether they came from one load).
    pub fn shared(&self) -> Option<&Arc<E>> {
        match self {
            LoadError::Init(e) => Some(e),
            _ => None,
        }
    }

    /// The shared `Arc`, keeping the other callers' references alive.
    pub fn into_arc(self) -> Option<Arc<E>> {
        match self {
            LoadError::Init(e) => Some(e),
            _ => None,
        }
    }

    /// `E` by value if this is the last reference to it; otherwise (another
    /// caller still holds it, or this is not an [`Init`](Self::Init) error)
    /// the error itself, unchanged, as `Err` (like [`Arc::try_unwrap`]).
    pub fn into_inner(self) -> Result<E, Self> {
        match self {
            LoadError::Init(e) => Arc::try_unwrap(e).map_err(LoadError::Init),
            other => Err(other),
        }
    }

    /// Whether the caller gave up waiting ([`TimedOut`](Self::TimedOut)).
    pub fn is_timeout(&self) -> bool {
        matches!(self, LoadError::TimedOut { .. })
    }

    /// Whether it is a [`Recursive`](Self::Recursive) load.
    pub fn is_recursive(&self) -> bool {
        matches!(self, LoadError::Recursive)
    }

    /// Panics with this error's message: the non-`try` forms, which cannot
    /// return it.
    #[track_caller]
    pub(crate) fn raise(self) -> ! {
        match self {
            LoadError::TimedOut { waited } => panic!("{}", timed_out_message(waited)),
            LoadError::Recursive => panic!("{RECURSIVE_LOAD}"),
            LoadError::Init(_) => panic!("ttlkit: an infallible init failed"),
        }
    }
}

fn timed_out_message(waited: Duration) -> String {
    format!("ttlkit: gave up waiting for another caller's load of the key after {waited:?} (the cache's load_timeout)")
}

// By hand: cloning shares the Arc, so `E` need not be `Clone`.
impl<E> Clone for LoadError<E> {
    fn clone(&self) -> Self {
        match self {
            LoadError::Init(e) => LoadError::Init(Arc::clone(e)),
            LoadError::TimedOut { waited } => LoadError::TimedOut { waited: *waited },
            LoadError::Recursive => LoadError::Recursive,
        }
    }
}

impl<E: PartialEq> PartialEq for LoadError<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (LoadError::Init(a), LoadError::Init(b)) => **a == **b,
            (LoadError::TimedOut { waited: a }, LoadError::TimedOut { waited: b }) => a == b,
            (LoadError::Recursive, LoadError::Recursive) => true,
            _ => false,
        }
    }
}

impl<E: Eq> Eq for LoadError<E> {}

impl<E: fmt::Debug> fmt::Debug for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Init(e) => fmt::Debug::fmt(&**e, f),
            LoadError::TimedOut { waited } => f.debug_struct("TimedOut").field("waited", waited).finish(),
            LoadError::Recursive => f.write_str("Recursive"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for LoadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Init(e) => fmt::Display::fmt(&**e, f),
            LoadError::TimedOut { waited } => f.write_str(&timed_out_message(*waited)),
            LoadError::Recursive => f.write_str(RECURSIVE_LOAD),
        }
    }
}

// Not `E: Error`: `anyhow::Error` and `Box<dyn Error + Send + Sync>` are
// Display + Debug but not Error, and they are the errors `?` is most
// wanted for. Without specialization `source` cannot delegate only when
// `E: Error`, so it keeps the default `None`.
impl<E: fmt::Display + fmt::Debug> Error for LoadError<E> {}
