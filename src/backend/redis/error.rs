//! The Redis backend's typed errors.

use std::io;

use crate::builder::BuildError;

/// Why one Redis operation failed.
///
/// The [`SlidingTtlCache`](crate::SlidingTtlCache) methods are infallible:
/// they turn these into a miss (or a no-op) and count them (see
/// [`RedisCache::errors`](super::RedisCache::errors)). The `try_*` methods
/// of [`RedisCache`](super::RedisCache) return them.
///
/// ```no_run
/// use ttlkit::{CacheBuilder, RedisCache, RedisCacheError, RedisOptions};
///
/// let cache: RedisCache<String, String> = RedisOptions::new("redis://127.0.0.1:6379").build(CacheBuilder::new())?;
/// // The plain methods turn Redis errors into misses; the `try_*` ones return them.
/// match cache.try_get("k") {
///     Ok(value) => println!("{value:?}"),
///     Err(e) if e.is_connection() => eprintln!("redis is down: {e}"),
///     Err(e @ RedisCacheError::Malformed { .. }) => eprintln!("another type wrote here: {e}"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisCacheError {
    /// Redis answered with an error, or the connection failed mid-command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No pooled connection could be had in time (Redis down or unreachable).
    #[error("no redis connection: {0}")]
    Pool(#[from] r2d2::Error),
    /// A key or value could not be encoded, or a stored one decoded (a value
    /// written by an incompatible type under the same prefix).
    #[error("codec: {0}")]
    Codec(#[from] postcard::Error),
    /// A stored record does not have the backend's layout, or its key or
    /// value does not decode exactly as this cache's types (another type
    /// wrote it under the same prefix).
    #[error("malformed record under {key}")]
    Malformed {
        /// The Redis key.
        key: String,
    },
    /// A script answered with a shape this backend does not expect.
    #[error("unexpected reply from redis: {0}")]
    Reply(String),
}

impl RedisCacheError {
    /// Whether the error is about reaching Redis (down, refused, timed
    /// out, connection dropped; on a cluster also a slot that no master
    /// serves right now: `CLUSTERDOWN`, `TRYAGAIN`, `MASTERDOWN`, a node
    /// that cannot be reached), as opposed to data or protocol.
    pub fn is_connection(&self) -> bool {
        use redis::{ErrorKind, ServerErrorKind};
        match self {
            RedisCacheError::Pool(_) => true,
            RedisCacheError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_timeout()
                    || matches!(
                        e.kind(),
                        ErrorKind::ClusterConnectionNotFound
                            | ErrorKind::Server(
                                ServerErrorKind::ClusterDown
                                    | ServerErrorKind::TryAgain
                                    | ServerErrorKind::MasterDown
                                    | ServerErrorKind::BusyLoading
                            )
                    )
            }
            _ => false,
        }
    }
}

/// Why a [`RedisCache`](super::RedisCache) or a
/// [`TieredCache`](crate::TieredCache) could not be built.
///
/// ```no_run
/// use ttlkit::{CacheBuilder, RedisBuildError, RedisCache, RedisOptions};
///
/// let built: Result<RedisCache<String, String>, RedisBuildError> =
///     RedisOptions::new("not a url").build(CacheBuilder::new());
/// assert!(matches!(built, Err(RedisBuildError::Url(_))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisBuildError {
    /// A shared builder setting was invalid.
    #[error(transparent)]
    Config(#[from] BuildError),
    /// The Redis URL could not be parsed.
    #[error("bad redis url: {0}")]
    Url(#[source] redis::RedisError),
    /// A builder setting that Redis cannot honour, refused rather than
    /// silently ignored. `what` is the setting: `max_capacity` and
    /// `weigher` (capacity is Redis's `maxmemory`), `policy` (eviction is
    /// its `maxmemory-policy`), `clock` (any clock but the
    /// [`SystemClock`](crate::clock::SystemClock): Redis expires keys on the
    /// server's clock) or `refresh_granularity` (every `get` refreshes).
    #[error("{what} is not supported by the redis backend: {why}")]
    Unsupported {
        /// The builder setting.
        what: &'static str,
        /// What to do instead.
        why: &'static str,
    },
    /// A Redis option was out of range.
    #[error("{0}")]
    Option(String),
    /// The operating system refused to start a thread.
    #[error("could not start a thread")]
    Spawn(#[source] io::Error),
}
