//! Belady's offline optimum (MIN / OPT): the physical limit of a cache.
//!
//! On a miss with the cache full, OPT evicts the resident key whose next
//! request is furthest in the future (or never comes). It needs the future,
//! so it is not an [`EvictionPolicy`](crate::EvictionPolicy) but an offline
//! pass over a recorded trace, in two steps:
//!
//! 1. [`NextUse`] streams the trace once and records, for each request `i`,
//!    the position of the next request of the same key (`u32::MAX` for
//!    none). It keeps a map from key to its last position while streaming
//!    (dropped at the end) and a `Vec<u32>` with one slot per request: 4
//!    bytes per request, about 53 MB for the 13.2 million requests of P12.
//!    Keys themselves are not kept.
//! 2. [`belady_hits`] replays that array alone, for any cache size, without
//!    rereading the trace. A resident key is represented by the position of
//!    its next request; those are unique, so the cache is an ordered set of
//!    positions: request `i` hits exactly when `i` is the smallest member,
//!    and the victim is the largest.
//!
//! ```
//! use ttlkit_strategies::opt::{belady_hits, NextUse};
//!
//! let mut next = NextUse::default();
//! for key in [1u64, 2, 3, 1, 2, 3] {
//!     next.push(key)?;
//! }
//! let next = next.finish();
//! assert_eq!(belady_hits(&next, 2), 2);
//! # Ok::<(), ttlkit_strategies::opt::TooLong>(())
//! ```

use std::collections::BTreeSet;

use crate::IdMap;

/// No further request of the key.
pub const NEVER: u32 = u32::MAX;

/// The trace has more requests than OPT's `u32` positions can index.
///
/// ```
/// use ttlkit_strategies::opt::{NextUse, TooLong};
///
/// // Only a trace of more than `u32::MAX` requests gets it back.
/// let mut next = NextUse::default();
/// let pushed: Result<(), TooLong> = next.push(42);
/// assert!(pushed.is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trace too long for OPT: more than {} requests", u32::MAX - 1)
    }
}

impl std::error::Error for TooLong {}

/// Builds the next-use array of a trace, one request at a time.
///
/// ```
/// use ttlkit_strategies::opt::{belady_hits, NextUse, NEVER};
///
/// let mut next = NextUse::default();
/// for key in [1, 2, 1, 3, 1] {
///     next.push(key)?;
/// }
/// assert_eq!(next.unique_keys(), 3);
/// let next = next.finish();
/// assert_eq!(next, [2, NEVER, 4, NEVER, NEVER]);
/// assert_eq!(belady_hits(&next, 2), 2, "OPT with room for two keeps key 1");
/// # Ok::<(), ttlkit_strategies::opt::TooLong>(())
/// ```
#[derive(Debug, Default)]
pub struct NextUse {
    last: IdMap<u32>,
    next: Vec<u32>,
}

impl NextUse {
    /// Records the next request, of `key`.
    pub fn push(&mut self, key: u64) -> Result<(), TooLong> {
        let pos = u32::try_from(self.next.len()).map_err(|_| TooLong)?;
        if pos == NEVER {
            return Err(TooLong);
        }
        if let Some(prev) = self.last.insert(key, pos) {
            self.next[prev as usize] = pos;
        }
        self.next.push(NEVER);
        Ok(())
    }

    /// Requests recorded.
    pub fn len(&self) -> usize {
        self.next.len()
    }

    /// Whether no request was recorded.
    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// Distinct keys seen.
    pub fn unique_keys(&self) -> usize {
        self.last.len()
    }

    /// The next-use array: `next[i]` is the position of the next request of
    /// request `i`'s key, or [`NEVER`].
    pub fn finish(self) -> Vec<u32> {
        self.next
    }
}

/// Hits of Belady's OPT with room for `capacity` keys, given the next-use
/// array from [`NextUse`]. Every request is a demand fetch: a missed key is
/// inserted, and may be the one evicted right away (if it is never
/// requested again or furthest off), which counts the same as bypassing it.
pub fn belady_hits(next: &[u32], capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    // Members: the next-use positions of resident keys. A key never used
    // again gets a unique position past the end, `len + i`, so it sorts last.
    let mut cache: BTreeSet<u64> = BTreeSet::new();
    let end = next.len() as u64;
    let mut hits = 0;
    for (i, &n) in next.iter().enumerate() {
        let i = i as u64;
        if cache.first() == Some(&i) {
            cache.pop_first();
            hits += 1;
        }
        cache.insert(if n == NEVER { end + i } else { u64::from(n) });
        if cache.len() > capacity {
            cache.pop_last();
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_use_positions() {
        let mut n = NextUse::default();
        for k in [5u64, 6, 5, 5, 7] {
            assert!(n.push(k).is_ok());
        }
        assert_eq!(n.unique_keys(), 3);
        assert_eq!(n.finish(), vec![2, NEVER, 3, NEVER, NEVER]);
    }

    #[test]
    fn evicts_furthest_next_use() {
        let mut n = NextUse::default();
        // Cache of 2: at 3 (miss) OPT keeps 1 and 2, used sooner than 3.
        for k in [1u64, 2, 3, 1, 2, 1, 2, 3] {
            assert!(n.push(k).is_ok());
        }
        assert_eq!(belady_hits(&n.finish(), 2), 4);
    }
}
