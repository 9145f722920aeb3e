//! A storage core written outside ttlkit, with only its public API: a
//! `HashMap` for the entries and a `BTreeMap` of access order for a plain
//! LRU, behind one mutex. `ttlkit::Cache` puts the front-end on it (clock,
//! stats, listener, loads, sweeps); the conformance suite and the
//! concurrent model test run over it with one line each, in `main`.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // Its cases about `AnyCache` and `BackendKind` are not for this core.
#[path = "conformance/bad_input.rs"]
mod bad_input;
#[path = "conformance/cases.rs"]
mod cases;
#[path = "conformance/entry.rs"]
mod entry;
#[path = "conformance/expiry_kinds.rs"]
mod expiry_kinds;
#[path = "conformance/inspection.rs"]
mod inspection;
#[path = "conformance/list.rs"]
mod list;
#[path = "conformance/loads.rs"]
mod loads;
#[path = "conformance/oversized.rs"]
mod oversized;
#[path = "conformance/per_entry.rs"]
mod per_entry;
#[path = "conformance/refresh.rs"]
mod refresh;
#[path = "conformance/reloader.rs"]
mod reloader;
#[path = "support/removal_log.rs"]
mod removal_log;
#[path = "conformance/resize.rs"]
mod resize;
#[path = "conformance/suite.rs"]
mod suite;
#[path = "conformance/sweeping.rs"]
mod sweeping;
#[path = "support/target.rs"]
mod target;

// The concurrent model test (`tests/concurrent.rs`), as `driver.rs` asks.
#[allow(dead_code)]
#[path = "concurrent/case.rs"]
mod case;
#[allow(dead_code)]
#[path = "concurrent/driver.rs"]
mod driver;
#[allow(dead_code)]
#[path = "concurrent/flavor.rs"]
mod flavor;
#[allow(dead_code)]
#[path = "model/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "concurrent/refill.rs"]
mod refill;
#[allow(dead_code)]
#[path = "concurrent/run.rs"]
mod run;
#[allow(dead_code)]
#[path = "concurrent/verify.rs"]
mod verify;
#[allow(dead_code)]
#[path = "concurrent/watchdog.rs"]
mod watchdog;

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use target::{Key, Need, Target, Value};
use ttlkit::clock::Ticks;
use ttlkit::core::Config;
use ttlkit::core::{Core, Departures, ExpiryRules, Gate, OwnDeadlines};
use ttlkit::{BuildError, Cache, CacheBuilder, PolicyKind, RemovalCause, SlidingTtlCache};

type Out<K, V> = Departures<K, V>;

struct Entry<V> {
    value: V,
    last_access: Ticks,
    inserted_at: Ticks,
    /// Its own deadline (`Ticks::MAX`: none).
    own: Ticks,
    weight: u64,
    /// Its key in `order`.
    seq: u64,
}

struct State<K, V> {
    map: HashMap<K, Entry<V>>,
    /// Access order, least recent first.
    order: BTreeMap<u64, K>,
    next_seq: u64,
    weight: u64,
}

/// The third-party core: exact LRU, a weight bound, O(n) expiry scans.
pub struct BTreeLru<K, V> {
    state: Mutex<State<K, V>>,
    rules: ExpiryRules,
    own: OwnDeadlines<K, V>,
    max_weight: Option<u64>,
}

impl<K: Hash + Eq + Clone, V: Clone> BTreeLru<K, V> {
    /// A panic in user code (an `Expiry`) poisons nothing: it runs before any change.
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes `key`, reporting it as `otherwise` (or `Expired`); its value if live.
    fn take(&self, st: &mut State<K, V>, k: &K, now: Ticks, otherwise: RemovalCause, out: &mut Out<K, V>) -> Option<V> {
        let (key, e) = st.map.remove_entry(k)?;
        st.order.remove(&e.seq);
        st.weight -= e.weight;
        let cause = self.rules.departure(now, e.last_access, e.inserted_at, e.own, otherwise);
        let live = (cause == otherwise).then(|| e.value.clone());
        out.push(key, e.value, cause);
        live
    }

    fn expired(&self, st: &State<K, V>, now: Ticks, limit: usize) -> Vec<K> {
        let due = st.map.iter().filter(|(_, e)| self.rules.is_expired(now, e.last_access, e.inserted_at, e.own));
        due.map(|(k, _)| k.clone()).take(limit).collect()
    }

    /// A read under the lock: a hit (`refresh`) moves the entry to the back
    /// of the LRU order and removes it if expired; a peek changes nothing.
    fn read_locked<Q>(&self, st: &mut State<K, V>, key: &Q, now: Ticks, refresh: bool, out: &mut Out<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (key, e) = st.map.get_key_value(key)?;
        let (key, live) = (key.clone(), !self.rules.is_expired(now, e.last_access, e.inserted_at, e.own));
        if !refresh {
            return live.then(|| e.value.clone());
        }
        if !live {
            self.take(st, &key, now, RemovalCause::Expired, out);
            return None;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let e = st.map.get_mut::<K>(&key)?;
        if let Some(own) = self.own.on_read(&key, &e.value, now, e.own) {
            e.own = own;
        }
        st.order.remove(&e.seq);
        (e.seq, e.last_access) = (seq, e.last_access.max(now));
        let value = e.value.clone();
        st.order.insert(seq, key);
        Some(value)
    }
}

impl<K, V> Core<K, V> for BTreeLru<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    const NAME: &'static str = "btree-lru";
    const READS_TAKE_THE_WRITE_LOCK: bool = true;

    fn build(config: &Config<K, V>) -> Result<Self, BuildError> {
        if config.policy() != PolicyKind::Lru {
            return Err(BuildError::UnsupportedSetting { core: "btree-lru", setting: "policy" });
        }
        let state = State { map: HashMap::new(), order: BTreeMap::new(), next_seq: 0, weight: 0 };
        let own = config.own_deadlines().clone();
        Ok(BTreeLru { state: Mutex::new(state), rules: config.rules(), own, max_weight: config.max_capacity() })
    }

    fn read<Q>(&self, _: u64, key: &Q, now: Ticks, refresh: bool, out: &mut Out<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.read_locked(&mut self.lock(), key, now, refresh, out)
    }

    fn read_for_load(&self, _: u64, key: &K, now: Ticks, gate: &Gate<'_>, out: &mut Out<K, V>) -> Option<V> {
        let mut st = self.lock();
        let found = self.read_locked(&mut st, key, now, true, out);
        gate.after_change();
        found
    }

    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &self,
        _: u64,
        key: K,
        value: V,
        weight: u32,
        ttl: Option<Duration>,
        now: Ticks,
        gate: &Gate<'_>,
        out: &mut Out<K, V>,
    ) -> bool {
        let weight = u64::from(weight);
        let mut st = self.lock();
        if !gate.admits() {
            return false;
        }
        let live = |e: &Entry<V>| !self.rules.is_expired(now, e.last_access, e.inserted_at, e.own);
        let previous = st.map.get(&key).filter(|e| live(e)).map(|e| e.own);
        let own = self.own.on_write(&key, &value, now, ttl, previous);
        self.take(&mut st, &key, now, RemovalCause::Replaced, out);
        gate.after_change();
        if self.max_weight.is_some_and(|max| weight > max) {
            out.push(key, value, RemovalCause::Capacity);
            return true;
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.order.insert(seq, key.clone());
        st.map.insert(key, Entry { value, last_access: now, inserted_at: now, own, weight, seq });
        st.weight += weight;
        // Expired entries go first, then the least recently used.
        while self.max_weight.is_some_and(|max| st.weight > max) {
            let lru = || st.order.first_key_value().map(|(_, k)| k.clone());
            let Some(victim) = self.expired(&st, now, 1).pop().or_else(lru) else { break };
            self.take(&mut st, &victim, now, RemovalCause::Capacity, out);
        }
        true
    }

    fn remove<Q>(&self, _: u64, key: &Q, now: Ticks, gate: &Gate<'_>, out: &mut Out<K, V>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut st = self.lock();
        if !gate.admits() {
            return None;
        }
        let key = st.map.get_key_value(key).map(|(k, _)| k.clone());
        let live = key.and_then(|key| self.take(&mut st, &key, now, RemovalCause::Explicit, out));
        gate.after_change();
        live
    }

    fn expire(&self, now: Ticks, budget: usize, out: &mut Out<K, V>) -> (usize, bool) {
        let mut st = self.lock();
        let due = self.expired(&st, now, budget.saturating_add(1));
        let n = due.len().min(budget);
        for key in &due[..n] {
            self.take(&mut st, key, now, RemovalCause::Expired, out);
        }
        (n, due.len() > budget)
    }

    fn clear(&self, now: Ticks, gate: &Gate<'_>, out: &mut Out<K, V>) {
        let mut st = self.lock();
        let keys: Vec<K> = st.map.keys().cloned().collect();
        for key in &keys {
            self.take(&mut st, key, now, RemovalCause::Cleared, out);
        }
        gate.after_change();
    }

    fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Clones under the lock, shows them outside it. No `retain` of its
    /// own: the front-end's judges each rejected key again.
    fn for_each_live(&self, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        let st = self.lock();
        let live = st.map.iter().filter(|(_, e)| !self.rules.is_expired(now, e.last_access, e.inserted_at, e.own));
        let live: Vec<(K, V)> = live.map(|(k, e)| (k.clone(), e.value.clone())).collect();
        drop(st);
        live.iter().for_each(|(k, v)| f(k, v));
    }
}

/// The suite's target: `Cache` over `BTreeLru`, built from the case's builder.
#[derive(Debug, Clone, Copy)]
struct ThirdParty;

impl Target for ThirdParty {
    type Cache<K: Key, V: Value> = Cache<K, V, BTreeLru<K, V>>;

    /// BTreeLru keeps `Core`'s inspection defaults (it stays a minimal core).
    fn has(&self, need: Need) -> bool {
        !matches!(need, Need::Inspection | Need::Reconfigure | Need::Ranking)
    }

    fn build<K: Key, V: Value>(&self, b: CacheBuilder<K, V>) -> Self::Cache<K, V> {
        b.build().unwrap()
    }
}

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    suite::quiet_deliberate_panics();
    let mut all = suite::trials("btree_lru", ThirdParty, crate::for_each_case!(registry, ThirdParty));
    all.push(suite::trial("btree_lru::a_policy_it_does_not_run_is_a_typed_error".into(), || {
        let b = CacheBuilder::<u64, u64>::new()
            .time_to_idle(std::time::Duration::from_secs(1))
            .policy_kind(PolicyKind::Sieve);
        let err = b.build::<Cache<u64, u64, BTreeLru<u64, u64>>>().unwrap_err();
        assert!(matches!(err, BuildError::UnsupportedSetting { core: "btree-lru", setting: "policy" }), "{err}");
    }));
    all.push(suite::trial("btree_lru::retain_never_removes_a_value_it_did_not_judge".into(), || {
        // `keep` rejects value 1 of key 7 and, while judging it, a writer
        // stores 2 there: the front-end's retain must leave 2 alone.
        let cache: Cache<u64, u64, BTreeLru<u64, u64>> = CacheBuilder::new().build().unwrap();
        cache.insert(7, 1);
        let writer = cache.clone();
        let removed = cache.retain(|&k, &v| {
            if v == 1 {
                writer.insert(k, 2);
            }
            v != 1
        });
        assert_eq!((removed, cache.get(&7)), (0, Some(2)), "the value written after the judgement stays");
        cache.insert(7, 1);
        assert_eq!((cache.retain(|_, &v| v != 1), cache.get(&7)), (1, None), "a rejected value still goes");
    }));
    all.push(suite::trial("btree_lru::concurrent_model".into(), || {
        driver::check_every_case(driver::Flavor::exact("btree-lru"), |b| {
            b.build::<Cache<u64, u64, BTreeLru<u64, u64>>>()
        });
    }));
    libtest_mimic::run(&args, all).exit();
}
