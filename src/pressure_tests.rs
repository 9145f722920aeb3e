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

/// A client store shrinks like a cache: its evicted clients leave as
/// `Capacity`, a leased one is released only when its lease goes, and the
/// store grows back once the pressure is gone.
#[cfg(feature = "client-store")]
#[test]
fn a_client_store_shrinks_and_releases_only_idle_clients() {
    use crate::client_store::{ApiKey, ClientStore};
    use crate::BackendKind;

    let (guard, used, changes) = guard();
    let (left, released) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let (left_log, released_log) = (Arc::clone(&left), Arc::clone(&released));
    let store: ClientStore<u64> = ClientStore::builder()
        .max_clients(64)
        .no_sweeper()
        .on_leave(move |_, client, cause| left_log.lock().unwrap().push((*client, cause)))
        .on_release(move |_, client| released_log.lock().unwrap().push(*client))
        .build_backend(BackendKind::Mutex)
        .unwrap();
    let key = |i: u64| ApiKey::new(format!("sk-{i}")).unwrap();
    let busy = store.get_or_create(&key(0), |_| Ok::<_, std::io::Error>(0)).unwrap();
    for i in 1..64 {
        drop(store.get_or_create(&key(i), move |_| Ok::<_, std::io::Error>(i)).unwrap());
    }
    guard.watch_store("clients", &store).unwrap();

    used.store(LIMIT + 1, Ordering::Relaxed);
    assert_eq!(guard.check(), 1);
    assert_eq!(store.len(), 48, "a quarter of the clients went");
    let gone = left.lock().unwrap().clone();
    assert_eq!(gone.len(), 16);
    assert!(gone.iter().all(|&(_, cause)| cause == RemovalCause::Capacity), "{gone:?}");
    // LRU: the busy client, created first and not touched since, was among
    // the first to go; it stays open while its lease lives.
    assert!(gone.iter().any(|&(c, _)| c == 0));
    assert!(!released.lock().unwrap().contains(&0), "released under a live lease");
    assert_eq!(released.lock().unwrap().len(), 15, "the idle ones are released at once");
    drop(busy);
    assert!(released.lock().unwrap().contains(&0), "released when its lease went");

    used.store(0, Ordering::Relaxed);
    while guard.check() > 0 {}
    for i in 100..164 {
        drop(store.get_or_create(&key(i), move |_| Ok::<_, std::io::Error>(i)).unwrap());
    }
    assert_eq!(store.len(), 64, "the full bound again");
    assert!(changes.lock().unwrap().iter().all(|c| c.name == "clients"));
    drop(store);
    used.store(LIMIT * 2, Ordering::Relaxed);
    assert_eq!(guard.check(), 0, "a dropped store is forgotten");
}

#[cfg(all(feature = "client-store", feature = "moka"))]
#[test]
fn a_store_whose_bound_cannot_change_is_refused() {
    let (guard, _, _) = guard();
    let store: crate::client_store::ClientStore<u64> =
        crate::client_store::ClientStore::builder().no_sweeper().build_backend(crate::BackendKind::Moka).unwrap();
    assert!(matches!(guard.watch_store("clients", &store), Err(BuildError::UnsupportedSetting { .. })));
}
