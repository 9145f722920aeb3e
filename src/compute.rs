//! Atomic computes ([`Entry::and_compute_with`](crate::Entry::and_compute_with)):
//! a read-modify-write of one key that no other write, load, compute or
//! remove of the key can interleave with.
//!
//! A compute leads a flight of its key (kind `Compute`), so the key's
//! loads and computes wait for it and then look again. Plain writes do not
//! wait: a compute takes a load ticket before it reads, and makes its
//! change through a gate that refuses it if the key was written since; it
//! then reads the new value and runs its closure again. So its change is
//! made on exactly the value its closure saw, and no write is lost.
//!
//! A closure that writes its own key would make every attempt refuse the
//! next: the writes it makes are noticed (the cold path of a write that
//! finds loads in flight looks at this thread's computes) and the compute
//! panics instead of spinning.

use std::cell::RefCell;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::core::Core;
use crate::entry::{Computed, Op};
use crate::flight::{Kind, Outcome, Polling, Waited};
use crate::frontend::Frontend;
use crate::invalidation::{Gate, LoadTicket, Marks};
use crate::load_error::LoadError;
use crate::loader::{Joined, LeaderGuard};
use crate::loads_async::Wait;
use crate::sync::Arc;

/// The panic of a compute whose closure wrote its own key.
const OWN_WRITE: &str = "ttlkit: an and_compute_with closure wrote the key it computes \
     (return Op::Put or Op::Remove instead; the write would make it run again forever)";

thread_local! {
    /// The computes whose closure this thread is running: (marks, key
    /// hash, whether the closure wrote that key).
    static COMPUTING: RefCell<Vec<(usize, u64, bool)>> = const { RefCell::new(Vec::new()) };
}

/// Notes a write of `hash` (or of every key: `None`) made through `marks`,
/// if this thread is running a compute's closure for it.
pub(crate) fn note_own_write(marks: &Marks, hash: Option<u64>) {
    let id = marks as *const Marks as usize;
    let _ = COMPUTING.try_with(|c| {
        for (m, h, wrote) in c.borrow_mut().iter_mut() {
            if *m == id && hash.is_none_or(|hash| hash == *h) {
                *wrote = true;
            }
        }
    });
}

/// This thread runs a compute's closure (until dropped).
struct Computing(());

impl Computing {
    fn enter(marks: &Marks, hash: u64) -> Self {
        COMPUTING.with(|c| c.borrow_mut().push((marks as *const Marks as usize, hash, false)));
        Computing(())
    }

    /// Whether the closure wrote its key; leaves the compute.
    fn wrote(self) -> bool {
        COMPUTING.with(|c| c.borrow().last().is_some_and(|e| e.2))
    }
}

impl Drop for Computing {
    fn drop(&mut self) {
        COMPUTING.with(|c| c.borrow_mut().pop());
    }
}

impl<K, V, C> Frontend<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Core<K, V>,
{
    /// [`Entry::and_compute_with`](crate::Entry::and_compute_with).
    pub(crate) fn compute_sync<F>(&self, key: K, mut f: F) -> Computed<V>
    where
        F: FnMut(Option<&V>) -> Op<V>,
    {
        loop {
            match self.loader.join(&key, Kind::Compute, true) {
                Joined::Waiter(flight) => {
                    if flight.runs_here() {
                        LoadError::<()>::Recursive.raise();
                    }
                    if let Waited::TimedOut(waited) = flight.wait(self.wait_limit()) {
                        LoadError::<()>::TimedOut { waited }.raise();
                    }
                }
                Joined::Leader(flight) => {
                    let guard = LeaderGuard::new(&self.loader, &key, flight);
                    let hash = self.hash(&key);
                    let done = loop {
                        let (ticket, current) = self.begin_load_of(&key);
                        let op = {
                            let own = Computing::enter(self.loader.marks(), hash);
                            let op = f(current.as_ref());
                            if own.wrote() {
                                panic!("{OWN_WRITE}");
                            }
                            op
                        };
                        if let Some(done) = self.apply_compute(&key, hash, current, op, &ticket) {
                            break done;
                        }
                    };
                    guard.publish(Outcome::Abandoned);
                    return done;
                }
            }
        }
    }

    /// Removes `key`'s live value if `keep` rejects it, judged under a load
    /// ticket so that a value written after the judgement is judged afresh,
    /// never removed unseen (the `retain` of a core that cannot judge and
    /// remove in one critical section). Returns whether it removed one.
    pub(crate) fn remove_if_rejected(&self, key: &K, keep: &mut dyn FnMut(&K, &V) -> bool) -> bool {
        let hash = self.hash(key);
        loop {
            let (ticket, current) = self.begin_load_of(key);
            let op = match &current {
                Some(v) if !keep(key, v) => Op::Remove,
                _ => Op::Keep,
            };
            if let Some(done) = self.apply_compute(key, hash, current, op, &ticket) {
                return matches!(done, Computed::Removed(_));
            }
        }
    }

    /// Makes `op` of a compute that saw `current` under `ticket`; `None` if
    /// the key was written since (the compute then runs again).
    fn apply_compute(
        &self,
        key: &K,
        hash: u64,
        current: Option<V>,
        op: Op<V>,
        ticket: &LoadTicket<'_>,
    ) -> Option<Computed<V>> {
        let gate = Gate::compute(ticket, self.loader.marks(), hash);
        let now = self.clock.now();
        let done = match op {
            Op::Keep => return Some(Computed::Unchanged(current)),
            Op::Put(new) => {
                let weight = self.weigh(key, &new);
                let stored = self
                    .reporting(|out| self.core.upsert(hash, key.clone(), new.clone(), weight, None, now, &gate, out));
                if !stored || gate.refused() {
                    return None;
                }
                self.stats.insert();
                match current {
                    Some(old) => Computed::Replaced { old, new },
                    None => Computed::Inserted(new),
                }
            }
            Op::Remove if current.is_none() => return Some(Computed::Unchanged(None)),
            Op::Remove => {
                let removed = self.reporting(|out| self.core.remove(hash, key, now, &gate, out));
                if gate.refused() {
                    return None;
                }
                removed.map_or(Computed::Unchanged(None), Computed::Removed)
            }
        };
        self.forget_stale(key);
        Some(done)
    }

    /// [`Entry::and_compute_with_async`](crate::Entry::and_compute_with_async).
    // Not an `async fn`, for the reason given at `Frontend::try_fetch_async`.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn compute_async<'a, F, Fut>(
        shared: &'a Arc<Self>,
        key: K,
        mut f: F,
    ) -> impl Future<Output = Computed<V>> + Send + use<'a, K, V, C, F, Fut>
    where
        F: FnMut(Option<V>) -> Fut + Send,
        Fut: Future<Output = Op<V>> + Send,
    {
        async move {
            let fe = &**shared;
            loop {
                match fe.loader.join(&key, Kind::Compute, false) {
                    Joined::Waiter(flight) => {
                        if flight.runs_here() {
                            LoadError::<()>::Recursive.raise();
                        }
                        if let Waited::TimedOut(waited) =
                            Wait::new(shared, flight, &key, fe.load_timeout(), false).await
                        {
                            LoadError::<()>::TimedOut { waited }.raise();
                        }
                    }
                    Joined::Leader(flight) => {
                        let guard = LeaderGuard::new(&fe.loader, &key, flight);
                        let hash = fe.hash(&key);
                        loop {
                            let (ticket, current) = fe.begin_load_of(&key);
                            let op = OwnPolls {
                                id: guard.flight.id,
                                marks: fe.loader.marks(),
                                hash,
                                future: Box::pin(f(current.clone())),
                            }
                            .await;
                            if let Some(done) = fe.apply_compute(&key, hash, current, op, &ticket) {
                                guard.publish(Outcome::Abandoned);
                                return done;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An async compute's closure future, polled with its flight on the
/// thread's polling stack (a recursive load from inside it is caught) and
/// its writes of the key noticed.
struct OwnPolls<'m, Fut> {
    id: u64,
    marks: &'m Marks,
    hash: u64,
    future: Pin<Box<Fut>>,
}

impl<Fut: Future> Future for OwnPolls<'_, Fut> {
    type Output = Fut::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        let _polling = Polling::enter(self.id);
        let own = Computing::enter(self.marks, self.hash);
        let polled = self.future.as_mut().poll(cx);
        if own.wrote() {
            panic!("{OWN_WRITE}");
        }
        polled
    }
}
