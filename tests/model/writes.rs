//! The writes: `insert` and `insert_with_ttl`, `remove`, `clear` and
//! `retain`. Each fixes the cause of every removal it makes, so the model
//! predicts them (into `predicted`) for the step to match with the
//! listener's reports.

use std::collections::BTreeSet;
use std::time::Duration;

use ttlkit::{AnyCache, RemovalCause, SlidingTtlCache};

use super::reference::Model;
use super::{nanos, retain_keeps, Key, Removal, Value};

/// An overwrite of `k` removes the value held: `Replaced` if it was live,
/// else `Expired`.
fn predict_overwrite(m: &Model, k: Key, predicted: &mut Vec<Removal>) {
    if let Some(old) = m.held.get(&k) {
        let cause = if m.is_live(old) { RemovalCause::Replaced } else { RemovalCause::Expired };
        predicted.push((k, old.value, cause));
    }
}

/// `insert(k, next serial)`.
pub(super) fn insert(cache: &AnyCache<Key, Value>, m: &mut Model, k: Key, predicted: &mut Vec<Removal>) {
    let v = m.fresh();
    predict_overwrite(m, k, predicted);
    cache.insert(k, v);
    m.store(k, v, None);
}

/// `insert_with_ttl(k, next serial, ttl)`: the entry's own deadline is
/// `ttl` from now.
pub(super) fn insert_with_ttl(
    cache: &AnyCache<Key, Value>,
    m: &mut Model,
    k: Key,
    ttl: Duration,
    predicted: &mut Vec<Removal>,
) -> Result<(), String> {
    let v = m.fresh();
    predict_overwrite(m, k, predicted);
    cache.insert_with_ttl(k, v, ttl).map_err(|e| format!("insert_with_ttl: {e}"))?;
    m.store(k, v, Some(nanos(ttl)));
    Ok(())
}

/// `remove(k)`: returns the live value; the held one leaves as `Explicit`
/// if live, else `Expired`.
pub(super) fn remove(
    cache: &AnyCache<Key, Value>,
    m: &mut Model,
    k: Key,
    predicted: &mut Vec<Removal>,
) -> Result<(), String> {
    let want = m.live_value(k);
    if let Some(old) = m.held.remove(&k) {
        let cause = if want.is_some() { RemovalCause::Explicit } else { RemovalCause::Expired };
        predicted.push((k, old.value, cause));
    }
    let got = cache.remove(&k);
    if got != want {
        return Err(format!("remove returned {got:?}, the model allows {want:?}"));
    }
    Ok(())
}

/// `clear()`: every held entry leaves, `Cleared` if live, else `Expired`.
pub(super) fn clear(cache: &AnyCache<Key, Value>, m: &mut Model, predicted: &mut Vec<Removal>) {
    for (&k, e) in &m.held {
        let cause = if m.is_live(e) { RemovalCause::Cleared } else { RemovalCause::Expired };
        predicted.push((k, e.value, cause));
    }
    m.held.clear();
    cache.clear();
}

/// `retain(..)` keeping what [`retain_keeps`] says for `mask`: it asks once
/// per entry, returns how many it removed, and the live entries it rejects
/// leave as `Explicit`.
pub(super) fn retain(
    cache: &AnyCache<Key, Value>,
    m: &mut Model,
    mask: u16,
    predicted: &mut Vec<Removal>,
) -> Result<(), String> {
    let rejected: Vec<(Key, Value)> = m
        .held
        .iter()
        .filter(|(&k, e)| m.is_live(e) && !retain_keeps(mask, k, e.value))
        .map(|(&k, e)| (k, e.value))
        .collect();
    let mut judged_twice = None;
    let mut judged = BTreeSet::new();
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
    Ok(())
}
