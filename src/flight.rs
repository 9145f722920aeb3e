//! One load (or compute) of one key in flight, shared by every caller of
//! that key: sync callers block on it, async callers await it.
//!
//! A flight is run one of two ways:
//!
//! * **By its leader**, on the leader's thread: a sync load's `init`, or a
//!   compute's closure. The leader publishes the outcome; if it unwinds (or,
//!   for an async compute, is dropped) it publishes `Abandoned` and the
//!   waiters try again.
//! * **Shared**: an async load's future is *parked* in the flight, and any
//!   async caller of the key may poll it. The poller takes the future out
//!   (the flight is then `Polling`), polls it with a waker that wakes every
//!   waiting caller, and puts it back. Whoever sees it finish stores the
//!   value and publishes. So a caller that is dropped (a timeout, an
//!   aborted task, a lost `select!`) takes nothing with it: the future
//!   stays parked and the remaining callers, the next caller of the key, or
//!   a task on the cache's spawner drive it on, without restarting it.
//!
//! Lost wake-ups: the future's waker wakes every registered caller and sets
//! `woken`; a poller that sees `woken` after its poll (a wake came while it
//! held the future, when nobody could act on it) wakes every caller again
//! before it returns, so some live caller always polls after the last wake.
//!
//! Sync callers never poll a parked future (it may need its runtime's
//! context, which a plain thread lacks): they wait for the outcome.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::clock::{ClockSource, Ticks};
use crate::invalidation::LoadTicket;
use crate::stats::LoadStart;
use crate::sync::{thread, AtomicU8, Condvar, Mutex};

#[cfg(ttlkit_loom)]
type ThreadId = loom::thread::ThreadId;
#[cfg(not(ttlkit_loom))]
type ThreadId = std::thread::ThreadId;

/// A failed load's error, before each caller downcasts it to its own `E`.
pub(crate) type SharedError = Arc<dyn Any + Send + Sync>;

/// An async load's future, its error erased.
pub(crate) type BoxLoad<V> = Pin<Box<dyn Future<Output = Result<V, SharedError>> + Send>>;

/// Flight ids, unique in the process, so the recursion check never takes
/// one cache's flight for another's.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The flights whose future this thread is polling, innermost last.
    static POLLING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// How a flight ended, as its callers see it.
pub(crate) enum Outcome<V> {
    Running,
    Done(V),
    Failed(SharedError),
    /// The leader unwound or was dropped, or it was a compute: callers look
    /// again (and one of them may lead a new flight).
    Abandoned,
}

impl<V: Clone> Outcome<V> {
    fn copy(&self) -> Outcome<V> {
        match self {
            Outcome::Running => Outcome::Running,
            Outcome::Done(v) => Outcome::Done(v.clone()),
            Outcome::Failed(e) => Outcome::Failed(Arc::clone(e)),
            Outcome::Abandoned => Outcome::Abandoned,
        }
    }
}

/// What a flight runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A load of a key with no live value.
    Load,
    /// A reload of a key that has a value callers are served meanwhile.
    Refresh,
    /// An `and_compute_with`: callers wait, then look again.
    Compute,
}

/// An async load between two polls.
pub(crate) struct Parked<V> {
    pub(crate) future: BoxLoad<V>,
    /// Taken before the leader's last lookup: a write of the key since
    /// refuses the store.
    pub(crate) ticket: LoadTicket<'static>,
    /// When `init` started, for the load counters.
    pub(crate) start: LoadStart,
}

enum Task<V> {
    /// Run by its leader (sync, or a compute): nothing to poll.
    Led,
    Parked(Parked<V>),
    /// Out being polled by one caller.
    Polling,
}

struct State<V> {
    outcome: Outcome<V>,
    task: Task<V>,
    /// A wake came since the last poll began.
    woken: bool,
    /// Async callers waiting, by slot.
    wakers: Vec<(u64, Waker)>,
    next_slot: u64,
    /// Async callers (and drivers) holding the flight.
    async_waiters: usize,
    /// The panic of a shared future that another caller was polling, kept
    /// for its leader.
    panic: Option<Box<dyn Any + Send>>,
}

pub(crate) struct Flight<V> {
    pub(crate) id: u64,
    pub(crate) kind: Kind,
    /// The thread running a sync leader's `init` or a compute's closure.
    runner: Option<ThreadId>,
    state: Mutex<State<V>>,
    done: Condvar,
    /// Set (1) just before the value is stored: a caller that finds it set
    /// may have missed the stored value because a write removed it since,
    /// so it must not be handed it (it looks again). One that finds it
    /// clear missed before the store, so the store falls within its call.
    pub(crate) settled: AtomicU8,
}

/// What a sync or async waiter got.
pub(crate) enum Waited<V> {
    Outcome(Outcome<V>),
    TimedOut(Duration),
}

/// One step of an async caller's poll.
pub(crate) enum Step<V> {
    Finished(Outcome<V>),
    /// This caller drives the future: poll it, then `put_back` or finish.
    Drive(Parked<V>),
    Pending,
}

impl<V> Flight<V> {
    /// A flight run by its leader on this thread (`sync`) or one whose
    /// leader will park a future in it.
    pub(crate) fn new(kind: Kind, sync: bool) -> Self {
        Flight {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            kind,
            runner: sync.then(|| thread::current().id()),
            state: Mutex::new(State {
                outcome: Outcome::Running,
                task: Task::Led,
                woken: false,
                wakers: Vec::new(),
                next_slot: 0,
                async_waiters: 0,
                panic: None,
            }),
            done: Condvar::new(),
            settled: AtomicU8::new(0),
        }
    }

    /// Whether this thread is the one running this flight: a caller that
    /// finds it is `init` asking for its own key.
    pub(crate) fn runs_here(&self) -> bool {
        self.runner == Some(thread::current().id()) || POLLING.with(|p| p.borrow().contains(&self.id))
    }

    /// Whether the value has begun to be stored (see `settled`).
    pub(crate) fn is_settled(&self) -> bool {
        self.settled.load(Ordering::SeqCst) != 0
    }

    pub(crate) fn settle(&self) {
        self.settled.store(1, Ordering::SeqCst);
    }

    /// Hands the flight its async load, which callers then drive.
    pub(crate) fn park(&self, parked: Parked<V>) {
        self.state.lock().task = Task::Parked(parked);
    }

    /// Sets the outcome and wakes every caller.
    pub(crate) fn publish(&self, outcome: Outcome<V>) {
        let (wakers, task) = {
            let mut st = self.state.lock();
            st.outcome = outcome;
            (std::mem::take(&mut st.wakers), std::mem::replace(&mut st.task, Task::Led))
        };
        // A parked future still there (its cache is being dropped) is
        // dropped outside the lock: its drop may call into the cache.
        drop(task);
        self.done.notify_all();
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }

    /// Keeps the panic of a shared future that a caller other than its
    /// leader was polling, for the leader.
    pub(crate) fn keep_panic(&self, panic: Box<dyn Any + Send>) {
        self.state.lock().panic = Some(panic);
    }

    /// Joins as an async caller; returns its slot.
    pub(crate) fn enter(&self) -> u64 {
        let mut st = self.state.lock();
        st.async_waiters += 1;
        st.next_slot += 1;
        st.next_slot
    }

    /// Leaves as an async caller; returns whether the flight is now an
    /// orphan: still running, its future parked, no async caller left to
    /// drive it.
    pub(crate) fn leave(&self, slot: u64) -> bool {
        let mut st = self.state.lock();
        st.async_waiters -= 1;
        st.wakers.retain(|(s, _)| *s != slot);
        st.async_waiters == 0 && matches!(st.outcome, Outcome::Running) && matches!(st.task, Task::Parked(_))
    }

    /// The panic kept for the leader, if any.
    pub(crate) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.state.lock().panic.take()
    }
}

impl<V: Clone> Flight<V> {
    /// Blocks until the flight ends, or, with `limit`, until this caller
    /// has waited that long on `clock` since `joined`.
    pub(crate) fn wait(&self, limit: Option<(Duration, &ClockSource, Ticks)>) -> Waited<V> {
        let mut st = self.state.lock();
        loop {
            if !matches!(st.outcome, Outcome::Running) {
                return Waited::Outcome(st.outcome.copy());
            }
            match limit {
                None => self.done.wait(&mut st),
                Some((limit, clock, joined)) => {
                    let waited = clock.now().saturating_duration_since(joined);
                    if waited >= limit {
                        return Waited::TimedOut(waited);
                    }
                    self.done.wait_for(&mut st, recheck_after(clock, limit - waited));
                }
            }
        }
    }
}

/// How long a waiter with a load timeout sleeps before it reads the clock
/// again: the time left on the system clock; a few milliseconds on any
/// other clock, which may jump (a `MockClock` moves only when told).
pub(crate) fn recheck_after(clock: &ClockSource, left: Duration) -> Duration {
    match clock {
        ClockSource::System(_) => left,
        _ => left.min(Duration::from_millis(2)),
    }
}

impl<V: Clone + Send + Sync + 'static> Flight<V> {
    /// One look at the flight by the async caller in `slot`: its outcome if
    /// it ended, the parked future to drive if nobody is polling it, else
    /// `Pending` with the caller's waker registered.
    pub(crate) fn step(&self, slot: u64, cx: &Context<'_>) -> Step<V> {
        let mut st = self.state.lock();
        if !matches!(st.outcome, Outcome::Running) {
            st.wakers.retain(|(s, _)| *s != slot);
            return Step::Finished(st.outcome.copy());
        }
        match std::mem::replace(&mut st.task, Task::Polling) {
            Task::Parked(parked) => {
                st.woken = false;
                Step::Drive(parked)
            }
            other => {
                st.task = other;
                register(&mut st.wakers, slot, cx.waker());
                Step::Pending
            }
        }
    }

    /// Puts a future back after a poll that returned `Pending`, registers
    /// the caller's waker, and, if a wake came during the poll, wakes
    /// every caller so that one of them polls again.
    pub(crate) fn put_back(&self, parked: Parked<V>, slot: u64, cx: &Context<'_>) {
        let wakers = {
            let mut st = self.state.lock();
            st.task = Task::Parked(parked);
            register(&mut st.wakers, slot, cx.waker());
            if st.woken {
                std::mem::take(&mut st.wakers)
            } else {
                Vec::new()
            }
        };
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }

    /// Polls a parked future once, with this flight on the thread's
    /// polling stack (so a recursive load from inside it is caught) and a
    /// waker that wakes every caller of the flight.
    pub(crate) fn poll_parked(self: &Arc<Self>, parked: &mut Parked<V>) -> Poll<Result<V, SharedError>> {
        let waker = Waker::from(Arc::new(WakeAll(Arc::downgrade(self))));
        let mut cx = Context::from_waker(&waker);
        let _polling = Polling::enter(self.id);
        parked.future.as_mut().poll(&mut cx)
    }

    fn wake_all(&self) {
        let wakers = {
            let mut st = self.state.lock();
            st.woken = true;
            std::mem::take(&mut st.wakers)
        };
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }
}

fn register(wakers: &mut Vec<(u64, Waker)>, slot: u64, waker: &Waker) {
    match wakers.iter_mut().find(|(s, _)| *s == slot) {
        Some((_, w)) if w.will_wake(waker) => {}
        Some((_, w)) => w.clone_from(waker),
        None => wakers.push((slot, waker.clone())),
    }
}

/// The waker a parked future is polled with: wakes every caller of its
/// flight. Weak, so a future parked forever does not keep its flight alive
/// through its own waker.
struct WakeAll<V>(std::sync::Weak<Flight<V>>);

impl<V: Clone + Send + Sync + 'static> Wake for WakeAll<V> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(flight) = self.0.upgrade() {
            flight.wake_all();
        }
    }
}

/// Keeps a flight id on this thread's polling stack while its future (or a
/// compute's closure's future) is polled; pops it also on unwind.
pub(crate) struct Polling(());

impl Polling {
    pub(crate) fn enter(id: u64) -> Polling {
        POLLING.with(|p| p.borrow_mut().push(id));
        Polling(())
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.with(|p| p.borrow_mut().pop());
    }
}
