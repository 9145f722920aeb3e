//! What the conformance suite runs against: a [`Target`] builds a cache
//! implementing `SlidingTtlCache` from a `CacheBuilder` and says which of
//! the suite's [`Need`]s it meets. The in-process backends are one target
//! type ([`InProcess`], a backend and a policy); the Redis test binary adds
//! `RedisCache` and `TieredCache` (`tests/redis/suite.rs`). A new backend or
//! a third-party cache runs the suite by implementing `Target` and adding
//! one line to a test binary's list of targets.

#![allow(dead_code)] // Each binary that includes this uses part of it.

use std::hash::Hash;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, PolicyKind, SlidingTtlCache};

/// The bounds on the suite's keys (`u32`, `u64`, `String`): those of
/// `SlidingTtlCache`, plus serde's, which Redis needs.
pub trait Key: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Hash + Eq + Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Key for T {}

/// The bounds on the suite's values.
pub trait Value: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Value for T {}

/// What a case asks of its target beyond the `SlidingTtlCache` contract
/// that every target meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The cache keeps time by the `MockClock` its builder was given, so a
    /// case moves time with `advance` (and expiry is reported as `Expired`
    /// by `purge_expired`).
    MockClock,
    /// The cache honours `max_capacity`, `weigher` and `shards`.
    Capacity,
    /// An `insert`, `remove` or `clear` made while a load runs wins over
    /// the load's value (the backend tracks its own writes).
    TrackedLoads,
    /// `entry_info` and `iter` answer (every in-process backend; a core
    /// that leaves `Core::inspect` and `Core::for_each_live` at their
    /// defaults does not).
    Inspection,
    /// Entries can have deadlines of their own: `insert_with_ttl` and
    /// `CacheBuilder::expire_after` (every in-process backend).
    PerEntry,
    /// `set_max_capacity`, `set_time_to_idle` and `set_time_to_live`
    /// change a cache in use (mutex and sharded; moka's bound and timers
    /// are fixed when it is built).
    Reconfigure,
    /// `coldest` and `hottest` rank the entries (an in-process backend
    /// other than moka, under a policy that can tell: not CLOCK or SIEVE).
    Ranking,
}

/// A cache implementation the suite runs against.
pub trait Target: Send + Sync + 'static {
    /// The cache it builds.
    type Cache<K: Key, V: Value>: SlidingTtlCache<K, V>;

    /// Whether the target meets `need`; cases that need what it does not
    /// meet are not run on it.
    fn has(&self, need: Need) -> bool;

    /// The builder a case that sets its own expiry starts from (nothing
    /// expires yet): for a target with [`Need::MockClock`], `clock` and no
    /// sweeper.
    fn base_builder<K: Key, V: Value>(&self, clock: &MockClock) -> CacheBuilder<K, V> {
        CacheBuilder::new().clock(clock.clone()).no_sweeper()
    }

    /// The builder most cases start from: [`base_builder`](Self::base_builder)
    /// with idle timeout `tti`.
    fn builder<K: Key, V: Value>(&self, tti: Duration, clock: &MockClock) -> CacheBuilder<K, V> {
        self.base_builder(clock).time_to_idle(tti)
    }

    /// Builds a cache from a builder a case configured.
    fn build<K: Key, V: Value>(&self, b: CacheBuilder<K, V>) -> Self::Cache<K, V>;

    /// Checks made after each case (for example, no backend error).
    fn finish(&self) {}
}

/// An in-process backend running a policy, built through `AnyCache::new`.
#[derive(Debug, Clone, Copy)]
pub struct InProcess {
    /// The backend.
    pub backend: BackendKind,
    /// The eviction policy.
    pub policy: PolicyKind,
}

impl InProcess {
    /// Every backend × policy pair the backend runs (`BackendKind::supports`).
    pub fn all() -> Vec<InProcess> {
        BackendKind::ALL
            .iter()
            .flat_map(|&backend| PolicyKind::ALL.iter().map(move |&policy| InProcess { backend, policy }))
            .filter(|t| t.backend.supports(t.policy))
            .collect()
    }

    /// The test-name prefix: `mutex_lru`, `sharded_w_tinylfu_v2`.
    pub fn name(&self) -> String {
        format!("{}_{}", self.backend.name(), self.policy.name()).replace('-', "_")
    }
}

impl Target for InProcess {
    type Cache<K: Key, V: Value> = AnyCache<K, V>;

    fn has(&self, need: Need) -> bool {
        let moka = self.backend.name() == "moka"; // the variant exists only with the feature
        match need {
            Need::Reconfigure => !moka,
            Need::Ranking => !moka && !matches!(self.policy, PolicyKind::Clock | PolicyKind::Sieve),
            _ => true,
        }
    }

    fn base_builder<K: Key, V: Value>(&self, clock: &MockClock) -> CacheBuilder<K, V> {
        CacheBuilder::new().clock(clock.clone()).no_sweeper().policy_kind(self.policy)
    }

    fn build<K: Key, V: Value>(&self, b: CacheBuilder<K, V>) -> AnyCache<K, V> {
        AnyCache::new(self.backend, b).unwrap()
    }
}
