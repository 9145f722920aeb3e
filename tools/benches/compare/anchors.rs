//! The newer anchors, used directly: Cloudflare's TinyUFO, foyer's
//! in-memory cache under each of its eviction policies, and mini-moka's
//! sync cache. None has a loader that runs a closure synchronously and
//! coalesces concurrent misses, so get-or-insert is `get`, then on a miss
//! `insert` (the way their docs show a read-through).

use std::time::Duration;

use ttlkit::PolicyKind;

use crate::targets::Target;

/// An eviction policy foyer-memory ships, each its own row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoyerPolicy {
    Fifo,
    Lru,
    /// Foyer's `Lfu`: a window TinyLFU (window, probation, protected, and
    /// a count-min sketch), beside ours under the w-tinylfu names.
    WTinyLfu,
    S3Fifo,
    Sieve,
}

impl FoyerPolicy {
    /// The foyer policy that is the same algorithm as ours, if foyer has one.
    pub fn same_as(policy: PolicyKind) -> Option<FoyerPolicy> {
        Some(match policy {
            PolicyKind::Fifo => FoyerPolicy::Fifo,
            PolicyKind::Lru => FoyerPolicy::Lru,
            PolicyKind::Sieve => FoyerPolicy::Sieve,
            PolicyKind::S3Fifo => FoyerPolicy::S3Fifo,
            PolicyKind::WTinyLfu | PolicyKind::WTinyLfuClimb | PolicyKind::WTinyLfuV2 => FoyerPolicy::WTinyLfu,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FoyerPolicy::Fifo => "fifo",
            FoyerPolicy::Lru => "lru",
            FoyerPolicy::WTinyLfu => "w-tinylfu (foyer's lfu)",
            FoyerPolicy::S3Fifo => "s3-fifo",
            FoyerPolicy::Sieve => "sieve",
        }
    }

    /// Foyer's own default configuration of the policy (what its docs and
    /// examples use): LRU with its 0.9 high-priority pool, w-TinyLFU with a
    /// 10% window and 80% protected, S3-FIFO with a 10% small queue and a
    /// ghost queue as large as the cache.
    fn config(self) -> foyer_memory::EvictionConfig {
        match self {
            FoyerPolicy::Fifo => foyer_memory::FifoConfig::default().into(),
            FoyerPolicy::Lru => foyer_memory::LruConfig::default().into(),
            FoyerPolicy::WTinyLfu => foyer_memory::LfuConfig::default().into(),
            FoyerPolicy::S3Fifo => foyer_memory::S3FifoConfig::default().into(),
            FoyerPolicy::Sieve => foyer_memory::SieveConfig.into(),
        }
    }
}

/// Foyer's in-memory cache of `capacity` entries (each weighs 1, its
/// default weigher), with its default shard count.
pub fn foyer(policy: FoyerPolicy, capacity: usize) -> foyer_memory::Cache<u64, u64> {
    foyer_memory::CacheBuilder::new(capacity).with_eviction_config(policy.config()).build()
}

/// TinyUFO, boxed: it holds its queues and sketch inline.
pub struct TinyUfo(Box<tinyufo::TinyUfo<u64, u64>>);

/// TinyUFO holding `capacity` entries of weight 1, its estimator sized for
/// as many (as its hit-ratio bench configures it).
pub fn tinyufo(capacity: usize) -> TinyUfo {
    TinyUfo(Box::new(tinyufo::TinyUfo::new(capacity, capacity)))
}

/// mini-moka's sync cache of `capacity` entries with a sliding `tti`.
pub fn mini_moka(capacity: u64, tti: Duration) -> mini_moka::sync::Cache<u64, u64> {
    mini_moka::sync::Cache::builder().max_capacity(capacity).time_to_idle(tti).build()
}

/// The keys of `0..n` a cache answers: for caches with no exact length
/// (TinyUFO has none; mini-moka counts after its pending maintenance).
fn answered(target: &impl Target, n: u64) -> usize {
    (0..n).filter(|&k| target.get(k).is_some()).count()
}

impl Target for TinyUfo {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        if let Some(v) = self.0.get(&key) {
            return v;
        }
        *misses += 1;
        self.0.put(key, key, 1);
        key
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        self.0.get(&key)
    }
    fn insert(&self, key: u64, value: u64) {
        self.0.put(key, value, 1);
    }
    fn len(&self) -> usize {
        0
    }
    fn held(&self, inserted: u64) -> usize {
        answered(self, inserted)
    }
    fn settle(&self) {}
}

impl Target for foyer_memory::Cache<u64, u64> {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        if let Some(entry) = foyer_memory::Cache::get(self, &key) {
            return *entry.value();
        }
        *misses += 1;
        *foyer_memory::Cache::insert(self, key, key).value()
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        foyer_memory::Cache::get(self, &key).map(|entry| *entry.value())
    }
    fn insert(&self, key: u64, value: u64) {
        foyer_memory::Cache::insert(self, key, value);
    }
    fn len(&self) -> usize {
        self.entries()
    }
    fn settle(&self) {}
}

impl Target for mini_moka::sync::Cache<u64, u64> {
    #[inline]
    fn get_or_insert(&self, key: u64, misses: &mut u64) -> u64 {
        if let Some(v) = mini_moka::sync::Cache::get(self, &key) {
            return v;
        }
        *misses += 1;
        mini_moka::sync::Cache::insert(self, key, key);
        key
    }
    #[inline]
    fn get(&self, key: u64) -> Option<u64> {
        mini_moka::sync::Cache::get(self, &key)
    }
    fn insert(&self, key: u64, value: u64) {
        mini_moka::sync::Cache::insert(self, key, value);
    }
    fn len(&self) -> usize {
        usize::try_from(self.entry_count()).unwrap_or(usize::MAX)
    }
    fn held(&self, inserted: u64) -> usize {
        answered(self, inserted)
    }
    fn settle(&self) {}
}
