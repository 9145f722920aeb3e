//! The settings changed at run time: `set_max_capacity` and
//! `set_time_to_idle`. `moka` refuses both; a cache built without a
//! capacity refuses a new one.

use std::time::Duration;

use ttlkit::{AnyCache, BuildError, SlidingTtlCache};

use super::reference::Model;
use super::{nanos, Key, Value};

/// `set_max_capacity(n)`: refused, or the model's new bound (held at once,
/// which the checks after the step see).
pub(super) fn set_capacity(cache: &AnyCache<Key, Value>, m: &mut Model, n: u64) -> Result<(), String> {
    let got = cache.set_max_capacity(n);
    let moka = cache.kind().name() == "moka";
    match (&got, moka, m.capacity) {
        (Err(BuildError::UnsupportedSetting { .. }), true, _) => {}
        (Err(BuildError::MissingSetting { .. }), false, None) => {}
        (Ok(()), false, Some(_)) => m.capacity = Some(n),
        _ => return Err(format!("set_max_capacity({n}) returned {got:?}")),
    }
    Ok(())
}

/// `set_time_to_idle(d)`: refused, or the model's new idle timeout, applied
/// to every entry from its stamps.
pub(super) fn set_idle(cache: &AnyCache<Key, Value>, m: &mut Model, d: Duration) -> Result<(), String> {
    let got = cache.set_time_to_idle(d);
    match (&got, cache.kind().name() == "moka") {
        (Err(BuildError::UnsupportedSetting { .. }), true) => {}
        (Ok(()), false) => m.idle = nanos(d),
        _ => return Err(format!("set_time_to_idle({d:?}) returned {got:?}")),
    }
    Ok(())
}
