//! The reference model of the `SlidingTtlCache` contract, and the runner that
//! checks a backend against it one operation at a time.
//!
//! Shared, as one copy, by `tests/model.rs` (proptest), `tests/concurrent.rs`,
//! `tests/third_party_core.rs` and the fuzz targets (`fuzz/`); each includes
//! this file with `#[path]`, and its child modules resolve beside it, so the
//! includers name this file alone. It depends on nothing but `ttlkit`, so all
//! of them can use it as is.
//!
//! The model is an ordered map from key to (value, last access, inserted at)
//! plus the clock. Values are serial numbers handed out by the runner, so
//! every stored value is unique and each removal report names exactly one
//! stored entry. The cache is built with a `MockClock`, no sweeper and a
//! zero refresh granularity, so idle expiry is exact and the model can be
//! exact too.
//!
//! What the contract leaves to the backend, the model learns instead of
//! predicting:
//!
//! * **When an expired entry is reported.** `mutex`'s `get` removes an
//!   expired entry it finds; `sharded` leaves it to maintenance. An
//!   `Expired` report may come at any step after the deadline and must have
//!   come by the end of `purge_expired()`.
//! * **Capacity victims** are the policy's choice. A `Capacity` report must
//!   name a live, held entry, come while the cache holds more than its
//!   bound, and (where the backend promises it) only once no expired entry is
//!   left to go first. The bound itself is checked after every step (plus
//!   the backend's documented slack) and exactly after `purge_expired()`.
//!
//! What the contract fixes, the model predicts: each read's result, the
//! cause of every removal made by `insert` (`Replaced`, or `Expired` for an
//! expired old value), `remove` (`Explicit` / `Expired`) and `clear`
//! (`Cleared` / `Expired`), `len()`, and the statistics.
//!
//! This file holds what the includers use (the configuration, the
//! operations, the model's expiry, the backends' allowances, [`check`]) and
//! the step that sends each operation to its family:
//!
//! * `reference.rs`: the model's state and the rules that move it;
//! * `subject.rs`: the backend under test, its clock and listener log;
//! * `reads.rs`: `get`, `peek`, `contains_key`;
//! * `writes.rs`: `insert`, `insert_with_ttl`, `remove`, `clear`, `retain`;
//! * `loads.rs`: `get_or_insert_with`, `try_get_or_insert_with`;
//! * `looks.rs`: `entry_info`, `iter`;
//! * `settings.rs`: `set_max_capacity`, `set_time_to_idle`;
//! * `after.rs`: the checks every step ends with (listener reports, purge
//!   count, reads of every key, `len()` and the bound, statistics);
//! * `decode.rs`: [`decode`], arbitrary bytes to a case (for fuzzing).

mod after;
mod decode;
mod loads;
mod looks;
mod reads;
mod reference;
mod settings;
mod subject;
mod writes;

use std::fmt;
use std::time::Duration;

use ttlkit::clock::Ticks;
use ttlkit::{BackendKind, Expiry, PolicyKind, RemovalCause, SlidingTtlCache};

// Includers that use only part of the harness allow `dead_code`, which
// does not cover an unused re-export.
#[allow(unused_imports)]
pub use decode::decode;
use reference::Model;
use subject::Subject;

/// Keys are drawn from `0..KEYS`: few enough that overwrites, re-reads and
/// capacity pressure are common.
pub const KEYS: u64 = 12;

/// A key of the cache under test.
pub type Key = u64;
/// A value: a serial number, unique per stored value.
pub type Value = u64;

/// One cache configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct ModelConfig {
    /// `time_to_idle`.
    pub idle: Duration,
    /// `max_lifetime`, if any.
    pub lifetime: Option<Duration>,
    /// `max_capacity`, if any.
    pub capacity: Option<u64>,
    /// The eviction policy (used when there is a capacity).
    pub policy: PolicyKind,
    /// The shard count for backends that shard (others ignore it).
    pub shards: Option<usize>,
    /// Whether the cache has the model's [`Expiry`] ([`ModelExpiry`]).
    pub expiry: bool,
}

impl fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "idle {:?}", self.idle)?;
        if let Some(l) = self.lifetime {
            write!(f, ", lifetime {l:?}")?;
        }
        if let Some(c) = self.capacity {
            write!(f, ", capacity {c} ({})", self.policy)?;
        }
        if let Some(s) = self.shards {
            write!(f, ", {s} shards")?;
        }
        if self.expiry {
            write!(f, ", expiry")?;
        }
        Ok(())
    }
}

/// One step of a test sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `insert(key, next serial)`.
    Insert(Key),
    /// `get(key)`.
    Get(Key),
    /// `peek(key)`.
    Peek(Key),
    /// `contains_key(key)`.
    Contains(Key),
    /// `remove(key)`.
    Remove(Key),
    /// `get_or_insert_with(key, || next serial)`.
    GetOrInsert(Key),
    /// `try_get_or_insert_with(key, ..)` whose `init` succeeds (`true`) or
    /// fails (`false`; nothing is cached).
    TryGetOrInsert(Key, bool),
    /// `clear()`.
    Clear,
    /// `MockClock::advance`.
    Advance(Duration),
    /// `purge_expired()`.
    Purge,
    /// `entry_info(key)`: the stamps the model holds, refreshing nothing.
    Info(Key),
    /// `iter()`: exactly the live entries, refreshing nothing.
    Iter,
    /// `insert_with_ttl(key, next serial, ttl)`.
    InsertWithTtl(Key, Duration),
    /// `set_max_capacity(n)`: refused on moka and on a cache built
    /// without a capacity; else the new bound, held at once.
    SetCapacity(u64),
    /// `set_time_to_idle(d)`: refused on moka; else applied to every entry
    /// from its stamps.
    SetIdle(Duration),
    /// `retain(..)` keeping what [`retain_keeps`] says for this mask: the
    /// live entries it rejects leave as `Explicit`, and it returns how many.
    Retain(u16),
}

/// Whether `retain` with `mask` keeps `(key, value)`: bit `key % 15` of the
/// mask is set, or bit 15 is and the value is odd (so values are judged
/// too, not only keys).
pub fn retain_keeps(mask: u16, key: Key, value: Value) -> bool {
    mask & (1 << (key % 15)) != 0 || (mask & 0x8000 != 0 && value % 2 == 1)
}

/// The per-entry expiry the model knows: a created entry lives
/// `(value % 4 + 1)` quarters of the idle timeout, an update keeps its
/// deadline, and a read of an even key moves it to half the idle timeout
/// from the read (earlier or later); never less than a nanosecond.
pub struct ModelExpiry {
    idle: Duration,
}

impl ModelExpiry {
    /// The expiry for a cache whose idle timeout is `idle`.
    pub fn new(idle: Duration) -> Self {
        ModelExpiry { idle }
    }

    /// At least a nanosecond: an entry is live at the instant it is written.
    fn on_create(idle: u64, value: Value) -> u64 {
        (idle / 4 * (value % 4 + 1)).max(1)
    }

    fn on_read(idle: u64, key: Key) -> Option<u64> {
        (key % 2 == 0).then_some((idle / 2).max(1))
    }
}

impl Expiry<Key, Value> for ModelExpiry {
    fn expire_after_create(&self, _: &Key, value: &Value, _: Ticks) -> Option<Duration> {
        Some(Duration::from_nanos(Self::on_create(nanos(self.idle), *value)))
    }

    fn expire_after_read(&self, key: &Key, _: &Value, _: Ticks, _: Option<Duration>) -> Option<Duration> {
        Self::on_read(nanos(self.idle), *key).map(Duration::from_nanos)
    }
}

/// What a backend documents beyond the strict contract, so the model
/// allows exactly that and no more.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// How far above `max_capacity` the cache may be between maintenance
    /// runs (single-threaded use), as a function of the capacity.
    pub capacity_slack: fn(u64) -> u64,
    /// Whether a `Capacity` eviction only happens once no expired entry is
    /// held (expired entries make room first, cache-wide).
    pub expired_first: bool,
}

/// The documented allowances of each backend.
pub fn profile(backend: BackendKind) -> Profile {
    match backend {
        // src/backend/moka.rs: moka evicts during its maintenance, so between
        // runs the cache may hold up to `max_capacity / 64` more (plus one
        // per concurrent inserter, none here). Expired entries still go
        // first: the wrapper purges them before an insert passes the bound.
        #[cfg(feature = "moka")]
        BackendKind::Moka => Profile { capacity_slack: |cap| cap / 64, expired_first: true },
        BackendKind::Mutex => Profile::STRICT,
        #[cfg(feature = "sharded")]
        BackendKind::Sharded => Profile::STRICT,
    }
}

/// The policy a case drawn with `policy` runs on `backend`: `policy` if the
/// backend runs it, else one of those it does run, chosen by `policy`'s
/// place in `PolicyKind::ALL` so every supported policy still gets cases
/// (the refusal itself is checked by `build`).
pub fn runnable_policy(backend: BackendKind, policy: PolicyKind) -> PolicyKind {
    if backend.supports(policy) {
        return policy;
    }
    let runs: Vec<PolicyKind> = PolicyKind::ALL.iter().copied().filter(|&p| backend.supports(p)).collect();
    let place = PolicyKind::ALL.iter().position(|&p| p == policy).unwrap_or(0);
    runs.get(place % runs.len().max(1)).copied().unwrap_or(PolicyKind::Lru)
}

impl Profile {
    /// The contract with no allowance.
    pub const STRICT: Profile = Profile { capacity_slack: |_| 0, expired_first: true };
}

/// A removal the listener reports or the model predicts: (key, value, cause).
type Removal = (Key, Value, RemovalCause);

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Runs `ops` against `backend` built with `config`, checking every step
/// against the model. `Err` says which step broke which rule.
pub fn check(backend: BackendKind, config: &ModelConfig, ops: &[Op]) -> Result<(), String> {
    check_with(backend, profile(backend), config, ops)
}

/// [`check`] with the allowances of `profile` instead of the backend's own.
pub fn check_with(backend: BackendKind, profile: Profile, config: &ModelConfig, ops: &[Op]) -> Result<(), String> {
    let subject = subject::build(backend, config)?;
    let mut model = Model::new(config, profile);
    for (i, &op) in ops.iter().enumerate() {
        step(&subject, &mut model, op).map_err(|e| format!("{backend} ({config:?}), step {i} {op:?}: {e}"))?;
    }
    Ok(())
}

/// Applies one operation to the cache and the model and checks the result:
/// the operation's own checks in its family's file, then those every step
/// shares (`after.rs`).
fn step(s: &Subject, m: &mut Model, op: Op) -> Result<(), String> {
    let cache = &s.cache;
    // Removals the contract fixes for this operation, with their causes.
    let mut predicted: Vec<Removal> = Vec::new();
    let mut purged = None;
    match op {
        Op::Get(k) => reads::get(cache, m, k)?,
        Op::Peek(k) => reads::peek(cache, m, k)?,
        Op::Contains(k) => reads::contains(cache, m, k)?,
        Op::Insert(k) => writes::insert(cache, m, k, &mut predicted),
        Op::InsertWithTtl(k, ttl) => writes::insert_with_ttl(cache, m, k, ttl, &mut predicted)?,
        Op::Remove(k) => writes::remove(cache, m, k, &mut predicted)?,
        Op::Clear => writes::clear(cache, m, &mut predicted),
        Op::Retain(mask) => writes::retain(cache, m, mask, &mut predicted)?,
        Op::GetOrInsert(k) => loads::get_or_insert(cache, m, k, &mut predicted)?,
        Op::TryGetOrInsert(k, succeed) => loads::try_get_or_insert(cache, m, k, succeed, &mut predicted)?,
        Op::Info(k) => looks::info(cache, m, k)?,
        Op::Iter => looks::iter(cache, m)?,
        Op::SetCapacity(n) => settings::set_capacity(cache, m, n)?,
        Op::SetIdle(d) => settings::set_idle(cache, m, d)?,
        Op::Advance(d) => {
            s.clock.advance(d);
            m.now = m.now.saturating_add(nanos(d));
        }
        Op::Purge => purged = Some(cache.purge_expired()),
    }
    after::check(s, m, predicted, purged)
}
