//! The moka backend's loads: ttlkit's own single-flight [`Loader`], keyed
//! by the key alone, over a lookup and a store that takes the key's stripe.
//!
//! moka's `get_with`/`try_get_with` are not used: moka keys its waiters by
//! key *and* error type, so callers of one missing key with different error
//! types each ran `init`, and the later values were stored as `Replaced`.
//!
//! [`Loader`]: crate::loader::Loader

use std::hash::Hash;

use super::inner::Inner;
use crate::invalidation::LoadTicket;
use crate::loader::LoadTarget;

impl<K, V> LoadTarget<K, V> for Inner<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn lookup(&self, key: &K) -> Option<V> {
        // Purges a value our stamps say is expired, so the load replaces it.
        Inner::lookup(self, key)
    }

    fn begin(&self, key: &K) -> (LoadTicket<'_>, Option<V>) {
        let hash = self.hash(key);
        let ticket = self.loader.marks().register(hash);
        // Under the key's stripe, where its writes mark the ticket.
        let found = self.lookup_in_stripe(hash, key, || ticket.arm());
        (ticket, found)
    }

    fn commit(&self, key: K, value: V, ticket: &LoadTicket<'_>) -> bool {
        let now = self.now();
        // As for an insert: room first, so moka applies the expired
        // entries' removal before it sees this one.
        self.make_room_first(now);
        let slot = self.new_slot(self.hash(&key), key.clone(), value, now);
        let stored = {
            // The key's writes mark the ticket under this same stripe.
            let mut deadlines = self.stripe(slot.stripe);
            let admitted = !ticket.invalidated();
            if admitted {
                self.admit(&mut deadlines, &slot);
                self.moka.insert(key, slot);
            }
            admitted
        };
        if stored {
            self.keep_bound();
        }
        self.deliver();
        stored
    }

    fn load_failed(&self) {
        self.stats.load_failure();
    }
}
