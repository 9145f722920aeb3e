//! The looks: `entry_info` and `iter`, which show exactly the live entries
//! and their stamps and refresh nothing, so the model does not move.

use ttlkit::{AnyCache, SlidingTtlCache};

use super::reference::Model;
use super::{Key, Value};

/// `entry_info(k)`: the stamps the model holds for a live entry, else nothing.
pub(super) fn info(cache: &AnyCache<Key, Value>, m: &Model, k: Key) -> Result<(), String> {
    let want = m.held.get(&k).filter(|e| m.is_live(e)).map(|e| m.info(e));
    let got =
        cache.entry_info(&k).map(|i| (i.since_write, i.since_access, i.idle_left, i.live_left, i.own_left, i.weight));
    if got != want {
        return Err(format!("entry_info returned {got:?}, the model has {want:?}"));
    }
    Ok(())
}

/// `iter()`: exactly the live entries, in any order.
pub(super) fn iter(cache: &AnyCache<Key, Value>, m: &Model) -> Result<(), String> {
    let want: Vec<(Key, Value)> = m.held.iter().filter(|(_, e)| m.is_live(e)).map(|(&k, e)| (k, e.value)).collect();
    let mut got: Vec<(Key, Value)> = cache.iter().collect();
    got.sort_unstable();
    if got != want {
        return Err(format!("iter yielded {got:?}, the model has {want:?}"));
    }
    Ok(())
}
