//! Tests of what is specific to the moka backend (the shared contract is the
//! conformance suite's job).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use super::MokaCache;
use crate::clock::MockClock;
use crate::{CacheBuilder, RemovalCause, SlidingTtlCache};

const TTI: Duration = Duration::from_secs(60);

type Log = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

fn logged(b: CacheBuilder<u64, u64>) -> (MokaCache<u64, u64>, Log) {
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let cache = b.removal_listener(move |k, v, c| sink.lock().unwrap().push((*k, v, c))).build().unwrap();
    (cache, log)
}

#[test]
fn moka_backstop_only_under_the_system_clock() {
    let real: MokaCache<u64, u64> =
        CacheBuilder::new().time_to_idle(TTI).time_to_live(Duration::from_secs(90)).no_sweeper().build().unwrap();
    let policy = real.core().inner.moka.policy();
    assert_eq!(policy.time_to_idle(), Some(TTI + Duration::from_millis(1)));
    assert_eq!(policy.time_to_live(), Some(Duration::from_secs(90) + Duration::from_millis(1)));

    let mocked: MokaCache<u64, u64> =
        CacheBuilder::new().time_to_idle(TTI).clock(MockClock::new()).no_sweeper().build().unwrap();
    let policy = mocked.core().inner.moka.policy();
    assert_eq!((policy.time_to_idle(), policy.time_to_live()), (None, None), "real time means nothing here");
}

#[test]
fn hit_refresh_is_bounded_by_granularity() {
    let clock = MockClock::new();
    let cache: MokaCache<u64, u64> = CacheBuilder::new()
        .time_to_idle(TTI)
        .refresh_granularity(Duration::from_secs(10))
        .clock(clock.clone())
        .no_sweeper()
        .build()
        .unwrap();
    cache.insert(1, 1);
    clock.advance(Duration::from_secs(10));
    assert_eq!(cache.get(&1), Some(1), "t=10: within the granularity, the stamp stays at 0");
    clock.advance(Duration::from_secs(50));
    assert_eq!(cache.get(&1), None, "t=60: expired one granularity early, never late");
}

#[test]
fn deadline_queues_stay_bounded_under_churn() {
    // A small, full cache with a long idle timeout: every insert evicts one
    // entry long before its deadline. The queues must not keep an item per
    // insert for an hour (the unbounded growth this crate exists to avoid).
    let clock = MockClock::new();
    let cache: MokaCache<u64, u64> = CacheBuilder::new()
        .time_to_idle(Duration::from_secs(3600))
        .max_capacity(100)
        .clock(clock.clone())
        .no_sweeper()
        .build()
        .unwrap();
    for k in 0..20_000 {
        cache.insert(k, k);
    }
    cache.purge_expired();
    assert!(cache.len() <= 100);
    let queued = cache.core().inner.queued();
    assert!(queued < 64 * 64 + 2 * 100, "{queued} deadline items for {} live entries", cache.len());
    cache.clear();
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.core().inner.queued(), 0, "clear compacts the queues");
}

#[test]
fn writes_reclaim_expired_entries_without_a_bound() {
    // Two writers, no sweeper, no capacity bound; each moves the clock one
    // idle timeout before each batch, so every earlier entry expires.
    const IDLE: Duration = Duration::from_millis(1);
    const BATCH: u64 = 500;
    const BATCHES: u64 = 100;
    let clock = MockClock::new();
    let cache: MokaCache<u64, u64> =
        CacheBuilder::new().time_to_idle(IDLE).clock(clock.clone()).no_sweeper().build().unwrap();
    let start = Arc::new(Barrier::new(2));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (cache, clock, start) = (cache.clone(), clock.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let mut peak = 0;
                for b in 0..BATCHES {
                    clock.advance(IDLE);
                    for i in 0..BATCH {
                        cache.insert((w * BATCHES + b) * BATCH + i, i);
                    }
                    peak = peak.max(cache.len());
                }
                peak
            })
        })
        .collect();
    let peak = writers.into_iter().map(|w| w.join().unwrap()).max().unwrap_or(0);
    // Each insert purges due entries of its own stripe only, so the lag is
    // per stripe: a few batches' worth, never the whole history.
    assert!(peak <= 8 * BATCH as usize, "{peak} entries held at a peak: writes did not reclaim");
}

#[test]
fn deadline_queues_give_memory_back() {
    let clock = MockClock::new();
    let cache: MokaCache<u64, u64> =
        CacheBuilder::new().time_to_idle(TTI).clock(clock.clone()).no_sweeper().build().unwrap();
    for k in 0..50_000 {
        cache.insert(k, k);
    }
    assert!(cache.core().inner.queue_room() >= 50_000);
    clock.advance(TTI);
    assert_eq!(cache.purge_expired(), 50_000);
    let room = cache.core().inner.queue_room();
    assert!(room <= 64 * 2 * 64, "the emptied queues still have room for {room} items");
}

/// Writers, readers, a purger moving mock time and an occasional `clear`,
/// all on 32 hot keys; then everything expires. Every value ever stored is
/// reported exactly once, with a cause that the operations can explain (a
/// purge that removed a newer value would show up as `Explicit`), and the
/// counts agree.
#[test]
fn concurrent_writes_purges_and_clears_report_each_value_once() {
    const WRITERS: u64 = 3;
    const PER_WRITER: u64 = 3000;
    let clock = MockClock::new();
    let (cache, log) = logged(CacheBuilder::new().time_to_idle(TTI).max_capacity(24).clock(clock.clone()).no_sweeper());
    let start = Arc::new(Barrier::new(WRITERS as usize + 2));
    let done = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU64::new(0));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (cache, start) = (cache.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for i in 0..PER_WRITER {
                    let value = w * PER_WRITER + i;
                    if i % 7 == 0 {
                        cache.get_or_insert_with(value % 32 + 100, || value);
                    } else {
                        cache.insert(value % 32, value);
                    }
                }
            })
        })
        .collect();
    let reader = {
        let (cache, start, done, hits) = (cache.clone(), Arc::clone(&start), Arc::clone(&done), Arc::clone(&hits));
        thread::spawn(move || {
            start.wait();
            while !done.load(Ordering::Acquire) {
                for k in 0..32 {
                    if cache.get(&k).is_some() {
                        hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let purger = {
        let (cache, start, done, clock) = (cache.clone(), Arc::clone(&start), Arc::clone(&done), clock.clone());
        thread::spawn(move || {
            start.wait();
            let mut round = 0u64;
            while !done.load(Ordering::Acquire) {
                clock.advance(Duration::from_secs(7));
                cache.purge_expired();
                round += 1;
                if round % 50 == 0 {
                    cache.clear();
                }
                thread::yield_now();
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    reader.join().unwrap();
    purger.join().unwrap();

    // Values stored by a load are the ones its init returned; the others
    // were waiters that got a stored value, or hits.
    let live: HashMap<u64, u64> = (0..32).chain(100..132).filter_map(|k| cache.peek(&k).map(|v| (k, v))).collect();
    assert_eq!(cache.len(), live.len(), "len counts exactly the entries held (nothing expired yet)");
    clock.advance(TTI);
    assert_eq!(cache.purge_expired(), live.len());
    assert_eq!(cache.len(), 0);

    let log = log.lock().unwrap();
    let mut seen = HashSet::new();
    for (k, v, cause) in log.iter() {
        assert!(seen.insert(*v), "value {v} (key {k}) reported twice");
        assert!(
            matches!(
                cause,
                RemovalCause::Replaced | RemovalCause::Expired | RemovalCause::Cleared | RemovalCause::Capacity
            ),
            "value {v} of key {k} reported {cause}: nobody called remove"
        );
    }
    for v in live.values() {
        assert!(seen.contains(v), "live value {v} was reported when it expired");
    }
    let stats = cache.stats();
    assert_eq!(stats.total_removals(), log.len() as u64);
    assert_eq!(stats.inserts, log.len() as u64, "every stored value left exactly once");
    assert!(hits.load(Ordering::Relaxed) <= stats.hits);
}

#[test]
fn its_bound_and_timers_are_fixed_when_built() {
    let cache: MokaCache<u64, u64> = CacheBuilder::new().max_capacity(10).no_sweeper().build().unwrap();
    let refused = |r: Result<(), crate::BuildError>| match r {
        Err(crate::BuildError::UnsupportedSetting { core: "moka", setting }) => setting,
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(refused(cache.set_max_capacity(5)), "set_max_capacity");
    assert_eq!(refused(cache.set_time_to_idle(Duration::from_secs(5))), "set_time_to_idle");
    assert_eq!(refused(cache.set_time_to_live(Duration::from_secs(5))), "set_time_to_live");
}

/// A `u64 -> u64` slot is six words: key, value, three stamps, and fate,
/// the reported flag, the stripe and the weight packed in the last one
/// (with the stripe a word of its own it was seven).
#[test]
fn a_slot_packs_its_stripe_with_its_flags() {
    assert_eq!(std::mem::size_of::<super::slot::Slot<u64, u64>>(), 48);
}
