//! The backends: each implements [`SlidingTtlCache`](crate::SlidingTtlCache)
//! and is built by [`CacheBuilder`](crate::CacheBuilder).

pub mod moka;
pub mod mutex;
pub mod sharded;
mod store;
