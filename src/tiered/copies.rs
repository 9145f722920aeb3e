//! The L1 copies of a tiered cache and the index that lets an invalidation
//! find them: tracking names a key by its Redis key name, which carries
//! only its digest, so every fill files its key under its digest.
//!
//! Nothing here calls L1 while holding the index's lock: an L1 built from
//! the user's builder may run a listener that uses the tiered cache.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use super::epochs::Stamp;
use super::stats::State;
use crate::backend::redis::record::{decode_exact, key_digest, Digest};
use crate::cache::SlidingTtlCache;

/// The index never shrinks below this many digests before it is pruned.
const MIN_PRUNE_AT: usize = 4096;

/// Where the invalidation connections deliver.
pub(crate) trait Sink: Send + Sync {
    /// Tracking dropped the data key with this digest.
    fn digest(&self, d: Digest);
    /// Pub/sub carried this encoded key.
    fn encoded_key(&self, key: &[u8]);
    /// Every copy may be stale.
    fn flush(&self);
    /// The shared invalidation state.
    fn state(&self) -> &State;
}

/// The digests of the keys filed since the last prune, with the key(s)
/// each stands for (two unequal keys can share a digest).
struct Index<K> {
    by_digest: HashMap<u128, Filed<K>>,
    /// Bumped by every fill, so a prune can tell a digest refiled meanwhile.
    next_gen: u64,
    prune_at: usize,
}

struct Filed<K> {
    keys: Vec<K>,
    gen: u64,
}

/// L1 and its index.
pub(crate) struct Copies<K, V, L1> {
    pub(crate) l1: L1,
    index: Mutex<Index<K>>,
    pruning: AtomicBool,
    state: Arc<State>,
    _v: PhantomData<fn() -> V>,
}

impl<K, V, L1> Copies<K, V, L1>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    L1: SlidingTtlCache<K, V>,
{
    pub(crate) fn new(l1: L1, state: Arc<State>) -> Self {
        let index = Index { by_digest: HashMap::new(), next_gen: 0, prune_at: MIN_PRUNE_AT };
        Copies { l1, index: Mutex::new(index), pruning: AtomicBool::new(false), state, _v: PhantomData }
    }

    /// The epochs before an L2 read of `d`.
    pub(crate) fn stamp(&self, d: Digest) -> Stamp {
        self.state.epochs.stamp(d)
    }

    /// Keeps a copy of a value read from (or written to) L2 after `stamp`,
    /// unless invalidation is down or may have overtaken the read.
    pub(crate) fn fill(&self, key: K, d: Digest, value: V, stamp: Stamp) {
        if !self.state.is_live() {
            return;
        }
        self.file(d, &key);
        self.l1.insert(key.clone(), value);
        if !self.state.is_live() || self.state.epochs.moved(d, stamp) {
            self.l1.remove(&key);
        }
    }

    /// Drops this cache's own copy of a key it writes.
    pub(crate) fn forget<Q>(&self, key: &Q, d: Digest)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.state.epochs.bump(d);
        self.l1.remove(key);
    }

    /// Files `key` under `d` (before its copy goes in).
    fn file(&self, d: Digest, key: &K) {
        let prune = {
            let mut index = self.index.lock();
            index.next_gen += 1;
            let gen = index.next_gen;
            let filed = index.by_digest.entry(d.0).or_insert_with(|| Filed { keys: Vec::new(), gen });
            filed.gen = gen;
            if !filed.keys.contains(key) {
                filed.keys.push(key.clone());
            }
            index.by_digest.len() > index.prune_at
        };
        if prune && !self.pruning.swap(true, SeqCst) {
            self.prune();
            self.pruning.store(false, SeqCst);
        }
    }

    /// Unfiles the digests whose keys have no copy left (L1 expired or
    /// evicted them). The global epoch is bumped first: a fill whose check
    /// comes later drops its copy, and one whose check came earlier had
    /// its copy in L1 before the `contains_key` below looks.
    fn prune(&self) {
        let sample: Vec<(u128, u64, Vec<K>)> =
            self.index.lock().by_digest.iter().map(|(d, f)| (*d, f.gen, f.keys.clone())).collect();
        self.state.epochs.bump_all();
        let dead: Vec<(u128, u64)> = sample
            .into_iter()
            .filter(|(_, _, keys)| keys.iter().all(|k| !self.l1.contains_key(k)))
            .map(|(d, gen, _)| (d, gen))
            .collect();
        let mut index = self.index.lock();
        for (d, gen) in dead {
            if index.by_digest.get(&d).is_some_and(|f| f.gen == gen) {
                index.by_digest.remove(&d);
            }
        }
        index.prune_at = MIN_PRUNE_AT.max(2 * index.by_digest.len());
    }

    /// How many digests are filed (for tests of the pruning).
    #[cfg(test)]
    fn filed(&self) -> usize {
        self.index.lock().by_digest.len()
    }
}

impl<K, V, L1> Sink for Copies<K, V, L1>
where
    K: Hash + Eq + Clone + Send + Sync + 'static + DeserializeOwned,
    V: Clone + Send + Sync + 'static,
    L1: SlidingTtlCache<K, V>,
{
    fn digest(&self, d: Digest) {
        self.state.epochs.bump(d);
        let keys = self.index.lock().by_digest.remove(&d.0).map(|f| f.keys).unwrap_or_default();
        for k in &keys {
            self.l1.remove(k);
        }
        self.state.applied();
    }

    fn encoded_key(&self, key: &[u8]) {
        match decode_exact::<K>("an invalidation message", key) {
            Ok(k) => {
                let d = key_digest(&k);
                self.state.epochs.bump(d);
                self.index.lock().by_digest.remove(&d.0);
                self.l1.remove(&k);
                self.state.applied();
            }
            // A key this process cannot decode: be safe.
            Err(_) => self.flush(),
        }
    }

    fn flush(&self) {
        self.state.epochs.bump_all();
        self.index.lock().by_digest.clear();
        self.l1.clear();
        self.state.flushed();
    }

    fn state(&self) -> &State {
        &self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::mutex::MutexCache;
    use crate::backend::redis::record::encode;
    use crate::builder::CacheBuilder;
    use crate::tiered::stats::InvalidationMode;

    fn copies() -> Copies<u64, u64, MutexCache<u64, u64>> {
        let state = Arc::new(State::default());
        state.go_live(InvalidationMode::Tracking, 1);
        Copies::new(CacheBuilder::new().build().unwrap(), state)
    }

    #[test]
    fn an_invalidation_by_digest_drops_the_copy_filed_under_it() {
        let c = copies();
        let d = key_digest(&1u64);
        c.fill(1, d, 10, c.stamp(d));
        assert_eq!(c.l1.peek(&1), Some(10));
        c.digest(key_digest(&2u64));
        assert_eq!(c.l1.peek(&1), Some(10), "another key's invalidation");
        c.digest(d);
        assert_eq!(c.l1.peek(&1), None);
        assert_eq!(c.filed(), 0);
    }

    #[test]
    fn a_fill_overtaken_by_an_invalidation_keeps_nothing() {
        let c = copies();
        let d = key_digest(&1u64);
        let stamp = c.stamp(d);
        c.digest(d); // arrives while the L2 read is in flight
        c.fill(1, d, 10, stamp);
        assert_eq!(c.l1.peek(&1), None);
        let stamp = c.stamp(d);
        c.flush();
        c.fill(1, d, 10, stamp);
        assert_eq!(c.l1.peek(&1), None, "a flush overtakes every fill");
    }

    #[test]
    fn nothing_is_kept_while_invalidation_is_down() {
        let c = copies();
        c.state.go_down("test".to_owned());
        let d = key_digest(&1u64);
        c.fill(1, d, 10, c.stamp(d));
        assert_eq!(c.l1.peek(&1), None);
    }

    #[test]
    fn pub_sub_keys_and_undecodable_ones() {
        let c = copies();
        for k in 0..3u64 {
            let d = key_digest(&k);
            c.fill(k, d, k, c.stamp(d));
        }
        c.encoded_key(&encode(&1u64).unwrap());
        assert_eq!((c.l1.peek(&0), c.l1.peek(&1), c.l1.peek(&2)), (Some(0), None, Some(2)));
        c.encoded_key(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
        assert_eq!(c.l1.len(), 0, "an undecodable key flushes");
        assert_eq!(c.state.snapshot().flushes, 1);
    }

    #[test]
    fn the_index_forgets_keys_l1_let_go_and_keeps_live_ones() {
        let c = copies();
        let live = key_digest(&u64::MAX);
        c.fill(u64::MAX, live, 1, c.stamp(live));
        // The last of these crosses the threshold and prunes.
        for k in 0..(MIN_PRUNE_AT as u64) {
            let d = key_digest(&k);
            c.fill(k, d, k, c.stamp(d));
            c.l1.remove(&k); // as if L1 evicted it
        }
        assert_eq!(c.filed(), 1, "only the live copy stays filed");
        assert_eq!(c.l1.peek(&u64::MAX), Some(1));
        c.digest(live);
        assert_eq!(c.l1.peek(&u64::MAX), None, "still found by its digest");
    }
}
