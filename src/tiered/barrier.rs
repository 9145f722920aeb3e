//! The invalidation barrier behind
//! [`TieredCache::sync_invalidation`](crate::TieredCache::sync_invalidation):
//! a caller asks for a round, each feed sends a `PING` on its invalidation
//! connection, and the round is done once every feed has read the reply.
//!
//! Why a `PING` suffices: a server writes the invalidations a write causes
//! to the tracking connections before it answers the writer (and before it
//! reads a command sent later), and one connection's replies arrive in
//! order. So a reply to a `PING` sent after a write completed comes after
//! that write's invalidation, which the feed applied when it read it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

thread_local! {
    /// Set on the threads that read invalidation connections: one of them
    /// cannot wait for a round that it must answer itself (an L1 removal
    /// listener runs there when an invalidation drops a copy).
    static ON_FEED_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as a feed's.
pub(crate) fn mark_feed_thread() {
    ON_FEED_THREAD.with(|f| f.set(true));
}

/// Per feed of the current session, the rounds answered.
#[derive(Default)]
struct Rounds {
    /// The last round each feed answered (a slot per feed).
    answered: Vec<u64>,
    /// Bumped when a session starts or ends: either drops every L1 copy,
    /// which answers every round asked before it.
    sessions: u64,
}

/// Shared by a tiered cache's callers and its feeds.
#[derive(Default)]
pub(crate) struct Barrier {
    /// The newest round asked for: read by the feeds after every message,
    /// so without the lock (it grows only under the lock).
    asked: AtomicU64,
    rounds: Mutex<Rounds>,
    moved: Condvar,
}

impl Barrier {
    /// A new session with `feeds` feeds (at least one), after L1 was emptied.
    pub(crate) fn start_session(&self, feeds: usize) {
        let mut r = self.rounds.lock();
        r.answered = vec![self.asked.load(Ordering::Acquire); feeds];
        r.sessions += 1;
        self.moved.notify_all();
    }

    /// The session ended and L1 was emptied.
    pub(crate) fn end_session(&self) {
        let mut r = self.rounds.lock();
        r.answered.clear();
        r.sessions += 1;
        self.moved.notify_all();
    }

    /// The newest round asked for: a feed that has answered less sends a
    /// `PING` for it.
    pub(crate) fn asked(&self) -> u64 {
        self.asked.load(Ordering::Acquire)
    }

    /// Feed `slot` read the reply to the `PING` it sent for `round`.
    pub(crate) fn answered(&self, slot: usize, round: u64) {
        let mut r = self.rounds.lock();
        if let Some(a) = r.answered.get_mut(slot) {
            *a = (*a).max(round);
        }
        self.moved.notify_all();
    }

    /// Asks for a round and waits until every feed answered it, a session
    /// started or ended, or none is running (L1 is empty then and is filled
    /// again only after a new session emptied it once more); false if
    /// `timeout` passed first, and at once on a feed's own thread.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        if ON_FEED_THREAD.with(Cell::get) {
            return false;
        }
        let deadline = Instant::now().checked_add(timeout);
        let mut r = self.rounds.lock();
        let round = self.asked.fetch_add(1, Ordering::AcqRel) + 1;
        let session = r.sessions;
        let done = |r: &Rounds| r.sessions != session || r.answered.iter().all(|&a| a >= round);
        while !done(&r) {
            match deadline {
                Some(d) => {
                    if self.moved.wait_until(&mut r, d).timed_out() {
                        return done(&r);
                    }
                }
                None => self.moved.wait(&mut r),
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread::{self, JoinHandle};

    use super::*;

    /// A barrier whose session has `feeds` feeds, and a caller waiting on
    /// it whose round has been asked.
    fn waiting(feeds: usize) -> (Arc<Barrier>, JoinHandle<bool>) {
        let b = Arc::new(Barrier::default());
        b.start_session(feeds);
        let asked = b.asked();
        let waiter = {
            let b = Arc::clone(&b);
            thread::spawn(move || b.wait(Duration::from_secs(30)))
        };
        while b.asked() == asked {
            thread::yield_now();
        }
        (b, waiter)
    }

    #[test]
    fn a_round_is_done_when_every_feed_answers_it() {
        let (b, waiter) = waiting(2);
        b.answered(0, 1);
        b.answered(1, 1);
        assert!(waiter.join().unwrap_or(false));
    }

    #[test]
    fn one_silent_feed_times_the_round_out() {
        let b = Barrier::default();
        b.start_session(2);
        b.answered(0, 1);
        assert!(!b.wait(Duration::from_millis(1)));
    }

    #[test]
    fn an_answer_to_an_earlier_round_does_not_count() {
        let b = Barrier::default();
        b.start_session(1);
        assert!(!b.wait(Duration::from_millis(1)), "round 1, unanswered");
        b.answered(0, 1);
        assert!(!b.wait(Duration::from_millis(1)), "round 2 needs its own PING");
    }

    #[test]
    fn a_feed_thread_does_not_wait_for_itself() {
        let b = Arc::new(Barrier::default());
        b.start_session(1);
        let b2 = Arc::clone(&b);
        let on_feed = thread::spawn(move || {
            mark_feed_thread();
            b2.wait(Duration::from_secs(30))
        });
        assert!(!on_feed.join().unwrap_or(true));
    }

    #[test]
    fn with_no_session_running_there_is_nothing_to_wait_for() {
        let b = Barrier::default();
        assert!(b.wait(Duration::ZERO));
        b.start_session(1);
        b.end_session();
        assert!(b.wait(Duration::ZERO));
    }

    #[test]
    fn a_session_ending_answers_the_rounds_asked_before() {
        let (b, waiter) = waiting(1);
        b.end_session();
        assert!(waiter.join().unwrap_or(false));
    }
}
