//! The removal listener and its delivery outside any lock.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::cache::RemovalCause;
use crate::stats::StatsCounter;

/// A removal listener: told of every entry that leaves, exactly once.
pub(crate) type RemovalListener<K, V> = Arc<dyn Fn(&K, V, RemovalCause) + Send + Sync + 'static>;

/// An entry that left the cache, waiting to be reported once locks are released.
pub(crate) type Removed<K, V> = (K, V, RemovalCause);

/// Reports removed entries: counts each by cause and hands it to the
/// listener, if any. Must be called with no cache lock held. A panicking
/// listener is contained (counted in `listener_panics`) so the caller, the
/// sweeper and the other notifications carry on.
pub(crate) fn notify<K, V>(
    listener: Option<&RemovalListener<K, V>>,
    stats: &StatsCounter,
    removed: impl IntoIterator<Item = Removed<K, V>>,
) {
    for (key, value, cause) in removed {
        stats.removal(cause);
        if let Some(listener) = listener {
            if catch_unwind(AssertUnwindSafe(|| listener(&key, value, cause))).is_err() {
                stats.listener_panic();
            }
        }
    }
}
