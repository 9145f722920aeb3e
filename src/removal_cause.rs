//! [`RemovalCause`]: why an entry left a cache, as its removal listener
//! is told.

use std::fmt;

/// Why an entry left the cache; given to the removal listener.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use ttlkit::prelude::*;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let cache: MutexCache<&str, u32> = CacheBuilder::new()
///     .removal_listener(move |key: &&str, _value, cause| log.lock().unwrap().push((*key, cause)))
///     .build()?;
/// cache.insert("a", 1);
/// cache.insert("a", 2);
/// cache.remove("a");
/// assert_eq!(*seen.lock().unwrap(), [("a", RemovalCause::Replaced), ("a", RemovalCause::Explicit)]);
/// assert!(!RemovalCause::Explicit.was_evicted());
/// assert!(RemovalCause::Capacity.was_evicted());
/// # Ok::<(), BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RemovalCause {
    /// Its idle deadline or its max lifetime passed.
    Expired,
    /// The eviction policy chose it (or refused to admit it) to make room.
    Capacity,
    /// `remove` took it out.
    Explicit,
    /// An `insert` of the same key overwrote it.
    Replaced,
    /// `clear` took it out.
    Cleared,
}

impl RemovalCause {
    /// Every cause, in a stable order.
    pub const ALL: [RemovalCause; 5] = [
        RemovalCause::Expired,
        RemovalCause::Capacity,
        RemovalCause::Explicit,
        RemovalCause::Replaced,
        RemovalCause::Cleared,
    ];

    /// Whether the cache removed the entry on its own (expiry or capacity),
    /// as opposed to a caller's `remove`, `insert` or `clear`.
    pub fn was_evicted(self) -> bool {
        matches!(self, RemovalCause::Expired | RemovalCause::Capacity)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            RemovalCause::Expired => 0,
            RemovalCause::Capacity => 1,
            RemovalCause::Explicit => 2,
            RemovalCause::Replaced => 3,
            RemovalCause::Cleared => 4,
        }
    }
}

impl fmt::Display for RemovalCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemovalCause::Expired => "expired",
            RemovalCause::Capacity => "capacity",
            RemovalCause::Explicit => "explicit",
            RemovalCause::Replaced => "replaced",
            RemovalCause::Cleared => "cleared",
        })
    }
}
