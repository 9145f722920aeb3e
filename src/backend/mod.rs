//! The backends: each implements [`SlidingTtlCache`](crate::SlidingTtlCache)
//! and is built by [`CacheBuilder`](crate::CacheBuilder).

pub mod mutex;
pub mod sharded;
mod store;
