//! Eviction policies for [ttlkit](https://docs.rs/ttlkit) as pure,
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
//!
//! Policies: [`Fifo`], [`Lru`], [`Clock`], [`Sieve`], [`S3Fifo`], [`Arc`],
//! [`WTinyLfu`] (three settings: `w-tinylfu`, `w-tinylfu-climb` and
//! `w-tinylfu-v2`, the best on the published traces) and [`WTinyLfuAuto`]
//! (W-TinyLFU that chooses its own window and admission rule, at 16 bytes
//! per entry over LRU). The [`trace`] module reads published cache traces
//! as a stream of keys, [`synthetic`] generates workloads that stress
//! policies, and the [`sim`] module replays them against policies (and
//! against Belady's offline optimum, [`opt`]) to measure hit ratios:
//!
//! ```
//! # #[cfg(feature = "traces")] {
//! use ttlkit_strategies::sim::{simulate, SimPolicy};
//!
//! // A loop over 3 keys in a cache of 2: LRU always misses, OPT does not.
//! let trace = [1u64, 2, 3, 1, 2, 3, 1, 2, 3].map(Ok);
//! let runs = [(SimPolicy::from_name("lru")?, 2), (SimPolicy::Opt, 2)];
//! let results = simulate(trace, &runs, |_| {})?;
//! assert_eq!(results[0].hits, 0);
//! assert_eq!(results[1].hits, 4);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The protocol
//!
//! The owner calls [`EvictionPolicy::on_insert`] when an entry becomes
//! resident, [`EvictionPolicy::on_hit`] when it is read, and then, while it
//! holds more than it has room for, [`EvictionPolicy::evict`], which may
//! return the entry just inserted (admission refused).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod arc;
mod auto;
mod ghost;
mod hand;
mod id_index;
mod index_lists;
mod kind;
mod minisim;
pub mod opt;
mod policy;
mod queue;
mod resident;
mod s3fifo;
pub mod sim;
mod sketch;
mod slab_list;
pub mod synthetic;
#[cfg(feature = "traces")]
#[cfg_attr(docsrs, doc(cfg(feature = "traces")))]
pub mod trace;
mod wtinylfu;

pub use arc::Arc;
pub use auto::WTinyLfuAuto;
pub use hand::{Clock, Hand, Sieve};
pub use index_lists::IndexLists;
pub use kind::{PolicyKind, UnknownPolicy};
pub use policy::{EntryId, EvictionPolicy};
pub use queue::{Fifo, Lru, Queue};
pub use s3fifo::S3Fifo;
pub use sketch::FrequencySketch;
pub use wtinylfu::{WTinyLfu, WTinyLfuConfig};

/// The most entries a policy sizes its memory for (its frequency sketch,
/// doorkeeper and preallocations). A policy accepts any capacity, including
/// `usize::MAX` or a bound in bytes, but allocates as if the capacity were
/// at most this: a W-TinyLFU sketch then takes at most 8 MiB of counters
/// and 4 MiB of doorkeeper, and for a capacity above 2^17 it starts far
/// smaller and grows with the residents. Above this bound the sketch's
/// estimates are those of a cache of 2^20 entries (more collisions).
pub const MAX_SIZED_ENTRIES: usize = 1 << 20;

/// `capacity` as the policy's memory sees it: at least 1, at most
/// [`MAX_SIZED_ENTRIES`].
pub(crate) fn sized(capacity: usize) -> u64 {
    capacity.clamp(1, MAX_SIZED_ENTRIES) as u64
}

/// A slot id as a node index. An owner's slot ids are its slot indexes,
/// far below `u32::MAX` (which node lists keep for "none").
///
/// # Panics
///
/// If `id` is not below `u32::MAX`.
pub(crate) fn slot_index(id: EntryId) -> u32 {
    u32::try_from(id).ok().filter(|&i| i != u32::MAX).unwrap_or_else(|| panic!("slot id {id} is not below u32::MAX"))
}

/// How many more elements a full `Vec` of `len` should reserve: double,
/// but never past `limit` once below it (a cache sized for `limit - 1`
/// entries then ends with no slack), and an eighth more past it. An owner
/// that shares its capacity between several policies (the sharded
/// backend's shards) lets each hold a little more than its share: doubling
/// there would leave about half the shards with twice the nodes they use.
pub(crate) fn capped_growth(len: usize, limit: usize) -> usize {
    if len < limit {
        len.max(4).min(limit - len)
    } else {
        (len / 8).max(4)
    }
}

/// A map from entry ids, with a fixed (reproducible) fast hasher.
pub(crate) type IdMap<T> = hashbrown::HashMap<EntryId, T, foldhash::fast::FixedState>;

/// A well-mixed, reproducible 64-bit hash of a key (the SplitMix64
/// finalizer: a bijection, so distinct keys never collide).
pub fn mix64(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::capped_growth;

    #[test]
    fn growth_doubles_up_to_the_limit_then_adds_an_eighth() {
        assert_eq!(capped_growth(0, 100), 4);
        assert_eq!(capped_growth(32, 100), 32);
        assert_eq!(capped_growth(64, 100), 36, "no further than the limit");
        assert_eq!(capped_growth(100, 100), 12, "an eighth past it");
        assert_eq!(capped_growth(8, 8), 4);
    }
}
