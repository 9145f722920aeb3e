//! Linearizability of small histories: 3 threads x 4 operations on 2 keys
//! (`insert`, `get`, `peek`, `remove`, `get_or_insert_with`, `clear`),
//! each call stamped at invocation and at response with a global counter,
//! then checked (`linearizability/checker.rs`) against a sequential map:
//! is there an order of the calls, each taking effect at one point between
//! its stamps, that a single-threaded map would have produced?
//!
//! No capacity bound and no expiry (the `MockClock` never moves), so the
//! sequential model is a plain map; values are unique per history.
//!
//! # What is linearizable where
//!
//! | operation              | mutex | sharded (1 or 2 shards) | moka    |
//! |------------------------|-------|-------------------------|---------|
//! | insert, get, peek      | yes   | yes                     | yes     |
//! | remove                 | yes   | yes                     | yes     |
//! | get_or_insert_with     | load  | load                    | load    |
//! | clear                  | yes   | per key                 | per key |
//! | clear racing a load    | yes   | per key                 | no      |
//!
//! * **yes**: one point inside the call. `mutex` takes its one lock once per
//!   call; `sharded` writes under the key's shard lock and publishes with one
//!   atomic store, and a lock-free read sees a value exactly while it is
//!   published (a reader that finds a removed entry looks again); moka's
//!   map is a concurrent hash table with the same property per key.
//! * **load**: the contract's rule for loads, not one point: the leader
//!   (the caller whose `init` runs) misses at one point and stores at a
//!   later one, unless a write of the key (insert, remove, clear) took
//!   effect in between, which wins; callers that waited get the leader's
//!   value whether or not it was stored. A caller that finds the value is
//!   a plain hit. With no racing write this is "get, and if absent insert".
//! * **per key**: `clear` removes each key at its own point inside the call.
//!   The sharded backend clears one shard at a time, and even within one
//!   shard's lock hold its lock-free readers see the removals one by one
//!   (found by this test: with one shard, a reader saw key 1 gone and then
//!   key 0 still there, both cleared by the same `clear`); moka walks its map
//!   with a weakly consistent iterator (documented in `src/backend/moka.rs`).
//!   A thread that inserts `a` then `b` while another clears may see `a`
//!   survive and `b` go, which no single point allows.
//! * **no** (moka, a clear racing a load): moka's clear refuses the store of
//!   every load in flight when it starts (so a load it overtook never brings
//!   a cleared value back), but removes each key later, as its walk reaches
//!   it; a load of the same key that starts in between and stores before
//!   the walk gets there is then removed too. That is two points for one
//!   key, so moka's histories hold `clear` or `get_or_insert_with`, never
//!   both (alternate seeds draw one or the other).
//!
//! `LIN_HISTORIES` histories per target (default 600); the release run in
//! `.ci/run` uses more.

#![allow(clippy::unwrap_used)]

#[path = "linearizability/checker.rs"]
mod checker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use checker::{linearizable, Call, Event, Ret, KEYS};
use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache};
use ttlkit_strategies::mix64;

const THREADS: usize = 3;
const OPS: usize = 4;
/// Histories built and run per batch (one cache each).
const BATCH: usize = 100;

/// A backend configuration, whether its `clear` is only per-key, and
/// whether a `clear` may race a load in one history (see the table).
struct Target {
    backend: BackendKind,
    shards: Option<usize>,
    relaxed_clear: bool,
    clear_races_loads: bool,
}

const TARGETS: &[Target] = &[
    Target { backend: BackendKind::Mutex, shards: None, relaxed_clear: false, clear_races_loads: true },
    Target { backend: BackendKind::Sharded, shards: Some(1), relaxed_clear: true, clear_races_loads: true },
    Target { backend: BackendKind::Sharded, shards: Some(2), relaxed_clear: true, clear_races_loads: true },
    Target { backend: BackendKind::Moka, shards: None, relaxed_clear: true, clear_races_loads: false },
];

/// The random calls of thread `t` in history `seed` (values unique in it).
/// Without `clear_races_loads`, even seeds draw no `clear` and odd ones no
/// load.
fn script(seed: u64, t: usize, clear_races_loads: bool) -> Vec<(Call, u32)> {
    let mut state = mix64(seed ^ (t as u64) << 56);
    let mut next = move || {
        state = mix64(state);
        state
    };
    (0..OPS)
        .map(|i| {
            let r = next();
            let k = (r >> 8) as usize % KEYS;
            let fresh = ((t as u64 + 1) << 32) | i as u64;
            let call = match r % 20 {
                0..=5 => Call::Insert(k, fresh),
                6..=9 => Call::Get(k),
                10 => Call::Peek(k),
                11..=13 => Call::Remove(k),
                14..=18 if !clear_races_loads && seed % 2 == 1 => Call::Insert(k, fresh),
                14..=18 => Call::Load(k, fresh),
                _ if !clear_races_loads && seed % 2 == 0 => Call::Remove(k),
                _ => Call::Clear,
            };
            // Yields inside a load's init, so writes of other threads land there.
            (call, (r >> 16) as u32 % 8)
        })
        .collect()
}

fn build(t: &Target) -> AnyCache<usize, u64> {
    let mut b = CacheBuilder::new().time_to_idle(Duration::from_secs(3600)).clock(MockClock::new()).no_sweeper();
    if let Some(n) = t.shards {
        b = b.shards(n);
    }
    AnyCache::new(t.backend, b).unwrap()
}

fn perform(cache: &AnyCache<usize, u64>, stamps: &AtomicU64, thread_: usize, call: Call, spins: u32) -> Event {
    let start = stamps.fetch_add(1, Ordering::SeqCst);
    let ret = match call {
        Call::Insert(k, v) => {
            cache.insert(k, v);
            Ret::Unit
        }
        Call::Get(k) => Ret::Value(cache.get(&k)),
        Call::Peek(k) => Ret::Value(cache.peek(&k)),
        Call::Remove(k) => Ret::Value(cache.remove(&k)),
        Call::Load(k, fresh) => {
            let mut ran_init = false;
            let got = cache.get_or_insert_with(k, || {
                ran_init = true;
                for _ in 0..spins {
                    thread::yield_now();
                }
                fresh
            });
            Ret::Loaded { got, ran_init }
        }
        Call::Clear => {
            cache.clear();
            Ret::Unit
        }
    };
    let end = stamps.fetch_add(1, Ordering::SeqCst);
    Event { thread: thread_, call, ret, start, end }
}

/// Runs `BATCH` histories starting at seed `first`; returns each history's events.
fn run_batch(target: &Target, first: u64) -> Vec<Vec<Event>> {
    let caches: Vec<_> = (0..BATCH).map(|_| build(target)).collect();
    let stamps = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    let per_thread: Vec<Vec<Vec<Event>>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (caches, stamps, barrier) = (&caches, &stamps, &barrier);
                scope.spawn(move || {
                    (0..BATCH)
                        .map(|h| {
                            let calls = script(first + h as u64, t, target.clear_races_loads);
                            barrier.wait();
                            calls.into_iter().map(|(c, spins)| perform(&caches[h], stamps, t, c, spins)).collect()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (0..BATCH).map(|h| per_thread.iter().flat_map(|t| t[h].iter().copied()).collect()).collect()
}

/// A leader returns its own value.
fn leaders_return_their_own(events: &[Event]) -> bool {
    events.iter().all(|e| match (e.call, e.ret) {
        (Call::Load(_, fresh), Ret::Loaded { got, ran_init: true }) => got == fresh,
        _ => true,
    })
}

fn show(events: &[Event]) -> String {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.start);
    sorted
        .iter()
        .map(|e| format!("  [{:>4}, {:>4}] thread {}: {:?} -> {:?}\n", e.start, e.end, e.thread, e.call, e.ret))
        .collect()
}

#[test]
fn small_histories_are_linearizable() {
    let histories = std::env::var("LIN_HISTORIES").ok().and_then(|s| s.parse().ok()).unwrap_or(600u64);
    let base = std::env::var("LIN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x11e4_u64);
    let mut failures = Vec::new();
    for target in TARGETS {
        let started = Instant::now();
        let mut checked = 0;
        'target: while checked < histories {
            for events in run_batch(target, base + checked) {
                if !leaders_return_their_own(&events) || !linearizable(&events, target.relaxed_clear) {
                    failures.push(format!(
                        "{} (shards {:?}): history seed {} is not linearizable:\n{}",
                        target.backend,
                        target.shards,
                        base + checked,
                        show(&events)
                    ));
                    break 'target;
                }
                checked += 1;
            }
        }
        println!("{} (shards {:?}): {checked} histories in {:.1?}", target.backend, target.shards, started.elapsed());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The checker itself: a stale read after a completed write is caught, and
/// a clear that splits one thread's two inserts passes only per key.
#[test]
fn the_checker_rejects_what_it_must() {
    let e = |thread, call, ret, start, end| Event { thread, call, ret, start, end };
    let stale = [e(0, Call::Insert(0, 1), Ret::Unit, 0, 1), e(1, Call::Get(0), Ret::Value(None), 2, 3)];
    assert!(!linearizable(&stale, false));
    let split = [
        e(0, Call::Insert(0, 1), Ret::Unit, 1, 2),
        e(0, Call::Insert(1, 2), Ret::Unit, 3, 4),
        e(1, Call::Clear, Ret::Unit, 0, 5),
        e(1, Call::Get(0), Ret::Value(Some(1)), 6, 7),
        e(1, Call::Get(1), Ret::Value(None), 8, 9),
    ];
    assert!(!linearizable(&split, false));
    assert!(linearizable(&split, true));
    // A load whose init spans a whole insert must not store over it.
    let overwrite = [
        e(0, Call::Load(0, 1), Ret::Loaded { got: 1, ran_init: true }, 0, 5),
        e(1, Call::Insert(0, 2), Ret::Unit, 1, 2),
        e(1, Call::Get(0), Ret::Value(Some(1)), 6, 7),
    ];
    assert!(!linearizable(&overwrite, false));
    let won = [overwrite[0], overwrite[1], e(1, Call::Get(0), Ret::Value(Some(2)), 6, 7)];
    assert!(linearizable(&won, false));
}
