//! The backends: each implements [`SlidingTtlCache`](crate::SlidingTtlCache)
//! and is built by [`CacheBuilder`](crate::CacheBuilder).

#[cfg(feature = "moka")]
#[cfg_attr(docsrs, doc(cfg(feature = "moka")))]
pub mod moka;
pub mod mutex;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(feature = "sharded")]
#[cfg_attr(docsrs, doc(cfg(feature = "sharded")))]
pub mod sharded;
mod store;
