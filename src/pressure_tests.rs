use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::{CacheBuilder, MutexCache, RemovalCause};

const LIMIT: u64 = 1_000;

/// A guard over an injected reading, and the changes it told of.
fn guard() -> (MemoryGuard, Arc<AtomicU64>, Arc<Mutex<Vec<PressureChange>>>) {
    let used = Arc::new(AtomicU64::new(0));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let (reading, log) = (Arc::clone(&used), Arc::clone(&changes));
    let guard = MemoryGuard::builder(LIMIT)
        .reading(move || Some(reading.load(Ordering::Relaxed)))
        .on_change(move |c| log.lock().unwrap().push(c.clone()))
        .build();
    (guard, used, changes)
}

#[cfg(feature = "sharded")]
fn evictions() -> (Arc<AtomicU64>, impl Fn(&u64, u64, RemovalCause) + Send + Sync + 'static) {
    let n = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&n);
    (n, move |_: &u64, _, cause| {
        assert_eq!(cause, RemovalCause::Capacity, "the guard only evicts");
        seen.fetch_add(1, Ordering::Relaxed);
    })
}

#[cfg(feature = "sharded")]
#[test]
fn shrinks_in_steps_under_pressure_and_restores_after() {
    let (guard, used, changes) = guard();
    let (evicted, listener) = evictions();
    let cache: crate::ShardedCache<u64, u64> =
        CacheBuilder::new().max_capacity(1_600).removal_listener(listener).no_sweeper().build().unwrap();
    (0..1_600).for_each(|k| cache.insert(k, k));
    guard.watch("responses", &cache).unwrap();

    used.store(LIMIT + 1, Ordering::Relaxed);
    let bounds: Vec<u64> = (0..20).map(|_| (guard.check(), cache.max_capacity().unwrap()).1).collect();
    assert_eq!(&bounds[..4], &[1_200, 900, 675, 507], "a quarter off per check");
    assert_eq!(*bounds.last().unwrap(), 100, "never below a sixteenth of the full bound");
    assert!(cache.len() <= 100);
    assert_eq!(evicted.load(Ordering::Relaxed), 1_500, "what left went as Capacity");

    used.store(LIMIT * 95 / 100, Ordering::Relaxed); // under the limit, not under 90%: hold
    assert_eq!(guard.check(), 0);
    used.store(0, Ordering::Relaxed);
    let mut steps = 0;
    while guard.check() > 0 {
        steps += 1;
    }
    assert_eq!((cache.max_capacity(), steps), (Some(1_600), 10));
    (2_000..3_600).for_each(|k| cache.insert(k, k));
    assert_eq!(cache.len(), 1_600, "room for the full bound again");
    let log = changes.lock().unwrap();
    assert_eq!(log.first().map(|c| (c.from, c.to, c.reading, c.limit)), Some((1_600, 1_200, LIMIT + 1, LIMIT)));
    assert!(log.iter().all(|c| c.name == "responses"));
}

#[test]
fn refuses_caches_it_cannot_resize_and_forgets_dropped_ones() {
    let (guard, used, _) = guard();
    let unbounded: MutexCache<u64, u64> = CacheBuilder::new().no_sweeper().build().unwrap();
    assert!(matches!(guard.watch("u", &unbounded), Err(BuildError::MissingSetting { .. })));
    let bounded: MutexCache<u64, u64> = CacheBuilder::new().max_capacity(100).no_sweeper().build().unwrap();
    guard.watch("b", &bounded).unwrap();
    drop(bounded);
    used.store(LIMIT * 2, Ordering::Relaxed);
    assert_eq!(guard.check(), 0, "the dropped cache is forgotten, not kept alive");
    assert!(format!("{guard:?}").contains("watched: 0"));
}

#[test]
fn no_reading_changes_nothing() {
    let guard = MemoryGuard::builder(LIMIT).reading(|| None).build();
    let cache: MutexCache<u64, u64> = CacheBuilder::new().max_capacity(10).no_sweeper().build().unwrap();
    guard.watch("c", &cache).unwrap();
    assert_eq!((guard.check(), cache.max_capacity()), (0, Some(10)));
}

#[test]
fn periodic_checks_run_on_the_maintenance_thread() {
    let used = Arc::new(AtomicU64::new(LIMIT * 2));
    let reading = Arc::clone(&used);
    let guard = MemoryGuard::builder(LIMIT)
        .reading(move || Some(reading.load(Ordering::Relaxed)))
        .start(Duration::from_millis(10))
        .unwrap();
    let cache: MutexCache<u64, u64> = CacheBuilder::new().max_capacity(1_000).no_sweeper().build().unwrap();
    guard.watch("c", &cache).unwrap();
    // Real time: the checks run on their own; wait (bounded) for one.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache.max_capacity() == Some(1_000) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(cache.max_capacity() < Some(1_000), "no periodic check in 10 s");
}

#[test]
fn the_process_reading_is_plausible_where_there_is_one() {
    if let Some(bytes) = resident_bytes() {
        assert!(bytes > 1 << 20, "{bytes} bytes resident");
    }
}
