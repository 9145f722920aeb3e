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
//!   `w-tinylfu-auto` reads the bits itself instead: the entry about to
//!   leave (the admission duel's loser) whose bit is set gets its hit (a
//!   probation entry moves to protected) rather than coming back as a
//!   newcomer.
//! * **Capacity** is global: a cache-wide weight counter. An insert that
//!   takes it over the bound first removes expired entries from any shard
//!   (each shard keeps a lower bound of its deadlines, so shards with
//!   nothing due are skipped without a lock), then policy victims from its
//!   own shard if that holds more than its share, else from the next shards
//!   in turn, until the bound holds again. Concurrent inserts may overshoot
//!   by at most one entry each until they finish. An entry heavier than the
//!   whole bound is refused at once (reported as evicted) instead of
//!   flushing everything else.
//! * **Expiry** runs on a timer wheel per shard (`crate::timer_wheel`, the
//!   one the mutex backend uses too), for idle, lifetime and own deadlines
//!   alike. A hit cannot refile its entry (it holds no lock), so the wheel
//!   files each entry under a lower bound of its deadline and files it again
//!   when a walk meets it there: cost follows the expired entries, plus one
//!   refile per read entry per idle window and the cascades to finer
//!   buckets, never the map size. An `Expiry` that moves an own deadline
//!   earlier on a read takes the lock to refile it. Besides the sweeper and
//!   purges, every insert whose shard may hold something due visits a few
//!   due entries (`RECLAIM_PER_WRITE`), so expired ones cannot pile up
//!   under writes.
//! * **Accounting** (`weight.rs`): a write sums its weight change under the
//!   shard lock and commits it, in that critical section, to the shard's and
//!   the cache-wide totals. Policy and user code (clone, hash) run
//!   before a write mutates anything, so a panic there leaves the shard as
//!   it was, and what a write removed before panicking is still reported.
//! * **Shards**: `CacheBuilder::shards`, else four per core; a cache with a
//!   small `max_capacity` uses fewer (one per 64 entries of capacity), so its
//!   policy sees enough entries to choose well.

mod entry;
#[cfg(test)]
mod expiry_tests;
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

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shard::{Settings, Shard};

use crate::builder::{BuildError, Config};
use crate::clock::Ticks;
use crate::core::{Core, Departures, Gate, Stamps};
use crate::expiry::{ExpiryRules, LiveRules};
use crate::frontend::Cache;
use crate::kind::BackendKind;
use crate::sync::{AtomicU64, AtomicUsize};

/// A cache whose read hits take no lock. See the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
/// use ttlkit::prelude::*;
///
/// let cache: Arc<ShardedCache<u64, u64>> = Arc::new(CacheBuilder::new().max_capacity(10_000).shards(8).build()?);
/// let workers: Vec<_> = (0..4)
///     .map(|t| {
///         let cache = Arc::clone(&cache);
///         thread::spawn(move || {
///             for n in 0..100 {
///                 cache.insert(t * 1_000 + n, n);
///             }
///         })
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// assert_eq!(cache.len(), 400);
/// # Ok::<(), BuildError>(())
/// ```
pub type ShardedCache<K, V> = Cache<K, V, ShardedCore<K, V>>;

/// The storage of a [`ShardedCache`]: the shards and the cache-wide weight.
///
/// ```
/// use ttlkit::backend::sharded::ShardedCore;
/// use ttlkit::core::Core;
///
/// assert_eq!(<ShardedCore<u8, u8> as Core<u8, u8>>::NAME, "sharded");
/// ```
pub struct ShardedCore<K, V> {
    shards: Box<[Shard<K, V>]>,
    shift: u32,
    settings: Settings<K, V>,
    /// Where capacity eviction and the sweeps look next.
    evict_cursor: AtomicUsize,
    sweep_cursor: AtomicUsize,
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

impl<K, V> ShardedCore<K, V>
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

    /// The weight all shards hold (as of their last write).
    fn weight(&self) -> u64 {
        self.settings.total_weight.load(Ordering::Relaxed)
    }

    /// Evicts until the total weight is within the bound: expired entries
    /// first, from any shard (a shard whose due hint is in the future is
    /// skipped without locking it), then policy victims.
    fn enforce_capacity(&self, own: usize, now: Ticks, out: &mut Departures<K, V>) {
        let Some(max) = self.settings.max_weight() else { return };
        let n = self.shards.len();
        let fair_share = self.fair_share(max);
        let mut fruitless = 0;
        while self.weight() > max && fruitless < 2 * n {
            if self.expire_anywhere(own, now, out) {
                fruitless = 0;
                continue;
            }
            let i = if self.shards[own].weight() > fair_share {
                own
            } else {
                self.evict_cursor.fetch_add(1, Ordering::Relaxed) % n
            };
            let shard = &self.shards[i];
            if shard.len() > 0 && shard.evict_one(&self.settings, out.list()) {
                fruitless = 0;
            } else {
                fruitless += 1;
            }
        }
    }

    /// Whether [`enforce_capacity`](Self::enforce_capacity)'s first step
    /// would be to evict a policy victim from the writer's own shard, given
    /// its weight and the total after the write: the total is over the
    /// bound, the shard over its fair share, and no shard has anything due
    /// to expire. The write then evicts before releasing its shard's lock;
    /// `enforce_capacity` still runs after it, for anything left.
    fn evicts_at_home(&self, shard: u64, total: u64, now: Ticks) -> bool {
        let Some(max) = self.settings.max_weight() else { return false };
        total > max && shard > self.fair_share(max) && !self.shards.iter().any(|s| s.may_have_expired(now))
    }

    /// A shard's share of the capacity bound `max`: above it, a write evicts
    /// from its own shard rather than from the next one in turn.
    fn fair_share(&self, max: u64) -> u64 {
        max.div_ceil(self.shards.len() as u64)
    }

    /// Removes a batch of expired entries from the first shard (own first)
    /// that has any; returns whether it removed something.
    fn expire_anywhere(&self, own: usize, now: Ticks, out: &mut Departures<K, V>) -> bool {
        let n = self.shards.len();
        for k in 0..n {
            let i = (own + k) % n;
            let shard = &self.shards[i];
            if !shard.may_have_expired(now) {
                continue;
            }
            // Batch by batch until one removes something or the shard has
            // nothing more due (a batch may visit only entries that merely
            // came near their deadline, and refile them).
            loop {
                match shard.expire(&self.settings, now, 64, out.list()) {
                    (0, true) => {}
                    (0, false) => break,
                    _ => return true,
                }
            }
        }
        false
    }
}

impl<K, V> Core<K, V> for ShardedCore<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    const NAME: &'static str = BackendKind::Sharded.name();

    fn build(config: &Config<K, V>) -> Result<Self, BuildError> {
        let n = shard_count(config.shards, config.max_capacity);
        // Entries, not weight: see `CacheBuilder::expected_entries`.
        let per_shard = config.policy_entries.map(|e| usize::try_from(e.div_ceil(n as u64)).unwrap_or(usize::MAX));
        let shards: Box<[Shard<K, V>]> =
            (0..n).map(|_| Shard::new(per_shard.map(|cap| config.policy.build_for_slots(cap)))).collect();
        Ok(ShardedCore {
            shards,
            shift: u64::BITS - n.trailing_zeros(),
            settings: Settings {
                rules: LiveRules::new(config.rules),
                own: config.own.clone(),
                hasher: config.hasher,
                weighted: config.weighted(),
                max_weight: AtomicU64::new(config.max_capacity.unwrap_or(u64::MAX)),
                bounded: config.max_capacity.is_some(),
                total_weight: AtomicU64::new(0),
            },
            evict_cursor: AtomicUsize::new(0),
            sweep_cursor: AtomicUsize::new(0),
        })
    }

    #[inline]
    fn read<Q>(&self, hash: u64, key: &Q, now: Ticks, refresh: bool, _out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(hash).read(hash, key, &self.settings, now, refresh)
    }

    fn read_for_load(&self, hash: u64, key: &K, now: Ticks, gate: &Gate<'_>, _out: &mut Departures<K, V>) -> Option<V> {
        self.shard(hash).read_locked(hash, key, &self.settings, now, || gate.after_change())
    }

    fn upsert(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        now: Ticks,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> bool {
        let home = self.shard_index(hash);
        let evict_here = |shard: u64, total: u64| self.evicts_at_home(shard, total, now);
        if !self.shards[home].insert(&self.settings, hash, key, value, weight, ttl, now, out.list(), gate, evict_here) {
            return false;
        }
        self.enforce_capacity(home, now, out);
        true
    }

    fn remove<Q>(&self, hash: u64, key: &Q, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(hash).remove(&self.settings, hash, key, now, out.list(), gate)
    }

    /// One batch per shard, round robin from where the last left off;
    /// "more" if any shard has more due.
    fn expire(&self, now: Ticks, budget: usize, out: &mut Departures<K, V>) -> (usize, bool) {
        let n = self.shards.len();
        let start = self.sweep_cursor.fetch_add(1, Ordering::Relaxed);
        let (mut removed, mut more) = (0, false);
        for k in 0..n {
            let (done, left) = self.shards[(start + k) % n].expire(&self.settings, now, budget, out.list());
            removed += done;
            more |= left;
        }
        (removed, more)
    }

    fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) {
        for (i, shard) in self.shards.iter().enumerate() {
            // Only this shard's keys: a load of a key in a shard cleared
            // earlier, which looked after that, is not overtaken by this one.
            let in_shard = |hash: u64| self.shard_index(hash) == i;
            shard.clear(&self.settings, now, out.list(), &gate.narrowed(&in_shard));
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    fn inspect<Q>(&self, hash: u64, key: &Q, now: Ticks) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shard(hash).inspect(&self.settings, hash, key, now)
    }

    fn for_each_live(&self, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        for shard in self.shards.iter() {
            shard.for_each_live(&self.settings, now, f);
        }
    }

    fn weighted_size(&self) -> u64 {
        self.weight()
    }

    /// Each shard ranks its own entries; the shards' rankings are
    /// interleaved (first of each, then second of each, ..), which is the
    /// order evictions take them only roughly.
    fn ranked(&self, n: usize, now: Ticks, hottest: bool) -> Option<Vec<(K, V)>> {
        let per_shard: Vec<Vec<(K, V)>> =
            self.shards.iter().map(|shard| shard.ranked(&self.settings, n, now, hottest)).collect::<Option<_>>()?;
        let mut columns: Vec<_> = per_shard.into_iter().map(Vec::into_iter).collect();
        let mut out = Vec::with_capacity(n.min(self.len()));
        while out.len() < n {
            let before = out.len();
            out.extend(columns.iter_mut().filter_map(Iterator::next).take(n - before));
            if out.len() == before {
                break;
            }
        }
        Some(out)
    }

    /// New rules for every reader at once. After a shorter timeout each
    /// shard then refiles its entries under their new deadlines (a pass
    /// over the shard, under its lock), since no entry may stay filed later
    /// than it is due; after longer ones every filing is still a lower
    /// bound, which the wheels need, and they refile what they meet.
    fn set_rules(&self, rules: ExpiryRules, _now: Ticks) -> bool {
        let sooner = !rules.never_sooner_than(&self.settings.rules.get());
        self.settings.rules.set(rules);
        if sooner {
            for shard in self.shards.iter() {
                shard.refile_all(&self.settings);
            }
        }
        true
    }

    fn set_max_capacity(&self, max: u64, now: Ticks, out: &mut Departures<K, V>) -> Result<(), BuildError> {
        if !self.settings.bounded {
            return Err(crate::backend::store::NOT_BOUNDED);
        }
        self.settings.max_weight.store(max, Ordering::Relaxed);
        self.enforce_capacity(0, now, out);
        Ok(())
    }

    fn retain(
        &self,
        now: Ticks,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> Option<usize> {
        let mut removed = 0;
        for (i, shard) in self.shards.iter().enumerate() {
            // As in `clear`: only this shard's keys' loads.
            let in_shard = |hash: u64| self.shard_index(hash) == i;
            removed += shard.retain(&self.settings, now, keep, out.list(), &gate.narrowed(&in_shard));
        }
        Some(removed)
    }
}
