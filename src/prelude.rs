//! The one import of a first program: `use ttlkit::prelude::*;`.
//!
//! It brings the [`SlidingTtlCache`] trait (its methods are how every
//! backend is used), the [`CacheBuilder`], the backends this build compiles
//! in, the types their results name and the [`Expiry`] trait. Clocks stay
//! in [`crate::clock`].
//!
//! ```
//! use std::time::Duration;
//! use ttlkit::prelude::*;
//!
//! let cache: MutexCache<String, u64> = CacheBuilder::new().time_to_idle(Duration::from_secs(60)).max_capacity(1_000).build()?;
//! cache.insert("a".to_string(), 1);
//! assert_eq!(cache.get("a"), Some(1));
//! assert_eq!(cache.stats().removals(RemovalCause::Expired), 0);
//! # Ok::<(), BuildError>(())
//! ```

#[cfg(feature = "moka")]
#[cfg_attr(docsrs, doc(cfg(feature = "moka")))]
pub use crate::MokaCache;
#[cfg(feature = "sharded")]
#[cfg_attr(docsrs, doc(cfg(feature = "sharded")))]
pub use crate::ShardedCache;
pub use crate::{
    AnyCache, BackendKind, BuildError, CacheBuilder, CacheStats, Expiry, MutexCache, PolicyKind, RemovalCause,
    SlidingTtlCache, Unsupported,
};
