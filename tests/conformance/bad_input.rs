//! Extreme but valid builder input: a huge capacity, a capacity in bytes,
//! huge weights, many shards. Every backend and policy must build, hold what
//! it is given and count it right, without panicking or allocating in
//! proportion to the capacity (a policy sized by `u64::MAX` or by bytes
//! aborts on its first allocation, which fails these cases too). And the
//! typed errors of input a backend must refuse: a zero capacity, a policy
//! it cannot run, an unknown backend or policy name.

use std::time::Duration;

use ttlkit::clock::MockClock;
#[cfg(feature = "moka")]
use ttlkit::MokaCache;
use ttlkit::{AnyCache, BackendKind, BuildError, CacheBuilder, PolicyKind, SlidingTtlCache, UnknownBackend};

use crate::removal_log::RemovalLog;
use crate::target::{InProcess, Target, Value};

const TTI: Duration = Duration::from_secs(60);
const KEYS: u64 = 1_000;

fn build<T: Target, V: Value>(t: &T, f: impl FnOnce(CacheBuilder<u64, V>) -> CacheBuilder<u64, V>) -> T::Cache<u64, V> {
    t.build(f(t.builder(TTI, &MockClock::new())))
}

/// Inserts, reads, removes and purges `KEYS` keys that all fit, checking
/// `len` at each stage.
fn exercise<V: Value + PartialEq + std::fmt::Debug>(cache: &impl SlidingTtlCache<u64, V>, value: impl Fn(u64) -> V) {
    for k in 0..KEYS {
        cache.insert(k, value(k));
    }
    cache.purge_expired();
    assert_eq!(cache.len(), KEYS as usize, "every key fits");
    for k in 0..KEYS {
        assert_eq!(cache.get(&k), Some(value(k)), "key {k}");
    }
    for k in (0..KEYS).step_by(2) {
        assert_eq!(cache.remove(&k), Some(value(k)));
    }
    cache.purge_expired();
    assert_eq!(cache.len(), KEYS as usize / 2);
    cache.clear();
    assert_eq!(cache.len(), 0);
}

pub fn max_capacity_u64_max_works<T: Target>(t: &T) {
    exercise(&build(t, |b| b.max_capacity(u64::MAX)), |k| k);
    exercise(&build(t, |b| b.max_capacity(u64::MAX).shards(64)), |k| k);
}

pub fn byte_weighted_capacity_works<T: Target>(t: &T) {
    let value = |k: u64| "v".repeat(1 + (k % 100) as usize);
    let weighed = |b: CacheBuilder<u64, String>| b.max_capacity(1 << 30).weigher(|_, v: &String| v.len() as u32);
    exercise(&build(t, weighed), value);
    exercise(&build(t, |b| weighed(b).shards(64)), value);
}

/// Weights of 0 and `u32::MAX` under a `u64::MAX` bound: the total weight
/// (about 2^42 here) must not overflow and nothing needs evicting.
pub fn extreme_weights_work<T: Target>(t: &T) {
    let heavy = |b: CacheBuilder<u64, u64>| {
        b.max_capacity(u64::MAX).weigher(|_, v: &u64| if v % 2 == 0 { u32::MAX } else { 0 })
    };
    exercise(&build(t, heavy), |k| k);
}

/// A capacity of one holds one entry, of any policy.
pub fn capacity_one_holds_one<T: Target>(t: &T) {
    let cache = build(t, |b| b.max_capacity(1));
    for k in 0..KEYS {
        cache.insert(k, k);
        cache.purge_expired();
        assert!(cache.len() <= 1, "{} entries after inserting {k}", cache.len());
    }
}

pub fn zero_capacity_is_a_typed_error(t: &InProcess) {
    let b = CacheBuilder::<u64, u64>::new().time_to_idle(TTI).no_sweeper().policy_kind(t.policy).max_capacity(0);
    assert!(matches!(AnyCache::new(t.backend, b), Err(BuildError::ZeroCapacity)));
}

/// Every policy either builds on the target's backend or is refused with
/// `UnsupportedPolicy` naming both, as `BackendKind::supports` says; never
/// quietly run as another.
pub fn unsupported_policy_is_a_typed_error(t: &InProcess) {
    for &policy in PolicyKind::ALL {
        let b = CacheBuilder::<u64, u64>::new().time_to_idle(TTI).no_sweeper().max_capacity(10).policy_kind(policy);
        match AnyCache::new(t.backend, b) {
            Ok(cache) => assert!(t.backend.supports(policy), "{} built {policy}, which it does not run", cache.kind()),
            Err(BuildError::UnsupportedPolicy { backend, policy: refused, supported }) => {
                assert!(!t.backend.supports(policy), "{} refused {policy}, which it runs", t.backend);
                assert_eq!((backend, refused), (t.backend, policy));
                assert!(!supported.is_empty());
            }
            Err(e) => panic!("{}: {policy}: unexpected error {e:?}", t.backend),
        }
    }
}

/// moka runs its own LRU (`lru`, also the default) and TinyLFU
/// (`w-tinylfu`) and refuses every other policy, by kind or by name, also
/// when built directly rather than through `AnyCache`.
#[cfg(feature = "moka")]
pub fn moka_refuses_the_policies_it_does_not_run() {
    let b = || CacheBuilder::<u64, u64>::new().time_to_idle(TTI).no_sweeper().max_capacity(10);
    let refused: Vec<_> = PolicyKind::ALL
        .iter()
        .copied()
        .filter(|&p| matches!(b().policy_kind(p).build::<MokaCache<_, _>>(), Err(BuildError::UnsupportedPolicy { .. })))
        .collect();
    let expected = [
        PolicyKind::Fifo,
        PolicyKind::Clock,
        PolicyKind::Sieve,
        PolicyKind::S3Fifo,
        PolicyKind::Arc,
        PolicyKind::WTinyLfuClimb,
        PolicyKind::WTinyLfuV2,
        PolicyKind::WTinyLfuAuto,
    ];
    assert_eq!(refused, expected);
    assert!(b().build::<MokaCache<_, _>>().is_ok(), "no policy set: moka's LRU, as before");
    let by_name = b().policy("s3_fifo").build::<MokaCache<_, _>>();
    let Err(e) = by_name else { panic!("moka built s3-fifo") };
    assert!(
        matches!(e, BuildError::UnsupportedPolicy { backend: BackendKind::Moka, policy: PolicyKind::S3Fifo, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("moka") && msg.contains("s3-fifo") && msg.contains("w-tinylfu"), "{msg}");
}

/// An unknown policy name is still `UnknownPolicy`, on every backend, and
/// wins over a backend's refusal (the name is checked first).
pub fn unknown_policy_name_is_a_typed_error() {
    for &backend in BackendKind::ALL {
        let b = CacheBuilder::<u64, u64>::new().time_to_idle(TTI).no_sweeper().policy("mru-ish");
        let Err(BuildError::UnknownPolicy(e)) = AnyCache::new(backend, b) else { panic!("{backend} built mru-ish") };
        assert_eq!(e.name, "mru-ish");
    }
}

/// `AnyCache::from_name` parses the name: a known one (any case) builds
/// that backend, an unknown one is `UnknownBackend` listing the known.
pub fn unknown_backend_name_is_a_typed_error() {
    let b = || CacheBuilder::<u64, u64>::new().time_to_idle(TTI).no_sweeper();
    for &kind in BackendKind::ALL {
        let upper = kind.name().to_ascii_uppercase();
        assert_eq!(AnyCache::from_name(&upper, b()).map(|c| c.kind()).ok(), Some(kind));
    }
    match AnyCache::from_name("redis", b()) {
        Err(BuildError::UnknownBackend(UnknownBackend { name, known, feature })) => {
            assert_eq!(name, "redis", "redis is not an in-process backend");
            assert_eq!(feature, None, "no cargo feature makes redis an in-process backend");
            let all: Vec<_> = BackendKind::ALL.iter().map(|k| k.name()).collect();
            assert_eq!(known, all.join(", "));
        }
        other => panic!("expected UnknownBackend, got {other:?}"),
    }
}

/// A weigher that panics on one value: the insert panics (the caller's own
/// panic, propagated), changes nothing, and reports nothing; the cache
/// goes on working and counting right.
pub fn panicking_weigher_changes_nothing<T: Target>(t: &T) {
    let log = RemovalLog::new();
    let cache = build(t, |b| {
        log.attach(b.max_capacity(10).weigher(|_, v: &u64| {
            assert!(*v != 13, "weigher fault");
            1
        }))
    });
    for k in 0..5 {
        cache.insert(k, k);
    }
    let insert = |k, v| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.insert(k, v)));
    assert!(insert(99, 13).is_err());
    assert!(insert(1, 13).is_err());
    assert_eq!(cache.peek(&1), Some(1), "a failed overwrite keeps the old value");
    assert_eq!(cache.peek(&99), None);
    assert_eq!(cache.len(), 5);
    assert!(log.is_empty(), "nothing left, yet the listener heard: {:?}", log.entries());
    for k in 5..20 {
        cache.insert(k, k + 100);
    }
    cache.purge_expired();
    assert!(cache.len() <= 10);
    assert_eq!(cache.len() + log.len(), 20);
}
