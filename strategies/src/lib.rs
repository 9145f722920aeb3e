//! Eviction policies for [ttlkit](https://example.invalid/ttlkit) as pure,
//! single-threaded state machines: no clock, no locks, no keys beyond ids and
//! hashes. Each is reusable per shard, testable on its own, and nameable at
//! run time through [`PolicyKind`].
//!
//! ```
//! use ttlkit_strategies::{EvictionPolicy, PolicyKind};
//!
//! let mut lru = PolicyKind::from_name("lru")?.build(2);
//! lru.on_insert(1, 0xa1);
//! lru.on_insert(2, 0xb2);
//! lru.on_hit(1);
//! // Entry 2 was used least recently, so it goes first.
//! assert_eq!(lru.evict(), Some(2));
//! # Ok::<(), ttlkit_strategies::UnknownPolicy>(())
//! ```

mod kind;
mod lru;
mod policy;
#[allow(dead_code)] // the full policy set uses every list operation
mod slab_list;

pub use kind::{PolicyKind, UnknownPolicy};
pub use lru::Lru;
pub use policy::{EntryId, EvictionPolicy};

/// A map from entry ids, with a fixed (reproducible) fast hasher.
pub(crate) type IdMap<T> = hashbrown::HashMap<EntryId, T, foldhash::fast::FixedState>;
