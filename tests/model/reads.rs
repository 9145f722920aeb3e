//! The plain reads: `get` (a hit refreshes the entry and counts, a miss
//! counts), `peek` and `contains_key` (which change nothing).

use ttlkit::{AnyCache, SlidingTtlCache};

use super::reference::Model;
use super::{Key, Value};

/// `get(k)`: the live value or nothing, and a hit or a miss for the model.
pub(super) fn get(cache: &AnyCache<Key, Value>, m: &mut Model, k: Key) -> Result<(), String> {
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
    Ok(())
}

/// `peek(k)`: the live value or nothing.
pub(super) fn peek(cache: &AnyCache<Key, Value>, m: &Model, k: Key) -> Result<(), String> {
    let want = m.live_value(k);
    let got = cache.peek(&k);
    if got != want {
        return Err(format!("peek returned {got:?}, the model allows {want:?}"));
    }
    Ok(())
}

/// `contains_key(k)`: whether a live value is held.
pub(super) fn contains(cache: &AnyCache<Key, Value>, m: &Model, k: Key) -> Result<(), String> {
    let want = m.live_value(k).is_some();
    let got = cache.contains_key(&k);
    if got != want {
        return Err(format!("contains_key returned {got}, the model says {want}"));
    }
    Ok(())
}
