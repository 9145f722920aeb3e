//! The `moka` backend: [`MokaCache`] maps the ttlkit contract onto
//! [`moka::sync::Cache`], and closes the places where moka's semantics differ.
//!
//! moka stores an `Arc<Slot>` per key: the user's key and value plus our own
//! stamps (`inserted_at`, `last_access`). moka keeps the map, the concurrency,
//! the capacity bound with its eviction policy and the real-time expiry
//! backstop; the wrapper keeps time, decides expiry, reports removals and
//! runs single-flight loads.
//!
//! # Where moka differs, and how the wrapper closes the gap
//!
//! * **No injectable clock** (moka issue 522: moka's clock is a test-only
//!   setting). Every read checks our stamps with the [`Clock`](crate::clock::Clock)
//!   of the [`Config`], so an expired entry is never returned under any clock,
//!   `MockClock` included. moka's own `time_to_idle`/`time_to_live` are set
//!   (one millisecond longer than ours) only when the clock is the
//!   [`SystemClock`](crate::clock::SystemClock), as a real-time backstop that lets
//!   moka reclaim entries during its own maintenance; under any other clock
//!   real time means nothing to the cache, so moka's expiry is off.
//! * **moka's timer wheels cannot find *our* expired entries**, so the wrapper
//!   keeps its own deadline queues (a min-heap per write stripe, see
//!   `deadlines.rs`): purging pops due items only, never scans the map. They
//!   are not the timer wheel of the `mutex` and `sharded` cores: moka drops
//!   entries inside its own calls, where our hook cannot take a stripe lock
//!   to unfile them, so this index forgets departed entries lazily through
//!   weak handles, which a heap item carries.
//! * **No background thread** (moka issues 349, 379, 544: expired entries
//!   linger and listeners stay silent until the cache is touched). Our
//!   sweeps (on the process's maintenance thread) drive it: each batch
//!   purges the entries our stamps say are expired (at most 256 per stripe
//!   lock hold), then runs moka's `run_pending_tasks` (capacity evictions,
//!   moka's own expiry), then delivers the removals to the listener. Dropping the last handle stops
//!   the sweeps.
//! * **Removal causes.** moka reports `Explicit` for everything removed by
//!   `remove`/`invalidate`, including entries we purge as expired or remove
//!   in `clear`, and `Replaced`/`Size` even for entries our stamps say are
//!   expired. Each slot records its cause once (first decision wins): the
//!   wrapper decides `Expired` or `Cleared` just before asking moka to drop
//!   the entry, and the removal hook otherwise maps moka's cause one to one
//!   (`Expired` → `Expired`, `Size` → `Capacity`, `Explicit` → `Explicit`,
//!   `Replaced` → `Replaced`), except that an entry past its deadline by our
//!   stamps is always reported `Expired`. A per-slot flag makes the hook
//!   idempotent, so every entry is counted and reported exactly once.
//! * **moka calls its listener while holding its own locks** (a key lock,
//!   maintenance locks) and disables a listener that panics. Our hook only
//!   queues the removal; the queue is delivered to the user's listener after
//!   the operation returns from moka, with no lock held, and a panicking
//!   listener is contained by ttlkit. A removal moka makes inside another
//!   thread's call is delivered by the next operation (or sweep) to look.
//! * **`clear`.** moka's `invalidate_all` is lazy and reports `Explicit`.
//!   `clear` instead walks moka's iterator and removes each entry (reported
//!   `Cleared`, or `Expired` if past its deadline). Like moka's iterator it
//!   is weakly consistent: an entry inserted while `clear` runs may survive.
//! * **Conditional removal.** moka has no "remove this key only if it still
//!   holds this value" (its `and_compute_with` is not atomic with a plain
//!   `insert`). Purging an expired entry must never remove a newer value that
//!   raced in, so every write that can *add* a value for a key (insert, the
//!   store step of a load, the removals made by purge and `clear`) holds one
//!   of 64 striped locks chosen by the key's hash. Reads take no lock of ours.
//!   `remove` takes it too, though it removes whatever is there: writes
//!   mark the key's loads in flight under the stripe a load stores under.
//! * **`peek` and `contains_key`** must read the slot to check our stamps,
//!   and moka's only public value read is `get`, which moka counts as an
//!   access: they do not refresh our deadline, but they do move the entry in
//!   moka's eviction order (and reset moka's real-time idle backstop).
//! * **Eviction policy.** moka brings its own, LRU or TinyLFU, and policies
//!   from `ttlkit-strategies` are not plugged into it. The builder's `lru`
//!   (the default) selects moka's LRU and `w-tinylfu` moka's TinyLFU (LRU
//!   eviction behind a frequency-sketch admission filter, without an
//!   admission window; it may refuse to admit a new entry, reported
//!   `Capacity`). Every other policy, `w-tinylfu-climb` and `w-tinylfu-v2`
//!   included, is refused with [`BuildError::UnsupportedPolicy`] rather than
//!   run as one of those two.
//! * **Capacity bound.** moka evicts during maintenance, so between runs the
//!   cache may hold more than `max_capacity`. The wrapper tracks the exact
//!   held weight and, when an insert takes it above `max_capacity +
//!   max_capacity / 64`, first purges due expired entries (expired entries
//!   go first) and then runs moka's maintenance in the inserting thread. So
//!   the documented slack is `max_capacity / 64` (zero below 64), plus one
//!   entry per thread inserting at that moment. Below the bound, moka's
//!   TinyLFU (`w-tinylfu`) with a weigher evicts, for a candidate that does
//!   not fit, victims until *their* weight reaches the candidate's, not
//!   just the excess: a full cache may sit up to twice the heaviest
//!   entry's weight (less two) below its bound. moka's LRU evicts exactly
//!   down to the bound.
//! * **`len()`** is our own exact count of the entries moka holds (moka's
//!   `entry_count` is eventually consistent), including expired entries not
//!   yet purged and entries moka has not run admission on yet.
//! * **Loads** do not use moka's `get_with`/`try_get_with`: moka keys its
//!   waiters by key *and* error type, so callers of one missing key with
//!   different error types each ran `init`. The wrapper runs ttlkit's own
//!   single-flight loader, keyed by the key alone, like the other backends
//!   (see `load.rs`); its store takes the key's stripe, as do `insert`,
//!   `remove` and `clear`, so a write made during a load wins.
//! * **Expiry precision**: as for every backend, a hit rewrites the access
//!   stamp only when it lags by more than the refresh granularity, so an entry
//!   may expire up to one granularity early, never late.

mod deadlines;
mod inner;
mod policy;
mod slot;
#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::hash::Hash;
use std::time::Duration;

use self::inner::Inner;
use crate::builder::{BuildError, Config};
use crate::clock::Ticks;
use crate::core::{Core, Departures, Gate, Stamps};
use crate::frontend::Cache;
use crate::kind::BackendKind;

/// Whether moka runs `policy` (see the module docs, "Eviction policy").
pub(crate) fn supports(policy: ttlkit_strategies::PolicyKind) -> bool {
    policy::eviction_policy(policy).is_ok()
}

/// A cache backed by [`moka::sync::Cache`], with ttlkit's clock, deadlines,
/// removal causes and sweeps. See the [module docs](self) for every place
/// where moka's semantics differ and how this wrapper closes the gap.
///
/// ```
/// use std::time::Duration;
/// use ttlkit::{CacheBuilder, MokaCache, SlidingTtlCache};
/// use ttlkit::clock::MockClock;
///
/// let clock = MockClock::new();
/// let cache: MokaCache<&str, u32> =
///     CacheBuilder::new().time_to_idle(Duration::from_secs(60)).clock(clock.clone()).build()?;
/// cache.insert("a", 1);
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(cache.get("a"), Some(1));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(cache.get("a"), None, "expired by ttlkit's clock, not moka's");
/// # Ok::<(), ttlkit::BuildError>(())
/// ```
pub type MokaCache<K, V> = Cache<K, V, MokaCore<K, V>>;

/// The storage of a [`MokaCache`]: moka, plus our stamps, deadline queues
/// and removal queue around it.
///
/// ```
/// use ttlkit::backend::moka::MokaCore;
/// use ttlkit::core::Core;
///
/// assert_eq!(<MokaCore<u8, u8> as Core<u8, u8>>::NAME, "moka");
/// ```
pub struct MokaCore<K, V> {
    inner: Inner<K, V>,
}

impl<K, V> Core<K, V> for MokaCore<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    const NAME: &'static str = BackendKind::Moka.name();

    fn build(config: &Config<K, V>) -> Result<Self, BuildError> {
        Ok(MokaCore { inner: Inner::new(config)? })
    }

    fn read<Q>(&self, _hash: u64, key: &Q, _now: Ticks, refresh: bool, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if refresh {
            // Purges a value our stamps say is expired.
            return self.inner.lookup(key, out);
        }
        match self.inner.read(key, false, out) {
            Some((slot, seen)) if seen.is_live() => Some(slot.value.clone()),
            _ => None,
        }
    }

    fn read_for_load(&self, hash: u64, key: &K, _now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V> {
        // Under the key's stripe, where its writes mark the load.
        self.inner.lookup_in_stripe(hash, key, || gate.after_change(), out)
    }

    fn upsert(
        &self,
        hash: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        _now: Ticks,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> bool {
        self.inner.upsert(hash, key, value, weight, ttl, gate, out)
    }

    fn remove<Q>(&self, hash: u64, key: &Q, _now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.remove(hash, key, gate, out)
    }

    fn expire(&self, now: Ticks, budget: usize, out: &mut Departures<K, V>) -> (usize, bool) {
        self.inner.expire(now, budget, out)
    }

    fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Departures<K, V>) {
        self.inner.clear(now, gate, out);
    }

    /// Our exact count of entries moka holds, including expired entries not
    /// yet purged and entries moka has not yet run admission on (see the
    /// [module docs](self)).
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn flush(&self, out: &mut Departures<K, V>) {
        self.inner.flush(out);
    }

    /// Moka counts the lookup for its own policy, as for `peek`: moka
    /// has no read that records nothing.
    fn inspect<Q>(&self, _hash: u64, key: &Q, _now: Ticks) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.inner.inspect(key)
    }

    fn for_each_live(&self, _now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        self.inner.for_each_live(f);
    }

    fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }

    fn retain(
        &self,
        _now: Ticks,
        keep: &mut dyn FnMut(&K, &V) -> bool,
        gate: &Gate<'_>,
        out: &mut Departures<K, V>,
    ) -> Option<usize> {
        Some(self.inner.retain(keep, gate, out))
    }
}
