//! The backends: each implements [`SlidingTtlCache`](crate::SlidingTtlCache)
//! and is built by [`CacheBuilder`](crate::CacheBuilder).

pub mod moka;
pub mod mutex;
#[cfg(feature = "redis")]
pub mod redis;
pub mod sharded;
mod store;
