//! Looking at a shard without touching it: one entry's stamps, or every
//! live entry, under the shard lock (so an entry and its weight agree).

use std::borrow::Borrow;
use std::hash::Hash;

use super::{Settings, Shard};
use crate::clock::Ticks;
use crate::core::Stamps;

impl<K, V> Shard<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The live entry's stamps and weight; changes nothing.
    pub(crate) fn inspect<Q>(&self, s: &Settings<K, V>, hash: u64, key: &Q, now: Ticks) -> Option<Stamps>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let st = self.state.lock();
        let now = st.latest.at(now);
        let pin = self.graveyard.pin();
        let e = self.table.load_locked(&pin).find(hash, key)?;
        if e.is_expired(&s.rules.get(), now) {
            return None;
        }
        let weight = if s.weighted { st.weights.get(e.id as usize).copied().unwrap_or(1) } else { 1 };
        Some(Stamps::new(e.last_access(), e.inserted_at, weight).with_own(e.own()))
    }

    /// Up to `n` live entries in the policy's ranking (coldest first, or
    /// with `hottest` hottest first); `None` if the policy cannot tell.
    pub(crate) fn ranked(&self, s: &Settings<K, V>, n: usize, now: Ticks, hottest: bool) -> Option<Vec<(K, V)>>
    where
        K: Clone,
        V: Clone,
    {
        let st = self.state.lock();
        let now = st.latest.at(now);
        let policy = st.policy.as_ref()?;
        let ids = if hottest { policy.hottest(usize::MAX)? } else { policy.coldest(usize::MAX)? };
        let rules = s.rules.get();
        let live = ids.into_iter().filter_map(|id| st.entries.get(u32::try_from(id).ok()?));
        Some(live.filter(|e| !e.is_expired(&rules, now)).take(n).map(|e| (e.key.clone(), e.value.clone())).collect())
    }

    /// Calls `f` on every entry live at `now`; changes nothing.
    pub(crate) fn for_each_live(&self, s: &Settings<K, V>, now: Ticks, f: &mut dyn FnMut(&K, &V)) {
        let st = self.state.lock();
        let now = st.latest.at(now);
        for id in st.entries.resident() {
            let e = st.entries.entry(id);
            if !e.is_expired(&s.rules.get(), now) {
                f(&e.key, &e.value);
            }
        }
    }
}
