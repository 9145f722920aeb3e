//! Loads versus writes: an `insert`, `remove` or `clear` that happens while a
//! load of its key is in flight wins. The load's value still goes to the
//! callers that asked for it, but it is not stored over the newer write.
//!
//! A load registers a [`LoadTicket`] (a mark counter under its key's hash)
//! *before* its leader looks the key up one last time; every explicit write
//! bumps the counters of its key *after* its change, inside the critical
//! section that made the change. The leader's last lookup runs inside that
//! same kind of critical section and *arms* the ticket there (notes the
//! counter), and the load stores its value, again in that critical section,
//! only if the counter has not moved since. So a write is either wholly
//! before the lookup (the lookup sees its change, and its mark is not held
//! against the load) or wholly after it (its mark refuses the store): the
//! load is linearizable as "miss, then store unless overtaken". With a
//! `SeqCst` fence on each side (between registering and the lookup; between
//! the change and reading `active`), a write that finds no load registered
//! is seen by the lookup. With no load in flight a write pays one fence and
//! one load of `active` (just the load where lookups take the write's own
//! lock, which orders them instead); reads pay nothing.
//!
//! Marks are filed by the cache's 64-bit key hash, so a write to another
//! key with the same hash also marks a load (it is then not stored: a lost
//! cache fill, never a wrong value).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(ttlkit_loom)]
use loom::sync::atomic::fence;
#[cfg(not(ttlkit_loom))]
use std::sync::atomic::fence;

use hashbrown::HashMap;
use smallvec::SmallVec;

use crate::sync::{Arc, AtomicUsize, Mutex};

type Mark = Arc<AtomicU64>;

/// The tickets of one cache's loads in flight, by key hash.
pub(crate) struct Marks {
    /// Tickets registered; a write with none to mark stops at reading it.
    active: AtomicUsize,
    /// One load of a key hash is the rule, so its marks sit inline: a load
    /// allocates no list to register.
    by_hash: Mutex<HashMap<u64, SmallVec<[Mark; 1]>, crate::sync::RandomState>>,
}

impl Default for Marks {
    fn default() -> Self {
        Marks { active: AtomicUsize::new(0), by_hash: Mutex::new(HashMap::default()) }
    }
}

impl Marks {
    /// Registers a load of the key whose hash is `hash`. Call it before the
    /// lookup that decides whether to run `init`.
    pub(crate) fn register(&self, hash: u64) -> LoadTicket<'_> {
        self.register_as(MarksRef::Borrowed(self), hash)
    }

    /// [`register`](Self::register) for a load that outlives the caller's
    /// borrow of the cache (an async load parked in its flight).
    pub(crate) fn register_shared(self: &Arc<Self>, hash: u64) -> LoadTicket<'static> {
        self.register_as(MarksRef::Shared(Arc::clone(self)), hash)
    }

    fn register_as<'a>(&self, marks: MarksRef<'a>, hash: u64) -> LoadTicket<'a> {
        let mark = Mark::default();
        {
            let mut by_hash = self.by_hash.lock();
            by_hash.entry(hash).or_default().push(Arc::clone(&mark));
            self.active.fetch_add(1, Ordering::SeqCst);
        }
        // Pairs with the fence in `invalidate`: the caller's lookup, which
        // follows, cannot be ordered before the registration.
        fence(Ordering::SeqCst);
        LoadTicket { registered: Some(Registered { marks, hash, mark, seen: AtomicU64::new(0) }) }
    }

    /// Marks the loads of `hash` in flight. Call it after the write's
    /// change, inside the critical section that made it.
    #[inline]
    pub(crate) fn invalidate(&self, hash: u64) {
        if self.any_active() {
            self.mark(Some(hash));
        }
    }

    /// Marks the loads of `hash` in flight but the one holding `own` (a
    /// compute's write marks the other loads of its key, not itself).
    #[inline]
    pub(crate) fn invalidate_except(&self, hash: u64, own: Option<&Mark>) {
        if self.any_active() {
            let by_hash = self.by_hash.lock();
            for mark in by_hash.get(&hash).into_iter().flatten() {
                if !own.is_some_and(|own| Arc::ptr_eq(own, mark)) {
                    mark.fetch_add(1, Ordering::Release);
                }
            }
        }
    }

    /// Marks every load in flight (a `clear`).
    #[inline]
    pub(crate) fn invalidate_all(&self) {
        if self.any_active() {
            self.mark(None);
        }
    }

    /// Marks the loads in flight whose key hash passes `clears` (a `clear`
    /// of one shard: loads of keys it does not hold are not overtaken by it).
    #[inline]
    pub(crate) fn invalidate_where(&self, clears: &dyn Fn(u64) -> bool) {
        if self.any_active() {
            crate::compute::note_own_write(self, None);
            let by_hash = self.by_hash.lock();
            by_hash.iter().filter(|(h, _)| clears(**h)).flat_map(|(_, m)| m).for_each(|mark| {
                mark.fetch_add(1, Ordering::Release);
            });
        }
    }

    /// Like [`invalidate`](Self::invalidate), for a cache whose lookups
    /// take the very lock this write holds: the lock orders the write with
    /// the leader's lookup, so no fence is needed (the `mutex` backend).
    #[inline]
    pub(crate) fn invalidate_locked(&self, hash: u64) {
        if self.active.load(Ordering::Relaxed) > 0 {
            self.mark(Some(hash));
        }
    }

    /// [`invalidate_all`](Self::invalidate_all) under the lookups' lock.
    #[inline]
    pub(crate) fn invalidate_all_locked(&self) {
        if self.active.load(Ordering::Relaxed) > 0 {
            self.mark(None);
        }
    }

    #[inline]
    fn any_active(&self) -> bool {
        // Pairs with the fence in `register`: the change before this point
        // is visible to a lookup made after a registration this misses.
        fence(Ordering::SeqCst);
        self.active.load(Ordering::Relaxed) > 0
    }

    #[cold]
    fn mark(&self, hash: Option<u64>) {
        crate::compute::note_own_write(self, hash);
        let by_hash = self.by_hash.lock();
        let set = |mark: &Mark| {
            mark.fetch_add(1, Ordering::Release);
        };
        match hash {
            Some(h) => by_hash.get(&h).into_iter().flatten().for_each(set),
            None => by_hash.values().flatten().for_each(set),
        }
    }

    fn release(&self, hash: u64, mark: &Mark) {
        let mut by_hash = self.by_hash.lock();
        if let hashbrown::hash_map::Entry::Occupied(mut marks) = by_hash.entry(hash) {
            marks.get_mut().retain(|m| !Arc::ptr_eq(m, mark));
            if marks.get().is_empty() {
                marks.remove();
            }
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A load in flight, as its cache tracks it: from
/// [`SlidingTtlCache::begin_load`](crate::SlidingTtlCache::begin_load) until
/// dropped, every `insert`, `remove` and `clear` of its key marks it, and
/// [`SlidingTtlCache::commit_load`](crate::SlidingTtlCache::commit_load)
/// then refuses to store its value.
///
/// ```
/// use ttlkit::prelude::*;
///
/// let cache: MutexCache<&str, u32> = CacheBuilder::new().build()?;
/// // A load made outside the cache (an async fetch, say).
/// let (ticket, found) = cache.begin_load(&"a");
/// assert_eq!(found, None);
/// cache.insert("a", 2); // a write while the load runs wins
/// assert!(!cache.commit_load("a", 1, &ticket), "the stale load is not stored");
/// drop(ticket);
/// assert_eq!(cache.get("a"), Some(2));
/// # Ok::<(), BuildError>(())
/// ```
pub struct LoadTicket<'a> {
    registered: Option<Registered<'a>>,
}

/// The marks a ticket is registered with: borrowed from the cache, or
/// shared with it.
enum MarksRef<'a> {
    Borrowed(&'a Marks),
    Shared(Arc<Marks>),
}

impl std::ops::Deref for MarksRef<'_> {
    type Target = Marks;

    fn deref(&self) -> &Marks {
        match self {
            MarksRef::Borrowed(m) => m,
            MarksRef::Shared(m) => m,
        }
    }
}

struct Registered<'a> {
    marks: MarksRef<'a>,
    hash: u64,
    mark: Mark,
    /// The mark count when the ticket was armed.
    seen: AtomicU64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.marks.release(self.hash, &self.mark);
    }
}

impl LoadTicket<'_> {
    /// A ticket nothing marks, for a backend that cannot track writes: a
    /// load under it is always stored.
    pub fn untracked() -> Self {
        LoadTicket { registered: None }
    }

    /// Notes the marks so far as seen: call it inside the critical section
    /// of the leader's last lookup, whose result already reflects them.
    pub(crate) fn arm(&self) {
        if let Some(r) = &self.registered {
            r.seen.store(r.mark.load(Ordering::Acquire), Ordering::Relaxed);
        }
    }

    /// Whether a write, remove or clear of the key happened since the
    /// ticket was armed. Read it in the critical section of the store.
    pub(crate) fn invalidated(&self) -> bool {
        self.registered.as_ref().is_some_and(|r| r.mark.load(Ordering::Acquire) != r.seen.load(Ordering::Relaxed))
    }
}

impl fmt::Debug for LoadTicket<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadTicket")
            .field("tracked", &self.registered.is_some())
            .field("invalidated", &self.invalidated())
            .finish()
    }
}

/// What one operation of a [`Core`](crate::core::Core) does about the loads
/// in flight, inside the core's critical section.
///
/// The front-end hands a gate to every core operation that reads for a
/// load, writes, removes or clears. The core calls [`admits`](Self::admits)
/// before a store and [`after_change`](Self::after_change) once the change
/// (or the lookup) is made, both while it still holds the lock that orders
/// the key's reads and writes. That is the whole protocol: it is what makes
/// a write made during a load win over the load's value. A gate cannot be
/// made outside ttlkit.
///
/// ```
/// use ttlkit::core::Gate;
///
/// // Gates are made by the front-end only and handed to a core's operations;
/// // a core calls `admits` before storing and `after_change` after its change
/// // (see the `ttlkit::core` module page for a complete core).
/// fn _is_lifetime_bound(_: Gate<'_>) {}
/// ```
pub struct Gate<'a>(Admission<'a>, Cell<bool>);

#[derive(Clone, Copy)]
enum Admission<'a> {
    /// An explicit write of the key with this hash: marks its loads.
    /// `locked`: the core's lookups take the lock this write holds, so the
    /// lock orders them and no fence is needed.
    Write { marks: &'a Marks, hash: u64, locked: bool },
    /// A `clear` of every key.
    ClearAll { marks: &'a Marks, locked: bool },
    /// A `clear` of the keys whose hash passes the test: marks their loads.
    Clear(&'a Marks, &'a dyn Fn(u64) -> bool),
    /// A load's own store: happens only if its ticket is unmarked, and
    /// marks nothing.
    Commit(&'a LoadTicket<'a>),
    /// A compute's store or remove: happens only if its ticket is unmarked,
    /// and marks the other loads of its key (it is a write).
    Compute { ticket: &'a LoadTicket<'a>, marks: &'a Marks, hash: u64 },
    /// A load's last lookup: arms its ticket.
    Arm(&'a LoadTicket<'a>),
}

impl<'a> Gate<'a> {
    fn of(admission: Admission<'a>) -> Self {
        Gate(admission, Cell::new(false))
    }

    /// A conditional write of a compute: stores or removes only if the key
    /// was not written since `ticket` was armed, and marks the key's other
    /// loads when it does.
    pub(crate) fn compute(ticket: &'a LoadTicket<'a>, marks: &'a Marks, hash: u64) -> Self {
        Gate::of(Admission::Compute { ticket, marks, hash })
    }

    /// Whether [`admits`](Self::admits) refused the change.
    pub(crate) fn refused(&self) -> bool {
        self.1.get()
    }

    pub(crate) fn write(marks: &'a Marks, hash: u64, locked: bool) -> Self {
        Gate::of(Admission::Write { marks, hash, locked })
    }

    pub(crate) fn clear_all(marks: &'a Marks, locked: bool) -> Self {
        Gate::of(Admission::ClearAll { marks, locked })
    }

    pub(crate) fn commit(ticket: &'a LoadTicket<'a>) -> Self {
        Gate::of(Admission::Commit(ticket))
    }

    pub(crate) fn arm(ticket: &'a LoadTicket<'a>) -> Self {
        Gate::of(Admission::Arm(ticket))
    }

    /// This clear, narrowed to the keys whose hash passes `clears` (a core
    /// that clears in parts, one lock at a time, marks only the loads of
    /// the part it holds).
    pub fn narrowed<'b>(&'b self, clears: &'b dyn Fn(u64) -> bool) -> Gate<'b> {
        match self.0 {
            Admission::ClearAll { marks, .. } | Admission::Clear(marks, _) => Gate::of(Admission::Clear(marks, clears)),
            // Only a clear is ever narrowed; any other gate stays as it is.
            other => Gate::of(other),
        }
    }

    /// Checked before the change: whether it may be made (a load whose key
    /// was written since its last lookup may not store).
    #[inline]
    pub fn admits(&self) -> bool {
        let admitted = match &self.0 {
            Admission::Commit(ticket) | Admission::Compute { ticket, .. } => !ticket.invalidated(),
            _ => true,
        };
        self.1.set(!admitted);
        admitted
    }

    /// Run after the change, before the critical section ends.
    #[inline]
    pub fn after_change(&self) {
        match &self.0 {
            Admission::Write { marks, hash, locked: false } => marks.invalidate(*hash),
            Admission::Write { marks, hash, locked: true } => marks.invalidate_locked(*hash),
            Admission::ClearAll { marks, locked: false } => marks.invalidate_all(),
            Admission::ClearAll { marks, locked: true } => marks.invalidate_all_locked(),
            Admission::Clear(marks, clears) => marks.invalidate_where(*clears),
            Admission::Commit(_) => {}
            Admission::Compute { marks, hash, .. } => marks.invalidate_except(*hash, self.ticket_mark()),
            Admission::Arm(ticket) => ticket.arm(),
        }
    }

    fn ticket_mark(&self) -> Option<&Mark> {
        match &self.0 {
            Admission::Compute { ticket, .. } => ticket.registered.as_ref().map(|r| &r.mark),
            _ => None,
        }
    }
}

impl fmt::Debug for Gate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0 {
            Admission::Write { .. } => "Write",
            Admission::ClearAll { .. } | Admission::Clear(..) => "Clear",
            Admission::Commit(_) => "Commit",
            Admission::Compute { .. } => "Compute",
            Admission::Arm(_) => "Arm",
        };
        f.debug_tuple("Gate").field(&kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_mark_only_their_key_and_only_while_registered() {
        let marks = Marks::default();
        marks.invalidate(1); // nothing in flight: a no-op
        let (one, two) = (marks.register(1), marks.register(2));
        assert!(!one.invalidated() && !two.invalidated());
        marks.invalidate(1);
        assert!(one.invalidated() && !two.invalidated());
        let again = marks.register(1);
        assert!(!again.invalidated(), "a ticket sees only the writes made after it");
        marks.invalidate_all();
        assert!(two.invalidated() && again.invalidated());
        drop((one, two, again));
        assert_eq!(marks.active.load(Ordering::SeqCst), 0);
        assert!(marks.by_hash.lock().is_empty());
        assert!(!LoadTicket::untracked().invalidated());
    }

    #[test]
    fn marks_before_arming_are_not_held_against_the_load() {
        let marks = Marks::default();
        let ticket = marks.register(1);
        // A write between registering and the lookup: the lookup sees it.
        marks.invalidate(1);
        ticket.arm();
        assert!(!ticket.invalidated(), "the armed lookup already saw that write");
        marks.invalidate(1);
        assert!(ticket.invalidated(), "a write after the lookup refuses the store");
    }
}
