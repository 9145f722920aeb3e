//! The checks every step ends with, whatever the operation: the listener's
//! reports against the removals the model predicted (or may accept
//! unpredicted), `purge_expired`'s count, a read of every key, `len()` and
//! the capacity bound, and the statistics.

use std::sync::PoisonError;

use ttlkit::{AnyCache, RemovalCause, SlidingTtlCache};

use super::reference::Model;
use super::subject::Subject;
use super::{Key, Removal, Value, KEYS};

fn cause_index(cause: RemovalCause) -> usize {
    RemovalCause::ALL.iter().position(|&c| c == cause).unwrap_or(0)
}

/// Checks what the step left behind. `predicted` are the removals the
/// operation must have reported; `purged` is what `purge_expired` returned,
/// if the step was one.
pub(super) fn check(s: &Subject, m: &mut Model, predicted: Vec<Removal>, purged: Option<usize>) -> Result<(), String> {
    let expired_reports = reports(s, m, predicted)?;
    if let Some(n) = purged {
        purge(m, n, expired_reports)?;
    }
    reads(&s.cache, m)?;
    size(&s.cache, m, purged.is_some())?;
    stats(&s.cache, m)
}

/// Every removal the listener was told of during this step: each predicted
/// one with its cause, the rest accepted by the model. Returns how many
/// were `Expired`.
fn reports(s: &Subject, m: &mut Model, mut predicted: Vec<Removal>) -> Result<usize, String> {
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
    Ok(expired_reports)
}

/// After `purge_expired` returned `n`: it reported exactly `n` expiries and
/// left no expired entry held.
fn purge(m: &Model, n: usize, expired_reports: usize) -> Result<(), String> {
    if n != expired_reports {
        return Err(format!("purge_expired returned {n} but reported {expired_reports} expired entries"));
    }
    if let Some(k) = m.any_expired() {
        return Err(format!("key {k} is expired but still held (unreported) after purge_expired"));
    }
    Ok(())
}

/// Reads agree with the model for every key (peek and contains_key
/// change nothing, so this probe does not disturb the run).
fn reads(cache: &AnyCache<Key, Value>, m: &Model) -> Result<(), String> {
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
    Ok(())
}

/// `len()` counts what the model holds, within the capacity plus the
/// backend's slack (exactly the capacity once `purged`).
fn size(cache: &AnyCache<Key, Value>, m: &Model, purged: bool) -> Result<(), String> {
    let len = cache.len() as u64;
    let held = m.held.len() as u64;
    if len != held {
        return Err(format!("len() is {len}, the model holds {held} (live and unreported expired)"));
    }
    if let Some(cap) = m.capacity {
        let bound = if purged { cap } else { cap + (m.profile.capacity_slack)(cap) };
        if len > bound {
            return Err(format!("{len} entries held, above the bound of {bound} (capacity {cap})"));
        }
    }
    Ok(())
}

/// The statistics match the model's counts and the listener's reports.
fn stats(cache: &AnyCache<Key, Value>, m: &Model) -> Result<(), String> {
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
