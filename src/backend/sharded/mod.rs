//! The `sharded` backend: read hits take no lock.
//!
//! Keys are spread over N shards (a power of two). Each shard is an
//! open-addressing table of atomic entry pointers that readers probe without
//! any lock, plus writer state behind the shard's mutex.
//!
//! * **Read hit**: pin the epoch (thread-local), load the table, probe,
//!   check the deadlines, clone the value. The only shared writes are the
//!   access stamp, rewritten only when it lags by more than the refresh
//!   granularity, and the policy's reference bit, set only if clear; so a
//!   hot key's cache line is not bounced on every hit.
//! * **Writes** lock one shard. An overwrite publishes a new entry; removed
//!   entries are flagged, unlinked and freed through epoch-based
//!   reclamation (`crossbeam-epoch`) once no reader can hold them.
//! * **Eviction**: hits reach the policy as reference bits. A policy's
//!   victim whose bit is set gets a second chance (the bit is cleared and
//!   it is re-inserted into the policy) up to 16 times per eviction. For
//!   CLOCK and SIEVE this *is* their algorithm; LRU becomes CLOCK-like
//!   (recency is refreshed lazily, at eviction time); W-TinyLFU's sketch
//!   counts at most one hit per entry between two looks at it.
//! * **Capacity** is global: a cache-wide weight counter. An insert that
//!   takes it over the bound first removes expired entries from any shard
//!   (each shard keeps a lower bound of its deadlines, so shards with
//!   nothing due are skipped without a lock), then policy victims from its
//!   own shard if that holds more than its share, else from the next shards
//!   in turn, until the bound holds again. Concurrent inserts may overshoot
//!   by at most one entry each until they finish. An entry heavier than the
//!   whole bound is refused at once (reported as evicted) instead of
//!   flushing everything else.
//! * **Expiry** runs on a timer wheel per shard (see `wheel.rs`): cost
//!   follows the expired entries (plus one refile per read entry per idle
//!   window), never the map size. Besides the sweeper and purges, every
//!   insert whose shard may hold something due removes a few expired
//!   entries (`RECLAIM_PER_WRITE`), so they cannot pile up under writes.
//! * **Accounting** (`weight.rs`): a write sums its weight change under the
//!   shard lock and commits it, in that critical section, to the shard's and
//!   the cache-wide totals. Policy and user code (weigher, clone, hash) run
//!   before a write mutates anything, so a panic there leaves the shard as
//!   it was, and what a write removed before panicking is still reported.
//! * **Shards**: `CacheBuilder::shards`, else four per core; a cache with a
//!   small `max_capacity` uses fewer (one per 64 entries of capacity), so its
//!   policy sees enough entries to choose well.

mod entry;
#[cfg(test)]
mod panic_tests;
mod ptr;
#[cfg(test)]
mod reclaim_tests;
mod shard;
mod table;
#[cfg(test)]
mod tests;
mod weight;
mod wheel;

use std::borrow::Borrow;
use std::fmt;
use std::hash::Hash;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use shard::{Settings, Shard};

use crate::builder::{BuildError, Config, FromConfig};
use crate::cache::{CacheStats, SlidingTtlCache};
use crate::clock::{duration_to_nanos, ClockSource, Ticks};
use crate::invalidation::{Gate, LoadTicket};
use crate::kind::BackendKind;
use crate::listener::{notify, RemovalListener, Removed};
use crate::loader::{LoadTarget, Loader};
use crate::stats::StatsCounter;
use crate::sweeper::{Sweep, Sweeper};
use crate::sync::{Arc, AtomicU64, AtomicUsize};

/// Entries a sweep or purge visits per lock hold.
const BATCH: usize = 256;

/// A cache whose read hits take no lock. See the [module docs](self).
pub struct ShardedCache<K, V> {
    inner: Arc<Inner<K, V>>,
    sweeper: Option<Arc<Sweeper>>,
}

struct Inner<K, V> {
    shards: Box<[Shard<K, V>]>,
    shift: u32,
    settings: Settings<K, V>,
    clock: ClockSource,
    stats: StatsCounter,
    listener: Option<RemovalListener<K, V>>,
    loader: Loader<K, V>,
    /// Where capacity eviction and the sweeper look next.
    evict_cursor: AtomicUsize,
    sweep_cursor: AtomicUsize,
}

impl<K, V> Clone for ShardedCache<K, V> {
    fn clone(&self) -> Self {
        ShardedCache { inner: Arc::clone(&self.inner), sweeper: self.sweeper.clone() }
    }
}

impl<K, V> fmt::Debug for ShardedCache<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedCache")
            .field("shards", &self.inner.shards.len())
            .field("sweeper", &self.sweeper.is_some())
            .finish_non_exhaustive()
    }
}

/// The shard count: the configured one, else four per core, capped so each
/// shard's share of a small capacity is at least 64 entries.
fn shard_count(configured: Option<usize>, max_capacity: Option<u64>) -> usize {
    if let Some(n) = configured {
        return n;
    }
    let cores = std::thread::available_parallelism().map_or(4, usize::from);
    let default = (cores * 4).next_power_of_two();
    match max_capacity {
        Some(cap) => {
            let by_capacity = usize::try_from(cap / 64).unwrap_or(usize::MAX).max(1);
            // Largest power of two not above `by_capacity`.
            let floor_pow2 = 1usize << (usize::BITS - 1 - by_capacity.leading_zeros());
            default.min(floor_pow2)
        }
        None => default,
    }
}

impl<K, V> FromConfig<K, V> for ShardedCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn from_config(config: Config<K, V>) -> Result<Self, BuildError> {
        let n = shard_count(config.shards, config.max_capacity);
        let span = duration_to_nanos(config.time_to_idle);
        // Entries, not weight: see `CacheBuilder::expected_entries`.
        let per_shard = config.policy_entries.map(|e| usize::try_from(e.div_ceil(n as u64)).unwrap_or(usize::MAX));
        let shards: Box<[Shard<K, V>]> =
            (0..n).map(|_| Shard::new(span, per_shard.map(|cap| config.policy.build(cap)))).collect();
        let inner = Arc::new(Inner {
            shards,
            shift: u64::BITS - n.trailing_zeros(),
            settings: Settings {
                rules: config.rules,
                hasher: Default::default(),
                weigher: config.weigher,
                max_weight: config.max_capacity,
                total_weight: AtomicU64::new(0),
            },
            clock: config.clock,
            stats: StatsCounter::default(),
            listener: config.listener,
            loader: Loader::default(),
            evict_cursor: AtomicUsize::new(0),
            sweep_cursor: AtomicUsize::new(0),
        });
        let sweeper = match config.sweep_interval {
            Some(every) => {
                Some(Arc::new(Sweeper::start(Arc::downgrade(&inner), every).map_err(BuildError::SpawnSweeper)?))
            }
            None => None,
        };
        Ok(ShardedCache { inner, sweeper })
    }
}

impl<K, V> Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        // High bits pick the shard; the table probes from the low bits.
        hash.checked_shr(self.shift).unwrap_or(0) as usize
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, V> {
        &self.shards[self.shard_index(hash)]
    }

    fn notify(&self, removed: Vec<Removed<K, V>>) {
        if !removed.is_empty() {
            notify(self.listener.as_ref(), &self.stats, removed);
        }
    }

    /// Runs a write with a list for what it removes, then reports that list
    /// (after every lock is released), even when the write panicked (a
    /// weigher or policy bug): what it removed before the panic is gone and
    /// must be heard of. The panic then carries on.
    fn reporting<R>(&self, write: impl FnOnce(&mut Vec<Removed<K, V>>) -> R) -> R {
        let mut removed = Vec::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| write(&mut removed)));
        self.notify(removed);
        outcome.unwrap_or_else(|panic| resume_unwind(panic))
    }

    #[inline]
    fn read<Q>(&self, key: &Q, refresh: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.settings.hash(key);
        self.shard(hash).read(hash, key, &self.settings.rules, self.clock.now(), refresh)
    }

    /// An explicit insert (`ticket` is `None`) or a load's store (which
    /// `ticket` may refuse); returns whether it stored.
    fn insert(&self, key: K, value: V, ticket: Option<&LoadTicket<'_>>) -> bool {
        let hash = self.settings.hash(&key);
        let gate = match ticket {
            Some(ticket) => Gate::Commit(ticket),
            None => Gate::Write(self.loader.marks(), hash),
        };
        let own = self.shard_index(hash);
        let now = self.clock.now();
        self.reporting(|removed| {
            if !self.shards[own].insert(&self.settings, hash, key, value, now, removed, &gate) {
                return false;
            }
            self.stats.insert();
            self.enforce_capacity(own, now, removed);
            true
        })
    }

    /// The weight all shards hold (as of their last write).
    fn weight(&self) -> u64 {
        self.settings.total_weight.load(Ordering::Relaxed)
    }

    /// Evicts until the total weight is within the bound: expired entries
    /// first, from any shard (a shard whose due hint is in the future is
    /// skipped without locking it), then policy victims.
    fn enforce_capacity(&self, own: usize, now: Ticks, removed: &mut Vec<Removed<K, V>>) {
        let Some(max) = self.settings.max_weight else { return };
        let n = self.shards.len();
        let fair_share = max.div_ceil(n as u64);
        let mut fruitless = 0;
        while self.weight() > max && fruitless < 2 * n {
            if self.expire_anywhere(own, now, removed) {
                fruitless = 0;
                continue;
            }
            let i = if self.shards[own].weight() > fair_share {
                own
            } else {
                self.evict_cursor.fetch_add(1, Ordering::Relaxed) % n
            };
            let shard = &self.shards[i];
            if shard.len() > 0 && shard.evict_one(&self.settings, removed) {
                fruitless = 0;
            } else {
                fruitless += 1;
            }
        }
    }

    /// Removes a batch of expired entries from the first shard (own first)
    /// that has any; returns whether it removed something.
    fn expire_anywhere(&self, own: usize, now: Ticks, removed: &mut Vec<Removed<K, V>>) -> bool {
        let n = self.shards.len();
        for k in 0..n {
            let i = (own + k) % n;
            let shard = &self.shards[i];
            if !shard.may_have_expired(now) {
                continue;
            }
            let (expired, _) = shard.expire(&self.settings, now, 64, removed);
            if expired > 0 {
                return true;
            }
        }
        false
    }

    /// One bounded batch of expiry on one shard; returns (removed, more
    /// pending there).
    fn expire_batch(&self, shard: usize) -> (usize, bool) {
        self.reporting(|removed| self.shards[shard].expire(&self.settings, self.clock.now(), BATCH, removed))
    }
}

impl<K, V> Sweep for Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn sweep_batch(&self) -> bool {
        // One batch per shard per call, round robin; "more" if any shard
        // has more due.
        let n = self.shards.len();
        let start = self.sweep_cursor.fetch_add(1, Ordering::Relaxed);
        let mut more = false;
        for k in 0..n {
            more |= self.expire_batch((start + k) % n).1;
        }
        more
    }
}

impl<K, V> LoadTarget<K, V> for Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn lookup(&self, key: &K) -> Option<V> {
        self.read(key, true)
    }

    fn begin(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        let hash = self.settings.hash(key);
        let ticket = self.loader.marks().register(hash);
        let found = self.shard(hash).read_locked(hash, key, &self.settings.rules, self.clock.now(), || ticket.arm());
        (ticket, found)
    }

    fn commit(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        self.insert(key, value, Some(ticket))
    }

    fn load_failed(&self) {
        self.stats.load_failure();
    }
}

impl<K, V> SlidingTtlCache<K, V> for ShardedCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn backend_name(&self) -> &'static str {
        BackendKind::Sharded.name()
    }

    #[inline]
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let value = self.inner.read(key, true);
        self.inner.stats.lookup(value.is_some());
        value
    }

    fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.read(key, false)
    }

    fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.read(key, false).is_some()
    }

    fn insert(&self, key: K, value: V) {
        self.inner.insert(key, value, None);
    }

    fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &self.inner;
        let hash = inner.settings.hash(key);
        let shard = inner.shard(hash);
        let gate = Gate::Write(inner.loader.marks(), hash);
        inner.reporting(|removed| shard.remove(&inner.settings, hash, key, inner.clock.now(), removed, &gate))
    }

    fn try_get_or_insert_with<F, E>(&self, key: K, init: F) -> Result<V, Arc<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        self.inner.loader.get_or_load(&*self.inner, &self.inner.stats, key, init)
    }

    fn len(&self) -> usize {
        self.inner.shards.iter().map(Shard::len).sum()
    }

    fn clear(&self) {
        let inner = &self.inner;
        for (i, shard) in inner.shards.iter().enumerate() {
            // Only this shard's keys: a load of a key in a shard cleared
            // earlier, which looked after that, is not overtaken by this one.
            let in_shard = |hash: u64| inner.shard_index(hash) == i;
            inner.reporting(|removed| {
                shard.clear(&inner.settings, inner.clock.now(), removed, &Gate::Clear(inner.loader.marks(), &in_shard))
            });
        }
    }

    fn purge_expired(&self) -> usize {
        let mut total = 0;
        for i in 0..self.inner.shards.len() {
            loop {
                let (n, more) = self.inner.expire_batch(i);
                total += n;
                if !more {
                    break;
                }
            }
        }
        total
    }

    fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }

    fn begin_load(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        self.inner.begin(key)
    }

    fn commit_load(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        self.inner.commit(key, value, ticket)
    }
}
