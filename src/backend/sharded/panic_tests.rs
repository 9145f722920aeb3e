//! A panic inside a write (from the weigher or the eviction policy) must
//! leave the shard consistent: the table, ids, wheel, `len`, the weights and
//! the listener's reports all agree afterwards, and the cache keeps working.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ttlkit_strategies::{EntryId, EvictionPolicy, PolicyKind};

use super::tests::assert_accounting;
use crate::clock::MockClock;
use crate::{CacheBuilder, RemovalCause, ShardedCache, SlidingTtlCache};

const TTI: Duration = Duration::from_secs(60);

/// Which policy call panics: the method's name, after how many more calls.
type Trap = Arc<Mutex<Option<(&'static str, usize)>>>;

/// FIFO that panics on cue.
#[derive(Debug)]
struct Trapped {
    inner: Box<dyn EvictionPolicy>,
    trap: Trap,
}

impl Trapped {
    fn spring(&self, method: &'static str) {
        let mut trap = self.trap.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((m, after)) = trap.as_mut() {
            if *m == method {
                if *after == 0 {
                    *trap = None;
                    drop(trap);
                    panic!("policy trap: {method}");
                }
                *after -= 1;
            }
        }
    }
}

impl EvictionPolicy for Trapped {
    fn name(&self) -> &'static str {
        "trapped"
    }
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn on_insert(&mut self, id: EntryId, hash: u64) {
        self.spring("on_insert");
        self.inner.on_insert(id, hash);
    }
    fn on_hit(&mut self, id: EntryId) {
        self.spring("on_hit");
        self.inner.on_hit(id);
    }
    fn on_remove(&mut self, id: EntryId) {
        self.spring("on_remove");
        self.inner.on_remove(id);
    }
    fn evict(&mut self) -> Option<EntryId> {
        self.spring("evict");
        self.inner.evict()
    }
    fn clear(&mut self) {
        self.inner.clear();
    }
    fn validate(&self) -> Result<(), String> {
        self.inner.validate()
    }
}

type Reports = Arc<Mutex<Vec<(u64, u64, RemovalCause)>>>;

fn listened(b: CacheBuilder<u64, u64>) -> (ShardedCache<u64, u64>, Reports) {
    let reports = Reports::default();
    let sink = Arc::clone(&reports);
    let c = b.removal_listener(move |k, v, cause| sink.lock().unwrap().push((*k, v, cause))).build().unwrap();
    (c, reports)
}

fn panics(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

/// The cache holds exactly `live` (key, value) pairs among keys 0..100,
/// weighing one each, and the listener has heard exactly `reports`.
fn assert_holds(
    c: &ShardedCache<u64, u64>,
    heard: &Reports,
    live: &[(u64, u64)],
    reports: &[(u64, u64, RemovalCause)],
) {
    let mut held: Vec<(u64, u64)> = (0..100).filter_map(|k| c.peek(&k).map(|v| (k, v))).collect();
    held.sort_unstable();
    assert_eq!(held, live, "entries readable");
    assert_eq!(c.len(), live.len(), "len()");
    assert_accounting(c, "after a panic");
    assert_eq!(c.core().weight(), live.len() as u64, "total weight");
    let mut heard = heard.lock().unwrap().clone();
    heard.sort_unstable_by_key(|&(k, v, _)| (k, v));
    assert_eq!(heard, reports, "listener reports");
}

#[test]
fn a_panicking_policy_leaves_the_shard_consistent() {
    let clock = MockClock::new();
    let (c, heard) =
        listened(CacheBuilder::new().time_to_idle(TTI).clock(clock.clone()).no_sweeper().shards(1).max_capacity(4));
    let trap = Trap::default();
    c.core().shards[0].set_policy(Box::new(Trapped { inner: PolicyKind::Fifo.build(4), trap: Arc::clone(&trap) }));
    let arm = |method, after| *trap.lock().unwrap() = Some((method, after));
    for k in 1..=3 {
        c.insert(k, k);
    }
    let three = [(1, 1), (2, 2), (3, 3)];

    arm("on_insert", 0);
    assert!(panics(|| c.insert(4, 4)));
    assert_holds(&c, &heard, &three, &[]);

    arm("on_hit", 0);
    assert!(panics(|| c.insert(2, 22)));
    assert_holds(&c, &heard, &three, &[]);

    arm("on_remove", 0);
    assert!(panics(|| {
        c.remove(&3);
    }));
    assert_holds(&c, &heard, &three, &[]);

    // The newcomer is in before the eviction that panics: one over the bound.
    c.insert(4, 4);
    arm("evict", 0);
    assert!(panics(|| c.insert(5, 5)));
    assert_holds(&c, &heard, &[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)], &[]);
    // The next insert brings it back within the bound (FIFO: 1 and 2 go).
    c.insert(6, 6);
    let capacity = [(1, 1, RemovalCause::Capacity), (2, 2, RemovalCause::Capacity)];
    assert_holds(&c, &heard, &[(3, 3), (4, 4), (5, 5), (6, 6)], &capacity);

    // A purge cut short by a panic reports what it removed; the rest stays
    // scheduled and goes with the next purge.
    clock.advance(TTI);
    arm("on_remove", 2);
    assert!(panics(|| {
        c.purge_expired();
    }));
    assert_eq!(c.len(), 2);
    assert_accounting(&c, "after a purge cut short");
    assert_eq!(heard.lock().unwrap().len(), 4, "the two expired entries removed were reported");
    assert_eq!(c.purge_expired(), 2);
    let mut all = capacity.to_vec();
    all.extend([3, 4, 5, 6].map(|k| (k, k, RemovalCause::Expired)));
    assert_holds(&c, &heard, &[], &all);

    // Still a working cache.
    c.insert(7, 7);
    assert_eq!(c.get(&7), Some(7));
    assert_eq!(c.len(), 1);
}

#[test]
fn a_panicking_weigher_changes_nothing() {
    let clock = MockClock::new();
    let (c, heard) = listened(
        CacheBuilder::new().time_to_idle(TTI).clock(clock.clone()).no_sweeper().shards(1).max_capacity(4).weigher(
            |_, v| {
                if *v == 666 {
                    panic!("weigher trap")
                } else {
                    1
                }
            },
        ),
    );
    c.insert(1, 1);
    c.insert(2, 2);
    assert!(panics(|| c.insert(3, 666)));
    assert!(panics(|| c.insert(1, 666)));
    assert_holds(&c, &heard, &[(1, 1), (2, 2)], &[]);
    clock.advance(TTI);
    assert_eq!(c.purge_expired(), 2);
    assert_holds(&c, &heard, &[], &[(1, 1, RemovalCause::Expired), (2, 2, RemovalCause::Expired)]);
}
