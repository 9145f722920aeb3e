//! The reference model of the `SlidingTtlCache` contract, and the runner that
//! checks a backend against it one operation at a time.
//!
//! Shared, as one copy, by `tests/model.rs` (proptest) and the fuzz targets
//! (`fuzz/`, which include this file with `#[path]`). It depends on nothing
//! but `ttlkit`, so both can use it as is.
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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ttlkit::clock::{MockClock, Ticks};
use ttlkit::{AnyCache, BackendKind, BuildError, CacheBuilder, Expiry, PolicyKind, RemovalCause, SlidingTtlCache};

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

type Log = Arc<Mutex<Vec<(Key, Value, RemovalCause)>>>;

/// What `entry_info` says: (since write, since access, idle left, lifetime
/// left, own left, weight).
type Info = (Duration, Duration, Option<Duration>, Option<Duration>, Option<Duration>, u32);

#[derive(Debug, Clone, Copy)]
struct Stamped {
    value: Value,
    last_access: u64,
    inserted_at: u64,
    /// Its own deadline, `u64::MAX` for none.
    own: u64,
}

/// The reference model: held entries with their stamps, the time, and the
/// statistics the cache must report.
struct Model {
    idle: u64,
    lifetime: u64,
    capacity: Option<u64>,
    expiry: bool,
    /// The idle timeout the cache was built with (the model's `Expiry`
    /// keeps computing from it after `SetIdle`).
    built_idle: u64,
    profile: Profile,
    now: u64,
    /// Entries the cache holds: live ones, and expired ones not reported yet.
    held: BTreeMap<Key, Stamped>,
    hits: u64,
    misses: u64,
    inserts: u64,
    load_failures: u64,
    /// Removals seen by the listener, by `RemovalCause::ALL` index.
    removals: [u64; 5],
    next_value: Value,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn cause_index(cause: RemovalCause) -> usize {
    RemovalCause::ALL.iter().position(|&c| c == cause).unwrap_or(0)
}

impl Model {
    fn deadline(&self, e: &Stamped) -> u64 {
        e.last_access.saturating_add(self.idle).min(e.inserted_at.saturating_add(self.lifetime)).min(e.own)
    }

    fn is_live(&self, e: &Stamped) -> bool {
        self.now < self.deadline(e)
    }

    /// What `entry_info` must say of a live entry.
    fn info(&self, e: &Stamped) -> Info {
        let left = |from: u64, d: u64| Duration::from_nanos(from.saturating_add(d).saturating_sub(self.now));
        let lifetime = (self.lifetime != u64::MAX).then(|| left(e.inserted_at, self.lifetime));
        let own = (e.own != u64::MAX).then(|| left(e.own, 0));
        let since = |t: u64| Duration::from_nanos(self.now - t);
        (since(e.inserted_at), since(e.last_access), Some(left(e.last_access, self.idle)), lifetime, own, 1)
    }

    /// The value a read may return for `key`.
    fn live_value(&self, key: Key) -> Option<Value> {
        self.held.get(&key).filter(|e| self.is_live(e)).map(|e| e.value)
    }

    fn any_expired(&self) -> Option<Key> {
        self.held.iter().find(|(_, e)| !self.is_live(e)).map(|(&k, _)| k)
    }

    fn fresh(&mut self) -> Value {
        self.next_value += 1;
        self.next_value
    }

    /// A write of `value` (with an own time to live `ttl` if given): its
    /// own deadline is `ttl` from now; else, with the expiry, its create
    /// duration, or what a live older entry had (an update keeps it);
    /// else none.
    fn store(&mut self, key: Key, value: Value, ttl: Option<u64>) {
        let now = self.now;
        let previous = self.held.get(&key).filter(|e| self.is_live(e)).map(|e| e.own);
        let own = match (ttl, self.expiry, previous) {
            (Some(ttl), _, _) => now.saturating_add(ttl).min(u64::MAX - 1),
            (None, false, _) => u64::MAX,
            (None, true, None) => now.saturating_add(ModelExpiry::on_create(self.built_idle, value)).min(u64::MAX - 1),
            (None, true, Some(own)) => own,
        };
        self.held.insert(key, Stamped { value, last_access: now, inserted_at: now, own });
        self.inserts += 1;
    }

    /// A hit: refreshes the idle deadline (exactly, granularity zero) and
    /// asks the expiry.
    fn touch(&mut self, key: Key) {
        let (now, idle, expiry) = (self.now, self.built_idle, self.expiry);
        if let Some(e) = self.held.get_mut(&key) {
            e.last_access = now;
            if let Some(d) = ModelExpiry::on_read(idle, key).filter(|_| expiry) {
                e.own = now.saturating_add(d).min(u64::MAX - 1);
            }
        }
        self.hits += 1;
    }

    /// Checks one listener report the model did not predict (an expiry or a
    /// capacity eviction) and forgets the entry it names.
    fn accept_unpredicted(&mut self, key: Key, value: Value, cause: RemovalCause) -> Result<(), String> {
        let Some(e) = self.held.get(&key).copied() else {
            return Err(format!("listener told of ({key}, {value}, {cause}) but key {key} is not held"));
        };
        if e.value != value {
            return Err(format!("listener told of ({key}, {value}, {cause}) but key {key} holds value {}", e.value));
        }
        match cause {
            RemovalCause::Expired if self.is_live(&e) => {
                return Err(format!(
                    "({key}, {value}) reported Expired at t={}ns, before its deadline t={}ns",
                    self.now,
                    self.deadline(&e)
                ))
            }
            RemovalCause::Expired => {}
            RemovalCause::Capacity => {
                let Some(cap) = self.capacity else {
                    return Err(format!("({key}, {value}) evicted for Capacity by a cache without a capacity"));
                };
                if !self.is_live(&e) {
                    return Err(format!("({key}, {value}) evicted for Capacity but it was expired (must be Expired)"));
                }
                let held = self.held.len() as u64;
                if held <= cap {
                    return Err(format!("({key}, {value}) evicted for Capacity while only {held} of {cap} were held"));
                }
                if self.profile.expired_first {
                    if let Some(stale) = self.any_expired() {
                        return Err(format!(
                            "({key}, {value}) evicted for Capacity while expired key {stale} was still held"
                        ));
                    }
                }
            }
            other => return Err(format!("unexpected removal ({key}, {value}, {other}): nothing called for it")),
        }
        self.held.remove(&key);
        Ok(())
    }
}

/// A backend under test, its clock and its listener's log.
struct Subject {
    cache: AnyCache<Key, Value>,
    clock: MockClock,
    log: Log,
}

/// Builds `backend` with `config`, a mock clock, no sweeper, exact idle
/// expiry and a recording listener. A policy the backend does not run must
/// be refused with `UnsupportedPolicy`; the case then runs on
/// [`runnable_policy`].
fn build(backend: BackendKind, config: &ModelConfig) -> Result<Subject, String> {
    let policy = runnable_policy(backend, config.policy);
    if policy != config.policy {
        let b = CacheBuilder::<Key, Value>::new().time_to_idle(config.idle).no_sweeper().policy_kind(config.policy);
        match AnyCache::new(backend, b) {
            Err(BuildError::UnsupportedPolicy { backend: b, policy: p, .. }) if b == backend && p == config.policy => {}
            other => return Err(format!("{backend} must refuse {}, got {other:?}", config.policy)),
        }
    }
    let clock = MockClock::new();
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let mut b = CacheBuilder::<Key, Value>::new()
        .time_to_idle(config.idle)
        .clock(clock.clone())
        .no_sweeper()
        .refresh_granularity(Duration::ZERO)
        .policy_kind(policy)
        .removal_listener(move |k: &Key, v: Value, c| {
            sink.lock().unwrap_or_else(PoisonError::into_inner).push((*k, v, c));
        });
    if let Some(l) = config.lifetime {
        b = b.time_to_live(l);
    }
    if let Some(c) = config.capacity {
        b = b.max_capacity(c);
    }
    if let Some(s) = config.shards {
        b = b.shards(s);
    }
    if config.expiry {
        b = b.expire_after(ModelExpiry::new(config.idle));
    }
    let cache = AnyCache::new(backend, b).map_err(|e| format!("build {backend} with {config:?}: {e}"))?;
    Ok(Subject { cache, clock, log })
}

/// Runs `ops` against `backend` built with `config`, checking every step
/// against the model. `Err` says which step broke which rule.
pub fn check(backend: BackendKind, config: &ModelConfig, ops: &[Op]) -> Result<(), String> {
    check_with(backend, profile(backend), config, ops)
}

/// [`check`] with the allowances of `profile` instead of the backend's own.
pub fn check_with(backend: BackendKind, profile: Profile, config: &ModelConfig, ops: &[Op]) -> Result<(), String> {
    let subject = build(backend, config)?;
    let mut model = Model {
        idle: nanos(config.idle),
        lifetime: config.lifetime.map_or(u64::MAX, nanos),
        capacity: config.capacity,
        expiry: config.expiry,
        built_idle: nanos(config.idle),
        profile,
        now: 0,
        held: BTreeMap::new(),
        hits: 0,
        misses: 0,
        inserts: 0,
        load_failures: 0,
        removals: [0; 5],
        next_value: 0,
    };
    for (i, &op) in ops.iter().enumerate() {
        step(&subject, &mut model, op).map_err(|e| format!("{backend} ({config:?}), step {i} {op:?}: {e}"))?;
    }
    Ok(())
}

/// Applies one operation to the cache and the model and checks the result.
fn step(s: &Subject, m: &mut Model, op: Op) -> Result<(), String> {
    let cache = &s.cache;
    // Removals the contract fixes for this operation, with their causes.
    let mut predicted: Vec<(Key, Value, RemovalCause)> = Vec::new();
    let mut purged = None;
    match op {
        Op::Insert(k) => {
            let v = m.fresh();
            if let Some(old) = m.held.get(&k) {
                let cause = if m.is_live(old) { RemovalCause::Replaced } else { RemovalCause::Expired };
                predicted.push((k, old.value, cause));
            }
            cache.insert(k, v);
            m.store(k, v, None);
        }
        Op::InsertWithTtl(k, ttl) => {
            let v = m.fresh();
            if let Some(old) = m.held.get(&k) {
                let cause = if m.is_live(old) { RemovalCause::Replaced } else { RemovalCause::Expired };
                predicted.push((k, old.value, cause));
            }
            cache.insert_with_ttl(k, v, ttl).map_err(|e| format!("insert_with_ttl: {e}"))?;
            m.store(k, v, Some(nanos(ttl)));
        }
        Op::Get(k) => {
            let want = m.live_value(k);
            let got = cache.get(&k);
            if got != want {
                return Err(format!("get returned {got:?}, the model allows {want:?}"));
            }
            if want.is_some() {
                m.touch(k);
            } else {
                m.misses += 1;
            }
        }
        Op::Peek(k) => {
            let want = m.live_value(k);
            let got = cache.peek(&k);
            if got != want {
                return Err(format!("peek returned {got:?}, the model allows {want:?}"));
            }
        }
        Op::Contains(k) => {
            let want = m.live_value(k).is_some();
            let got = cache.contains_key(&k);
            if got != want {
                return Err(format!("contains_key returned {got}, the model says {want}"));
            }
        }
        Op::Remove(k) => {
            let want = m.live_value(k);
            if let Some(old) = m.held.remove(&k) {
                let cause = if want.is_some() { RemovalCause::Explicit } else { RemovalCause::Expired };
                predicted.push((k, old.value, cause));
            }
            let got = cache.remove(&k);
            if got != want {
                return Err(format!("remove returned {got:?}, the model allows {want:?}"));
            }
        }
        Op::GetOrInsert(k) => {
            let live = m.live_value(k);
            let fresh = if live.is_none() { m.fresh() } else { 0 };
            let mut calls = 0;
            let got = cache.get_or_insert_with(k, || {
                calls += 1;
                fresh
            });
            match live {
                Some(v) => {
                    if (got, calls) != (v, 0) {
                        return Err(format!("a hit on {v} returned {got} after {calls} init calls"));
                    }
                    m.touch(k);
                }
                None => {
                    if (got, calls) != (fresh, 1) {
                        return Err(format!("a miss returned {got} after {calls} init calls (want {fresh}, 1)"));
                    }
                    m.misses += 1;
                    if let Some(old) = m.held.get(&k) {
                        predicted.push((k, old.value, RemovalCause::Expired));
                    }
                    m.store(k, fresh, None);
                }
            }
        }
        Op::TryGetOrInsert(k, succeed) => {
            let live = m.live_value(k);
            let fresh = if live.is_none() && succeed { m.fresh() } else { 0 };
            let mut calls = 0;
            let got = cache.try_get_or_insert_with(k, || {
                calls += 1;
                if succeed {
                    Ok(fresh)
                } else {
                    Err("init failed")
                }
            });
            let got = got.map_err(|e| e.get().copied().unwrap_or("not an init error"));
            match live {
                Some(v) => {
                    if (got, calls) != (Ok(v), 0) {
                        return Err(format!("a hit on {v} returned {got:?} after {calls} init calls"));
                    }
                    m.touch(k);
                }
                None if succeed => {
                    if (got, calls) != (Ok(fresh), 1) {
                        return Err(format!("a load returned {got:?} after {calls} init calls (want {fresh}, 1)"));
                    }
                    m.misses += 1;
                    if let Some(old) = m.held.get(&k) {
                        predicted.push((k, old.value, RemovalCause::Expired));
                    }
                    m.store(k, fresh, None);
                }
                None => {
                    // Not cached: an expired old entry stays until reported.
                    if (got, calls) != (Err("init failed"), 1) {
                        return Err(format!("a failing load returned {got:?} after {calls} init calls"));
                    }
                    m.misses += 1;
                    m.load_failures += 1;
                }
            }
        }
        Op::Info(k) => {
            let want = m.held.get(&k).filter(|e| m.is_live(e)).map(|e| m.info(e));
            let got = cache
                .entry_info(&k)
                .map(|i| (i.since_write, i.since_access, i.idle_left, i.live_left, i.own_left, i.weight));
            if got != want {
                return Err(format!("entry_info returned {got:?}, the model has {want:?}"));
            }
        }
        Op::Iter => {
            let want: Vec<(Key, Value)> =
                m.held.iter().filter(|(_, e)| m.is_live(e)).map(|(&k, e)| (k, e.value)).collect();
            let mut got: Vec<(Key, Value)> = cache.iter().collect();
            got.sort_unstable();
            if got != want {
                return Err(format!("iter yielded {got:?}, the model has {want:?}"));
            }
        }
        Op::Clear => {
            for (&k, e) in &m.held {
                let cause = if m.is_live(e) { RemovalCause::Cleared } else { RemovalCause::Expired };
                predicted.push((k, e.value, cause));
            }
            m.held.clear();
            cache.clear();
        }
        Op::Advance(d) => {
            s.clock.advance(d);
            m.now = m.now.saturating_add(nanos(d));
        }
        Op::Purge => purged = Some(cache.purge_expired()),
        Op::Retain(mask) => {
            let rejected: Vec<(Key, Value)> = m
                .held
                .iter()
                .filter(|(&k, e)| m.is_live(e) && !retain_keeps(mask, k, e.value))
                .map(|(&k, e)| (k, e.value))
                .collect();
            let mut judged_twice = None;
            let mut judged = std::collections::BTreeSet::new();
            let got = cache.retain(|&k, &v| {
                if !judged.insert(k) {
                    judged_twice = Some(k);
                }
                retain_keeps(mask, k, v)
            });
            if let Some(k) = judged_twice {
                return Err(format!("retain asked twice about key {k}"));
            }
            if got != rejected.len() {
                return Err(format!("retain removed {got}, the model rejects {rejected:?}"));
            }
            for (k, v) in rejected {
                m.held.remove(&k);
                predicted.push((k, v, RemovalCause::Explicit));
            }
        }
        Op::SetCapacity(n) => {
            let got = cache.set_max_capacity(n);
            let moka = cache.kind().name() == "moka";
            match (&got, moka, m.capacity) {
                (Err(BuildError::UnsupportedSetting { .. }), true, _) => {}
                (Err(BuildError::MissingSetting { .. }), false, None) => {}
                (Ok(()), false, Some(_)) => m.capacity = Some(n),
                _ => return Err(format!("set_max_capacity({n}) returned {got:?}")),
            }
        }
        Op::SetIdle(d) => {
            let got = cache.set_time_to_idle(d);
            match (&got, cache.kind().name() == "moka") {
                (Err(BuildError::UnsupportedSetting { .. }), true) => {}
                (Ok(()), false) => m.idle = nanos(d),
                _ => return Err(format!("set_time_to_idle({d:?}) returned {got:?}")),
            }
        }
    }

    // Every removal the listener was told of during this step.
    let reports = std::mem::take(&mut *s.log.lock().unwrap_or_else(PoisonError::into_inner));
    let mut expired_reports = 0;
    for (k, v, cause) in reports {
        m.removals[cause_index(cause)] += 1;
        expired_reports += usize::from(cause == RemovalCause::Expired);
        if let Some(at) = predicted.iter().position(|&p| p == (k, v, cause)) {
            predicted.swap_remove(at);
        } else if let Some(&(_, _, want)) = predicted.iter().find(|&&(pk, pv, _)| (pk, pv) == (k, v)) {
            return Err(format!("({k}, {v}) reported as {cause}, the contract says {want}"));
        } else {
            m.accept_unpredicted(k, v, cause)?;
        }
    }
    if !predicted.is_empty() {
        return Err(format!("the listener was never told of {predicted:?}"));
    }

    if let Some(n) = purged {
        if n != expired_reports {
            return Err(format!("purge_expired returned {n} but reported {expired_reports} expired entries"));
        }
        if let Some(k) = m.any_expired() {
            return Err(format!("key {k} is expired but still held (unreported) after purge_expired"));
        }
    }

    // Reads agree with the model for every key (peek and contains_key
    // change nothing, so this probe does not disturb the run).
    for k in 0..KEYS {
        let want = m.live_value(k);
        let got = cache.peek(&k);
        if got != want {
            return Err(format!("afterwards peek({k}) returned {got:?}, the model allows {want:?}"));
        }
        if cache.contains_key(&k) != want.is_some() {
            return Err(format!("afterwards contains_key({k}) disagrees with peek"));
        }
    }

    let len = cache.len() as u64;
    let held = m.held.len() as u64;
    if len != held {
        return Err(format!("len() is {len}, the model holds {held} (live and unreported expired)"));
    }
    if let Some(cap) = m.capacity {
        let bound = if purged.is_some() { cap } else { cap + (m.profile.capacity_slack)(cap) };
        if len > bound {
            return Err(format!("{len} entries held, above the bound of {bound} (capacity {cap})"));
        }
    }

    let st = cache.stats();
    let got = (st.hits, st.misses, st.inserts);
    let want = (m.hits, m.misses, m.inserts);
    if got != want {
        return Err(format!("stats (hits, misses, inserts) are {got:?}, the model counts {want:?}"));
    }
    for cause in RemovalCause::ALL {
        if st.removals(cause) != m.removals[cause_index(cause)] {
            return Err(format!(
                "stats count {} {cause} removals, the listener saw {}",
                st.removals(cause),
                m.removals[cause_index(cause)]
            ));
        }
    }
    if (st.load_failures, st.listener_panics) != (m.load_failures, 0) {
        return Err(format!(
            "stats count {} load failures (the model {}), {} listener panics",
            st.load_failures, m.load_failures, st.listener_panics
        ));
    }
    Ok(())
}

/// Turns arbitrary bytes into a configuration and an operation sequence
/// (for fuzzing): every input decodes to something runnable.
pub fn decode(bytes: &[u8]) -> (ModelConfig, Vec<Op>) {
    let mut input = Bytes(bytes);
    let unit = |b: u8| match b % 4 {
        0 => Duration::from_nanos(1),
        1 => Duration::from_millis(1),
        2 => Duration::from_secs(1),
        _ => Duration::from_secs(3600),
    };
    let idle = unit(input.byte()) * (u32::from(input.byte() % 16) + 1);
    let lifetime = (input.byte() % 3 == 0).then(|| unit(input.byte()) * (u32::from(input.byte() % 16) + 1));
    let capacity = match input.byte() % 4 {
        0 => None,
        _ => Some(u64::from(input.byte() % 10) + 1),
    };
    let policy = PolicyKind::ALL[usize::from(input.byte()) % PolicyKind::ALL.len()];
    let shard_byte = input.byte();
    let shards = match shard_byte % 4 {
        0 => None,
        n => Some(1usize << (n - 1)),
    };
    let expiry = shard_byte & 0x80 != 0;
    let config = ModelConfig { idle, lifetime, capacity, policy, shards, expiry };
    let mut ops = Vec::new();
    while !input.0.is_empty() && ops.len() < 1000 {
        let tag = input.byte();
        let key = Key::from(input.byte()) % KEYS;
        ops.push(match tag % 24 {
            0..=2 => Op::Insert(key),
            3..=5 => Op::Get(key),
            6 => Op::Peek(key),
            7 => Op::Contains(key),
            8 => Op::Remove(key),
            9 => Op::GetOrInsert(key),
            10 => Op::TryGetOrInsert(key, tag & 0x10 == 0),
            11 => Op::Clear,
            12 => Op::Purge,
            // Advances: a fraction or multiple of the idle timeout, or a
            // few nanoseconds (to land on and around deadlines).
            13 => Op::Advance(idle * u32::from(key as u8 + 1) / 4),
            14 => Op::Advance(Duration::from_nanos(key)),
            16 => Op::Info(key),
            17 => Op::Iter,
            18 | 19 => Op::InsertWithTtl(key, idle * u32::from(input.byte() % 8) / 4),
            20 | 21 => Op::Retain(u16::from_le_bytes([input.byte(), input.byte()])),
            22 => Op::SetCapacity(u64::from(input.byte() % 10) + 1),
            23 => Op::SetIdle(unit(input.byte()) * (u32::from(input.byte() % 16) + 1)),
            _ => Op::Advance(unit(key as u8) * (u32::from(input.byte()) + 1)),
        });
    }
    (config, ops)
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    /// The next byte, or zero once the input is used up.
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}
