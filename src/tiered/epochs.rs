//! Invalidation epochs: how a fill of L1 tells that an invalidation may
//! have overtaken the L2 read it is about to keep.
//!
//! A fill stamps the epochs of its key's bucket (and the global one) before
//! it reads L2, keeps its copy, and then drops the copy again if either
//! moved. Every invalidation bumps its key's bucket before it removes the
//! key's copy; a flush bumps the global epoch before it clears L1. So an
//! invalidation is either seen by the fill's check, or comes after the
//! copy is in L1 and removes it. Buckets (by digest) keep invalidations of
//! other keys from dropping most fills under a steady write load.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::backend::redis::record::Digest;

/// Buckets of per-key epochs.
const BUCKETS: usize = 64;

/// The epochs of one tiered cache.
pub(crate) struct Epochs {
    all: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Epochs {
    fn default() -> Self {
        Epochs { all: AtomicU64::new(0), buckets: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

/// The epochs a fill saw before its L2 read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    all: u64,
    bucket: u64,
}

impl Stamp {
    /// This stamp as it reads after one bump of its bucket (a cache's own
    /// write, whose copy is kept only if nothing else moved the epochs).
    pub(crate) fn bumped(self) -> Stamp {
        Stamp { bucket: self.bucket.wrapping_add(1), ..self }
    }
}

fn bucket(d: Digest) -> usize {
    // The digest is uniform: its low bits pick the bucket.
    (d.0 % BUCKETS as u128) as usize
}

impl Epochs {
    pub(crate) fn stamp(&self, d: Digest) -> Stamp {
        Stamp { all: self.all.load(SeqCst), bucket: self.buckets[bucket(d)].load(SeqCst) }
    }

    /// Before a key's copy is removed.
    pub(crate) fn bump(&self, d: Digest) {
        self.buckets[bucket(d)].fetch_add(1, SeqCst);
    }

    /// Before every copy is removed.
    pub(crate) fn bump_all(&self) {
        self.all.fetch_add(1, SeqCst);
    }

    /// Whether an invalidation of `d`'s bucket, or a flush, happened since `s`.
    pub(crate) fn moved(&self, d: Digest, s: Stamp) -> bool {
        self.stamp(d) != s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_moves_only_its_bucket_and_a_flush_moves_all() {
        let e = Epochs::default();
        let (a, b) = (Digest(1), Digest(2));
        let (sa, sb) = (e.stamp(a), e.stamp(b));
        e.bump(a);
        assert!(e.moved(a, sa) && !e.moved(b, sb));
        assert!(!e.moved(a, sa.bumped()), "one bump of its own");
        assert!(!e.moved(Digest(1 + BUCKETS as u128), sa.bumped()), "a digest in the same bucket shares it");
        e.bump_all();
        assert!(e.moved(b, sb) && e.moved(a, sa.bumped()));
    }
}
