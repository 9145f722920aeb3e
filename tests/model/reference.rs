//! The reference model: the entries the cache holds with the stamps that
//! fix their deadlines, the clock, the statistics the cache must report,
//! and the rules that move them (writes, hits, unpredicted reports).

use std::collections::BTreeMap;
use std::time::Duration;

use ttlkit::RemovalCause;

use super::{nanos, Key, ModelConfig, ModelExpiry, Profile, Value};

/// What `entry_info` says: (since write, since access, idle left, lifetime
/// left, own left, weight).
pub(super) type Info = (Duration, Duration, Option<Duration>, Option<Duration>, Option<Duration>, u32);

#[derive(Debug, Clone, Copy)]
pub(super) struct Stamped {
    pub(super) value: Value,
    last_access: u64,
    inserted_at: u64,
    /// Its own deadline, `u64::MAX` for none.
    own: u64,
}

/// The reference model: held entries with their stamps, the time, and the
/// statistics the cache must report.
pub(super) struct Model {
    pub(super) idle: u64,
    lifetime: u64,
    pub(super) capacity: Option<u64>,
    expiry: bool,
    /// The idle timeout the cache was built with (the model's `Expiry`
    /// keeps computing from it after `SetIdle`).
    built_idle: u64,
    pub(super) profile: Profile,
    pub(super) now: u64,
    /// Entries the cache holds: live ones, and expired ones not reported yet.
    pub(super) held: BTreeMap<Key, Stamped>,
    pub(super) hits: u64,
    pub(super) misses: u64,
    pub(super) inserts: u64,
    pub(super) load_failures: u64,
    /// Removals seen by the listener, by `RemovalCause::ALL` index.
    pub(super) removals: [u64; 5],
    next_value: Value,
}

impl Model {
    /// The model of a cache just built with `config`, allowed `profile`.
    pub(super) fn new(config: &ModelConfig, profile: Profile) -> Self {
        Model {
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
        }
    }

    fn deadline(&self, e: &Stamped) -> u64 {
        e.last_access.saturating_add(self.idle).min(e.inserted_at.saturating_add(self.lifetime)).min(e.own)
    }

    pub(super) fn is_live(&self, e: &Stamped) -> bool {
        self.now < self.deadline(e)
    }

    /// What `entry_info` must say of a live entry.
    pub(super) fn info(&self, e: &Stamped) -> Info {
        let left = |from: u64, d: u64| Duration::from_nanos(from.saturating_add(d).saturating_sub(self.now));
        let lifetime = (self.lifetime != u64::MAX).then(|| left(e.inserted_at, self.lifetime));
        let own = (e.own != u64::MAX).then(|| left(e.own, 0));
        let since = |t: u64| Duration::from_nanos(self.now - t);
        (since(e.inserted_at), since(e.last_access), Some(left(e.last_access, self.idle)), lifetime, own, 1)
    }

    /// The value a read may return for `key`.
    pub(super) fn live_value(&self, key: Key) -> Option<Value> {
        self.held.get(&key).filter(|e| self.is_live(e)).map(|e| e.value)
    }

    pub(super) fn any_expired(&self) -> Option<Key> {
        self.held.iter().find(|(_, e)| !self.is_live(e)).map(|(&k, _)| k)
    }

    pub(super) fn fresh(&mut self) -> Value {
        self.next_value += 1;
        self.next_value
    }

    /// A write of `value` (with an own time to live `ttl` if given): its
    /// own deadline is `ttl` from now; else, with the expiry, its create
    /// duration, or what a live older entry had (an update keeps it);
    /// else none.
    pub(super) fn store(&mut self, key: Key, value: Value, ttl: Option<u64>) {
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
    pub(super) fn touch(&mut self, key: Key) {
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
    pub(super) fn accept_unpredicted(&mut self, key: Key, value: Value, cause: RemovalCause) -> Result<(), String> {
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
