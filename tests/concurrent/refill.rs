//! The refill: after the concurrent run, one thread inserts fresh keys
//! until twice the capacity of storable weight went in. A cache whose
//! bookkeeping drifted during the run (a weight counter that counts more
//! than it holds) then holds far less than its bound. Last comes one entry
//! heavier than the capacity (when the weigher makes one), which must be
//! refused alone rather than flush the cache.

use ttlkit::SlidingTtlCache;

use crate::flavor::Flavor;

use crate::case::{Case, Weights};
use crate::run::{value_id, Subject};

/// Keys no worker uses.
const FRESH_KEYS: u64 = 1 << 40;

/// Runs the refill from `live` (the entries the final check found) and
/// checks the weight held against the bound.
pub fn check<C: SlidingTtlCache<u64, u64>>(
    s: &Subject<C>,
    case: &Case,
    flavor: Flavor,
    live: &[(u64, u64)],
) -> Result<(), String> {
    let Some(cap) = case.config.capacity else { return Ok(()) };
    let w = Weights::new(case, flavor);
    let slack = (flavor.profile().capacity_slack)(cap);
    let mut keys: Vec<u64> = live.iter().map(|&(k, _)| k).collect();
    let told = s.reports().len();
    let mut storable = 0;
    let mut inserted = Vec::new();
    let mut n = 0;
    while storable < 2 * cap && n < 4 * cap + 16 {
        let (key, value) = (FRESH_KEYS + n, value_id(case.threads, n));
        s.cache.insert(key, value);
        keys.push(key);
        inserted.push(w.of(key, value));
        if w.of(key, value) <= cap {
            storable += w.of(key, value);
        }
        n += 1;
    }
    // Last, one entry heavier than the whole capacity, if the weigher makes
    // one: it must be refused alone, not flush the cache.
    if let Some(i) = (n..n + 64).find(|&i| w.of(FRESH_KEYS + i, value_id(case.threads, i)) > cap) {
        s.cache.insert(FRESH_KEYS + i, value_id(case.threads, i));
        keys.push(FRESH_KEYS + i);
        inserted.push(w.of(FRESH_KEYS + i, value_id(case.threads, i)));
    }
    let held: Vec<(u64, u64)> = keys.iter().filter_map(|&k| s.cache.peek(&k).map(|v| (k, v))).collect();
    let total: u64 = held.iter().map(|&(k, v)| w.of(k, v)).sum();
    // moka 0.12.16, after some concurrent runs, reports an entry evicted
    // that stays readable (seed 0x7710c4ec; 5 of 1,602 cases in 30 s),
    // and the moka backend's count follows moka's reports. Known and
    // documented (README, Backends); any other mismatch fails.
    let zombies = if flavor.is_moka() {
        s.reports()[told..].iter().filter(|r| held.contains(&(r.key, r.value))).count()
    } else {
        0
    };
    if s.cache.len() + zombies != held.len() {
        let reported: Vec<_> =
            s.reports().iter().filter(|r| held.contains(&(r.key, r.value))).map(|r| (r.key, r.cause)).collect();
        return Err(format!(
            "after the refill len() is {} but {} entries are live (live yet reported removed: {reported:?})",
            s.cache.len(),
            held.len()
        ));
    }
    if zombies > 0 {
        println!("moka: {zombies} entries reported evicted stay readable (known moka limitation)");
    }
    // Without concurrency the bound holds up to the documented slack, and
    // the cache is full up to less than one entry's weight (if enough
    // storable weight went in: with a small capacity most values may weigh
    // more than it).
    let heaviest = case.weigher.unwrap_or(1).min(cap);
    let spare = if storable < 2 * cap { cap } else { full_within(flavor, case, heaviest) };
    let floor = cap.saturating_sub(slack + spare);
    if total < floor || total > cap + slack {
        let reports: Vec<_> = s.reports()[told..].iter().map(|r| (r.key, w.of(r.key, r.value), r.cause)).collect();
        return Err(format!(
            "refill of {} fresh keys: live weight {total} in {} entries, want {floor}..={} (capacity {cap}); \
             {} entries live before, weights inserted {inserted:?}, then removed (key, weight, cause) {reports:?}",
            inserted.len(),
            held.len(),
            cap + slack,
            live.len(),
        ));
    }
    s.cache.purge_expired();
    let total: u64 = keys.iter().filter_map(|&k| s.cache.peek(&k).map(|v| w.of(k, v))).sum();
    if total > cap {
        return Err(format!("after the refill and a purge the live weight is {total}, above the capacity {cap}"));
    }
    Ok(())
}

/// How far below its bound a cache filled with entries of at most
/// `heaviest` may sit. A cache that evicts just enough is full within one
/// entry. moka's TinyLFU admission, once a candidate does not fit, evicts
/// victims until their weight reaches the *candidate's* (not the excess):
/// the last victim may overshoot by `heaviest - 1` beyond a candidate that
/// itself needed only one unit of room (documented in the moka backend's
/// module docs, "Capacity bound").
fn full_within(flavor: Flavor, case: &Case, heaviest: u64) -> u64 {
    if flavor.is_moka() && flavor.policy(case.config.policy) == ttlkit::PolicyKind::WTinyLfu {
        2 * (heaviest - 1)
    } else {
        heaviest - 1
    }
}
