//! The stale shelf behind [`serve_stale_for`](crate::CacheBuilder::serve_stale_for):
//! values that left the cache as expired less than the stale window ago,
//! which a load-through read may serve (marked stale) while one reload
//! runs, or when that reload fails.
//!
//! The shelf is fed by the front-end from the departures it reports: an
//! entry that leaves as `Expired` is shelved with the time it left. The
//! cores do not say when an entry's deadline was, only when it left, so the
//! window counts from the removal: a sweep removes an entry within one
//! sweep interval of its deadline, and a load-through read that finds an
//! expired entry not yet swept removes it then (which is why the setting
//! needs the sweeper). Any write, remove or load of a key takes its value
//! off the shelf, and `clear` empties it, so a value removed on purpose is
//! never served.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::hash::Hash;
use std::time::Duration;

use hashbrown::HashMap;

use crate::cache::RemovalCause;
use crate::clock::Ticks;
use crate::listener::Removed;
use crate::sync::Mutex;

/// Shelves the values among `left` that left as expired at `now`.
pub(crate) fn shelve<K: Hash + Eq + Clone, V: Clone>(shelf: &Shelf<K, V>, left: &[Removed<K, V>], now: Ticks) {
    let expired = left.iter().filter(|(_, _, cause)| *cause == RemovalCause::Expired);
    if expired.clone().next().is_some() {
        shelf.put(expired.map(|(k, v, _)| (k.clone(), v.clone())), now);
    }
}

pub(crate) struct Shelf<K, V> {
    window: Duration,
    /// At most this many values (the cache's entry bound, if any).
    room: usize,
    inner: Mutex<Shelved<K, V>>,
}

struct Shelved<K, V> {
    values: HashMap<K, (V, Ticks), foldhash::fast::RandomState>,
    /// Keys in the order they were shelved, with the time, to drop the
    /// oldest first.
    order: VecDeque<(Ticks, K)>,
}

impl<K: Hash + Eq + Clone, V: Clone> Shelf<K, V> {
    pub(crate) fn new(window: Duration, room: Option<u64>) -> Self {
        let room = room.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Shelf {
            window,
            room,
            inner: Mutex::new(Shelved {
                values: HashMap::with_hasher(foldhash::fast::RandomState::default()),
                order: VecDeque::new(),
            }),
        }
    }

    /// Shelves values that left as expired at `now`.
    pub(crate) fn put(&self, expired: impl Iterator<Item = (K, V)>, now: Ticks) {
        let mut s = self.inner.lock();
        for (key, value) in expired {
            s.order.push_back((now, key.clone()));
            s.values.insert(key, (value, now));
        }
        self.prune(&mut s, now);
    }

    /// The value `key` had if it expired less than the window before `now`.
    pub(crate) fn get(&self, key: &K, now: Ticks) -> Option<V> {
        let s = self.inner.lock();
        let (value, left) = s.values.get(key)?;
        (now.saturating_duration_since(*left) < self.window).then(|| value.clone())
    }

    /// Takes `key` off the shelf (it was written, removed or loaded).
    #[inline]
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut s = self.inner.lock();
        if !s.values.is_empty() {
            s.values.remove(key);
        }
    }

    pub(crate) fn clear(&self) {
        let mut s = self.inner.lock();
        s.values.clear();
        s.order.clear();
    }

    /// Drops what is past the window, and the oldest past the room.
    fn prune(&self, s: &mut Shelved<K, V>, now: Ticks) {
        while let Some((at, _)) = s.order.front() {
            let old = now.saturating_duration_since(*at) >= self.window;
            if !old && s.order.len() <= self.room {
                break;
            }
            if let Some((at, key)) = s.order.pop_front() {
                // Only if it is still that shelving (a later one moved it back).
                if s.values.get(&key).is_some_and(|(_, left)| *left == at) {
                    s.values.remove(&key);
                }
            }
        }
    }
}
