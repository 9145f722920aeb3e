//! The builder-input target: extreme builder settings (capacities 0, 1 and
//! `u64::MAX`, bad shard counts, zero and endless durations) and weights
//! (0, 1, `u32::MAX`, and one on which the weigher panics) over every
//! in-process backend and policy.
//!
//! Checks: `build` succeeds or returns a typed error (the right one for the
//! setting that is wrong); no operation panics except an insert whose
//! weigher panicked, and that insert changes nothing (the model: the keys
//! present before it, and their values, are present after it); the listener
//! never hears of a value that never entered. Sizes stay small: at most
//! 16 keys, at most 2 shards, so no case allocates more than a policy's
//! bounded sketch.

use std::collections::HashMap;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, BuildError, CacheBuilder, SlidingTtlCache, MAX_DURATION};
use ttlkit_strategies::PolicyKind;

/// The value whose weight the weigher refuses (by panicking).
const FAULT: u32 = 0xdead_beef;
const KEYS: u8 = 16;
const WEIGHTS: [u32; 6] = [0, 1, 2, 7, u32::MAX, FAULT];

/// The weigher's own panic payload.
struct WeigherFault;

/// libFuzzer's panic hook aborts on every panic, so an expected one could
/// not be caught: the weigher's own panics skip it, any other still aborts.
fn let_weigher_panics_unwind() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<WeigherFault>().is_none() {
                fuzzer_hook(info);
            }
        }));
    });
}

/// What `build` must say about the settings.
#[derive(Debug, PartialEq)]
enum Expect {
    Ok,
    ZeroDuration,
    TooLong,
    ZeroCapacity,
    Shards,
    Policy,
    /// A known policy the backend does not run.
    Unsupported,
    ZeroExpected,
}

fn duration(choice: u8) -> Duration {
    match choice % 5 {
        0 => Duration::ZERO,
        1 => Duration::from_nanos(1),
        2 => Duration::from_secs(60),
        3 => MAX_DURATION,
        _ => Duration::MAX,
    }
}

fn judge(d: Duration) -> Expect {
    if d.is_zero() {
        Expect::ZeroDuration
    } else if d > MAX_DURATION {
        Expect::TooLong
    } else {
        Expect::Ok
    }
}

fn matches(expect: &Expect, err: &BuildError) -> bool {
    matches!(
        (expect, err),
        (Expect::ZeroDuration, BuildError::ZeroDuration { .. })
            | (Expect::TooLong, BuildError::DurationTooLong { .. })
            | (Expect::ZeroCapacity, BuildError::ZeroCapacity)
            | (Expect::Shards, BuildError::InvalidShards(_))
            | (Expect::Policy, BuildError::UnknownPolicy(_))
            | (Expect::Unsupported, BuildError::UnsupportedPolicy { .. })
            | (Expect::ZeroExpected, BuildError::ZeroExpectedEntries)
    )
}

pub fn builder_inputs(data: &[u8]) {
    let [backend, policy, cap, cap_low, shards, tti, life, sweep, flags, ops @ ..] = data else { return };
    let_weigher_panics_unwind();
    let backend = BackendKind::ALL[usize::from(*backend) % BackendKind::ALL.len()];
    let clock = MockClock::new();
    let log: Arc<Mutex<Vec<(u8, u32)>>> = Arc::default();
    let sink = Arc::clone(&log);
    let mut b = CacheBuilder::<u8, u32>::new()
        .clock(clock.clone())
        .removal_listener(move |k: &u8, v, _| sink.lock().unwrap_or_else(|e| e.into_inner()).push((*k, v)));
    // The first setting that is wrong decides the error (the builder's order).
    let mut expect = Vec::new();
    if tti % 6 != 5 {
        let d = duration(*tti);
        expect.push(judge(d));
        b = b.time_to_idle(d);
    }
    if life % 6 != 5 {
        let d = duration(*life);
        expect.push(judge(d));
        b = b.time_to_live(d);
    }
    let capacity = match cap % 8 {
        0 => None,
        1 => Some(0),
        2 => Some(1),
        3 => Some(u64::from(*cap_low) + 2),
        4 => Some(u64::from(u32::MAX)),
        5 => Some(1 << 30),
        6 => Some(u64::MAX - 1),
        _ => Some(u64::MAX),
    };
    if let Some(c) = capacity {
        b = b.max_capacity(c);
        if c == 0 {
            expect.push(Expect::ZeroCapacity);
        }
    }
    let weighted = flags & 1 == 1;
    if weighted {
        b = b.weigher(|_, v: &u32| {
            if *v == FAULT {
                panic_any(WeigherFault);
            }
            *v
        });
    }
    if flags & 2 == 2 {
        b = b.expected_entries(u64::from(*cap_low));
        if *cap_low == 0 {
            expect.push(Expect::ZeroExpected);
        }
    }
    match sweep % 4 {
        0 => b = b.no_sweeper(),
        1 => {
            let d = duration(sweep / 4);
            expect.push(judge(d));
            b = b.sweep_interval(d);
        }
        2 => b = b.sweep_interval(Duration::from_secs(3600)),
        _ => {} // the default sweeper
    }
    let kind = PolicyKind::ALL.get(usize::from(*policy) % (PolicyKind::ALL.len() + 1)).copied();
    b = b.policy(kind.map_or("no-such-policy", PolicyKind::name));
    match kind {
        None => expect.push(Expect::Policy),
        Some(k) if !backend.supports(k) => expect.push(Expect::Unsupported),
        Some(_) => {}
    }
    let shards = [1, 2, 0, 3, 1 << 17][usize::from(*shards) % 5];
    b = b.shards(shards);
    if !shards.is_power_of_two() || shards > 65_536 {
        expect.push(Expect::Shards);
    }

    let cache = match AnyCache::new(backend, b) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                expect.iter().any(|x| matches(x, &e)),
                "{backend}: unexpected build error {e:?}; expected one of {expect:?}"
            );
            return;
        }
    };
    let wrong: Vec<_> = expect.iter().filter(|x| **x != Expect::Ok).collect();
    assert!(wrong.is_empty(), "{backend}: built despite {wrong:?}");
    run(&cache, &clock, weighted, ops, &log);
}

/// Runs the operations; every value inserted without a panic is recorded
/// so the listener's reports can be checked.
fn run(cache: &AnyCache<u8, u32>, clock: &MockClock, weighted: bool, ops: &[u8], log: &Mutex<Vec<(u8, u32)>>) {
    let mut entered: HashMap<u8, Vec<u32>> = HashMap::new();
    for op in ops.chunks(2).take(200) {
        let (code, arg) = (op[0], op.get(1).copied().unwrap_or(0));
        let key = arg % KEYS;
        let value = WEIGHTS[usize::from(code >> 3) % WEIGHTS.len()];
        match code % 8 {
            0..=2 => {
                let faults = weighted && value == FAULT;
                // No expired entry left for a sweeper thread to take while
                // `len` is compared (the mock clock stands still).
                cache.purge_expired();
                let before: Vec<Option<u32>> = (0..KEYS).map(|k| cache.peek(&k)).collect();
                let len = cache.len();
                let result = catch_unwind(AssertUnwindSafe(|| cache.insert(key, value)));
                match (result, faults) {
                    (Ok(()), false) => entered.entry(key).or_default().push(value),
                    (Err(_), true) => {
                        assert_eq!(cache.len(), len, "a panicking weigher changed len");
                        let after: Vec<Option<u32>> = (0..KEYS).map(|k| cache.peek(&k)).collect();
                        assert_eq!(after, before, "a panicking weigher changed what is held");
                    }
                    (Ok(()), true) => panic!("the weigher's panic was swallowed"),
                    (Err(_), false) => panic!("insert({key}, {value}) panicked"),
                }
            }
            3 => {
                let _ = cache.get(&key);
            }
            4 => {
                let _ = cache.remove(&key);
            }
            5 => {
                let _ = cache.purge_expired();
            }
            6 => clock.advance(Duration::from_secs(u64::from(arg) * 4)),
            _ => cache.clear(),
        }
        let _ = cache.contains_key(&key);
    }
    cache.clear();
    assert_eq!(cache.len(), 0);
    for (k, v) in log.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        assert!(entered.get(k).is_some_and(|vs| vs.contains(v)), "reported ({k}, {v}), which never entered");
    }
}
