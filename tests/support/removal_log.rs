//! A removal listener that records what it hears, shared by the test
//! binaries (`#[path]`).

#![allow(dead_code)] // Each binary that includes this uses part of it.

use std::sync::{Arc, Mutex};

use ttlkit::{CacheBuilder, RemovalCause};

/// Every `(key, value, cause)` a cache's removal listener was called with,
/// in call order. Clones share one log.
pub struct RemovalLog<K, V>(Arc<Mutex<Vec<(K, V, RemovalCause)>>>);

impl<K, V> Clone for RemovalLog<K, V> {
    fn clone(&self) -> Self {
        RemovalLog(Arc::clone(&self.0))
    }
}

impl<K, V> Default for RemovalLog<K, V> {
    fn default() -> Self {
        RemovalLog(Arc::default())
    }
}

impl<K, V> RemovalLog<K, V>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self::default()
    }

    /// `b` with a listener that records into this log.
    pub fn attach(&self, b: CacheBuilder<K, V>) -> CacheBuilder<K, V> {
        let sink = self.clone();
        b.removal_listener(move |k: &K, v: V, c| sink.0.lock().unwrap().push((k.clone(), v, c)))
    }

    /// A copy of the entries so far.
    pub fn entries(&self) -> Vec<(K, V, RemovalCause)> {
        self.0.lock().unwrap().clone()
    }

    /// The causes so far, in order.
    pub fn causes(&self) -> Vec<RemovalCause> {
        self.0.lock().unwrap().iter().map(|(_, _, c)| *c).collect()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}
