//! The front-end's load-through calls, sync: the counted lookup that also
//! finds values due for refresh-ahead and stale values, and the load.

use std::hash::Hash;
use std::time::Duration;

use crate::clock::{ClockSource, Ticks};
use crate::core::Core;
use crate::entry::{Fetch, Fetched};
use crate::flight::Kind;
use crate::frontend::Frontend;
use crate::invalidation::Gate;
use crate::load_error::LoadError;
use crate::loader::{How, Served};
use crate::sync::Arc;

/// What a load-through call's lookup found.
pub(crate) enum Looked<V> {
    /// A live value: the answer.
    Fresh(V),
    /// A live value written more than `refresh_after` ago: served, and
    /// reloaded.
    Due(V),
    /// A value past its deadline within the stale window: served while one
    /// reload runs.
    Stale(V),
    Miss,
}

/// How a load-through call goes on after its lookup.
pub(crate) struct Plan<V> {
    pub(crate) kind: Kind,
    /// Served at once if another caller is loading (and if the load fails).
    pub(crate) current: Option<V>,
    /// How `current` is reported.
    pub(crate) current_is: Fetch,
    /// Reload even if the leader's last lookup finds a live value.
    pub(crate) reload: bool,
}

impl<V> Looked<V> {
    /// The answer if there is nothing to load, else how to load.
    pub(crate) fn plan(self) -> Result<V, Plan<V>> {
        match self {
            Looked::Fresh(v) => Ok(v),
            Looked::Due(v) => Err(Plan { kind: Kind::Refresh, current: Some(v), current_is: Fetch::Hit, reload: true }),
            Looked::Stale(v) => {
                Err(Plan { kind: Kind::Refresh, current: Some(v), current_is: Fetch::Stale, reload: false })
            }
            Looked::Miss => Err(Plan { kind: Kind::Load, current: None, current_is: Fetch::Hit, reload: false }),
        }
    }
}

impl<K, V, C> Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    /// The counted lookup of a load-through call.
    pub(crate) fn look(&self, key: &K) -> Looked<V> {
        let found = self.read(key, true);
        self.stats.lookup(found.is_some());
        match found {
            Some(v) if self.due_for_refresh(key) => Looked::Due(v),
            Some(v) => Looked::Fresh(v),
            None => self.stale_value(key).map_or(Looked::Miss, Looked::Stale),
        }
    }

    fn due_for_refresh(&self, key: &K) -> bool {
        let Some(after) = self.loads.refresh_after else { return false };
        let now = self.clock.now();
        let stamps = self.core.inspect(self.hash(key), key, now);
        stamps.is_some_and(|s| now.saturating_duration_since(s.last_write()) >= after)
    }

    /// The key's stale value, if its window is open. An expired entry still
    /// held is removed first, so that it reaches the shelf.
    fn stale_value(&self, key: &K) -> Option<V> {
        let shelf = self.shelf.as_ref()?;
        let hash = self.hash(key);
        let ticket = self.loader.marks().register(hash);
        let now = self.clock.now();
        let live = self.reporting(|out| self.core.read_for_load(hash, key, now, &Gate::arm(&ticket), out));
        if live.is_some() {
            return None;
        }
        // Removes only an entry no write replaced since the lookup above:
        // an expired one (a live one would have been found).
        let gate = Gate::commit(&ticket);
        self.reporting(|out| self.core.remove(hash, key, now, &gate, out));
        shelf.get(key, self.clock.now())
    }

    /// How long a waiter waits, on the cache's clock, from now.
    pub(crate) fn wait_limit(&self) -> Option<(Duration, &ClockSource, Ticks)> {
        self.loads.load_timeout.map(|d| (d, &self.clock, self.clock.now()))
    }

    pub(crate) fn load_timeout(&self) -> Option<Duration> {
        self.loads.load_timeout
    }

    /// Answers a load-through call with `value`, a stale one counted.
    pub(crate) fn answer(&self, value: V, fetch: Fetch) -> Fetched<V> {
        if fetch == Fetch::Stale {
            self.stats.stale_served();
        }
        Fetched::new(value, fetch)
    }

    /// The counted lookup of a load-through call, and what follows from
    /// it: the answer, if there is nothing to load or the reloader reloads
    /// in the background; else how this caller loads.
    pub(crate) fn plan(shared: &Arc<Self>, key: &K) -> Result<Fetched<V>, Plan<V>> {
        let mut plan = match shared.look(key).plan() {
            Ok(v) => return Ok(Fetched::new(v, Fetch::Hit)),
            Err(plan) => plan,
        };
        if shared.loads.reloader.is_some() {
            if let Some(current) = plan.current.take() {
                return Ok(Self::serve_and_reload(shared, key, plan, current));
            }
        }
        Err(plan)
    }

    /// A whole sync load-through call: `try_fetch_with` and the forms
    /// built on it.
    pub(crate) fn try_fetch_sync<F, E>(shared: &Arc<Self>, key: K, init: F) -> Result<Fetched<V>, LoadError<E>>
    where
        F: FnOnce() -> Result<V, E>,
        E: Send + Sync + 'static,
    {
        let plan = match Self::plan(shared, &key) {
            Ok(answer) => return Ok(answer),
            Err(plan) => plan,
        };
        let this = &**shared;
        let how = How {
            kind: plan.kind,
            current: plan.current.clone(),
            timeout: this.loads.load_timeout.map(|d| (d, &this.clock)),
            reload: plan.reload,
        };
        let (result, served) = this.loader.load_as(this, key, init, how);
        match (result, plan.current) {
            (Ok(v), _) => Ok(match served {
                Served::Current => this.answer(v, plan.current_is),
                Served::Led => Fetched::new(v, Fetch::Loaded),
                Served::Found => Fetched::new(v, Fetch::Hit),
                Served::Coalesced => Fetched::new(v, Fetch::Coalesced),
            }),
            // A failed refresh keeps the old value; a failed revalidation
            // serves the stale one.
            (Err(LoadError::Init(_)), Some(current)) => Ok(this.answer(current, plan.current_is)),
            (Err(e), _) => Err(e),
        }
    }
}
