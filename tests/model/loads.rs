//! The loads: `get_or_insert_with` and `try_get_or_insert_with`. A hit
//! runs no `init`; a miss runs it once and caches what it returns (replacing
//! an expired old value, reported `Expired`); a failing `init` caches nothing.

use ttlkit::{AnyCache, RemovalCause, SlidingTtlCache};

use super::reference::Model;
use super::{Key, Removal, Value};

/// A load of `k` that ran `init` and cached `fresh`: a miss, and an expired
/// old value still held leaves as `Expired`.
fn loaded(m: &mut Model, k: Key, fresh: Value, predicted: &mut Vec<Removal>) {
    m.misses += 1;
    if let Some(old) = m.held.get(&k) {
        predicted.push((k, old.value, RemovalCause::Expired));
    }
    m.store(k, fresh, None);
}

/// `get_or_insert_with(k, || next serial)`.
pub(super) fn get_or_insert(
    cache: &AnyCache<Key, Value>,
    m: &mut Model,
    k: Key,
    predicted: &mut Vec<Removal>,
) -> Result<(), String> {
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
            loaded(m, k, fresh, predicted);
        }
    }
    Ok(())
}

/// `try_get_or_insert_with(k, ..)` whose `init` succeeds (with the next
/// serial) or fails, as `succeed` says.
pub(super) fn try_get_or_insert(
    cache: &AnyCache<Key, Value>,
    m: &mut Model,
    k: Key,
    succeed: bool,
    predicted: &mut Vec<Removal>,
) -> Result<(), String> {
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
            loaded(m, k, fresh, predicted);
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
    Ok(())
}
