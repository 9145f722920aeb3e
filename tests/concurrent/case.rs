//! A random case: a configuration (the model test's `ModelConfig` plus a
//! weigher, a thread count and a key space) and one operation list per
//! thread, all derived from one seed so a failure can be replayed.

use std::fmt;
use std::time::Duration;

use ttlkit::PolicyKind;

use crate::flavor::Flavor;
use ttlkit_strategies::mix64;

use crate::harness::{ModelConfig, Op};

/// Seeds the second random stream (per-entry expiry) of a case.
const PER_ENTRY_STREAM: u64 = 0x7e57_0e1f_d0e5_71e5;
/// Seeds the third random stream (atomic computes) of a case.
const COMPUTE_STREAM: u64 = 0xc0de_a70e_1c5e_ed00;
/// Seeds the fourth random stream (`retain`) of a case.
const RETAIN_STREAM: u64 = 0x7e7a_1e5e_ed5a_b1e5;
/// Seeds the fifth random stream (`entry_info`, `iter`, `set_max_capacity`).
const LOOK_STREAM: u64 = 0x100c_5e7c_a9ac_17e5;

/// A small deterministic generator (splitmix64): the seed is the case.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `percent / 100`.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// An operation of one worker thread.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    /// An operation of the model test (values are filled in by the worker).
    Op(Op),
    /// A load whose `init` yields this many times first, so that writes of
    /// other threads land while it runs.
    SlowLoad(u64, u32),
    /// `entry(k).and_compute_with(..)` putting a fresh value, whose closure
    /// yields this many times first: a read-modify-write that no other
    /// write may slip into.
    Compute(u64, u32),
    /// `len()`, checked against the bound plus the in-flight slack.
    Len,
}

/// Everything a run needs, derived from `seed`.
pub struct Case {
    pub seed: u64,
    pub config: ModelConfig,
    /// Values weigh `1 + mix64(value) % w` (the weigher sees only the value).
    pub weigher: Option<u64>,
    pub threads: usize,
    pub keys: u64,
    /// Whether to advance the clock past every deadline before the final purge.
    pub drain: bool,
    pub acts: Vec<Vec<Act>>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {:#x}: {:?}, weigher {:?}, {} threads x {} ops, {} keys, drain {}",
            self.seed,
            self.config,
            self.weigher,
            self.threads,
            self.acts.first().map_or(0, Vec::len),
            self.keys,
            self.drain
        )
    }
}

/// How entries weigh: `1 + mix64(x) % max`, where `x` is the value (so an
/// overwrite changes the weight), or for moka the key.
///
/// moka 0.12.16 loses track of weight when an overwrite that changes an
/// entry's weight is removed before moka's maintenance applies it (insert
/// `k` weighing 5, maintenance, insert `k` weighing 4, remove `k`: moka's
/// `weighted_size()` stays 1 with no entry), which shrinks or grows its
/// bound for good. That is moka's own books, not the wrapper's; weighing
/// by key keeps it out of these checks.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub max: Option<u64>,
    pub by_key: bool,
}

impl Weights {
    pub fn new(case: &Case, flavor: Flavor) -> Weights {
        Weights { max: case.weigher, by_key: flavor.is_moka() }
    }

    pub fn of(self, key: u64, value: u64) -> u64 {
        self.max.map_or(1, |w| 1 + mix64(if self.by_key { key } else { value }) % w)
    }
}

/// The model test's spread of timeouts: nanoseconds, milliseconds, seconds, an hour.
fn duration(rng: &mut Rng) -> Duration {
    match rng.range(0, 3) {
        0 => Duration::from_secs(rng.range(1, 5)),
        1 => Duration::from_millis(rng.range(1, 3_000)),
        2 => Duration::from_nanos(rng.range(1, 50)),
        _ => Duration::from_secs(3600),
    }
}

impl Case {
    /// The case of `seed`, with `ops` operations per thread.
    pub fn generate(seed: u64, ops: usize) -> Case {
        let mut rng = Rng::new(seed);
        let idle = duration(&mut rng);
        let lifetime = rng.chance(30).then(|| duration(&mut rng));
        // Log-uniform over 1..=10_000, so small bounds (heavy pressure) are common.
        let capacity = rng.chance(75).then(|| {
            let exp = rng.range(0, 4_000) as f64 / 1_000.0;
            (10f64.powf(exp).round() as u64).clamp(1, 10_000)
        });
        let policy = rng.pick(PolicyKind::ALL);
        let shards = rng.chance(80).then(|| rng.pick(&[1usize, 2, 4, 8]));
        let weigher = rng.chance(40).then(|| rng.range(1, 8));
        let threads = rng.range(2, 8) as usize;
        let keys = match rng.range(0, 3) {
            0 => rng.range(1, 4),
            1 => rng.range(5, 16),
            2 => 64,
            _ => capacity.map_or(256, |c| (2 * c).clamp(8, 1_024)),
        };
        let drain = rng.chance(50);
        let mut acts: Vec<Vec<Act>> =
            (0..threads).map(|_| (0..ops).map(|_| act(&mut rng, keys, idle)).collect()).collect();
        // Per-entry expiry is drawn from a second stream, so every draw
        // above (and a seed's case without it) stays as it was.
        let mut own = Rng::new(seed ^ PER_ENTRY_STREAM);
        let expiry = own.chance(25);
        if own.chance(40) {
            for a in acts.iter_mut().flatten() {
                if let Act::Op(Op::Insert(k)) = *a {
                    if own.chance(30) {
                        *a = Act::Op(Op::InsertWithTtl(k, idle * own.range(0, 8) as u32 / 4));
                    }
                }
            }
        }
        // Computes, from a third stream: some inserts become computes.
        let mut computes = Rng::new(seed ^ COMPUTE_STREAM);
        if computes.chance(50) {
            for a in acts.iter_mut().flatten() {
                if let Act::Op(Op::Insert(k)) = *a {
                    if computes.chance(40) {
                        *a = Act::Compute(k, computes.range(0, 20) as u32);
                    }
                }
            }
        }
        // `retain`, from a fourth stream, stands in for some removes.
        let mut retain = Rng::new(seed ^ RETAIN_STREAM);
        if retain.chance(40) {
            for a in acts.iter_mut().flatten() {
                if matches!(a, Act::Op(Op::Remove(_))) && retain.chance(15) {
                    *a = Act::Op(Op::Retain(retain.next() as u16));
                }
            }
        }
        draw_looks(&mut acts, seed, capacity);
        let config = ModelConfig { idle, lifetime, capacity, policy, shards, expiry };
        Case { seed, config, weigher, threads, keys, drain, acts }
    }
}

/// `entry_info`, `iter` and `set_max_capacity`, from a fifth stream (so
/// every earlier draw of a seed stays as it was): in half the cases some
/// gets become `entry_info`, some `len`s `iter`, and some purges resizes.
///
/// A resize shrinks the bound to between half of it and all of it, and a
/// later op of the same thread (within 30) becomes a resize back to the
/// bound the case was built with; a shrink at the end of a list becomes
/// that restore itself (a no-op resize, which still runs the resize path).
/// So each thread's last resize is a restore, and resizes apply in one
/// order (the front-end holds a lock across each), so the case ends at its
/// built bound; the driver restores it once more after the join for a
/// cache that does not promise that order. Why the checks stay sound: the
/// bound only ever moves below the built one, so every upper bound (`len`,
/// `iter`'s count, the final weight) still holds, and the lower bounds
/// (the refill) run at the built bound again. A cache without a bound
/// draws the same shape with a made-up bound; the call must be refused.
fn draw_looks(acts: &mut [Vec<Act>], seed: u64, capacity: Option<u64>) {
    let mut rng = Rng::new(seed ^ LOOK_STREAM);
    if !rng.chance(50) {
        return;
    }
    for list in acts.iter_mut() {
        for i in 0..list.len() {
            match list[i] {
                Act::Op(Op::Get(k)) if rng.chance(20) => list[i] = Act::Op(Op::Info(k)),
                Act::Len if rng.chance(50) => list[i] = Act::Op(Op::Iter),
                Act::Op(Op::Purge) if rng.chance(40) => {
                    let built = capacity.unwrap_or_else(|| rng.range(1, 64));
                    let back = (i + rng.range(1, 30) as usize).min(list.len() - 1);
                    list[i] = Act::Op(Op::SetCapacity(rng.range(built.div_ceil(2), built)));
                    list[back] = Act::Op(Op::SetCapacity(built));
                }
                _ => {}
            }
        }
    }
}

fn act(rng: &mut Rng, keys: u64, idle: Duration) -> Act {
    let k = rng.range(0, keys - 1);
    let op = match rng.range(0, 99) {
        0..=21 => Op::Insert(k),
        22..=41 => Op::Get(k),
        42..=47 => Op::Peek(k),
        48..=50 => Op::Contains(k),
        51..=59 => Op::Remove(k),
        60..=69 => Op::GetOrInsert(k),
        70..=75 => return Act::SlowLoad(k, rng.range(1, 50) as u32),
        76..=83 => Op::TryGetOrInsert(k, rng.chance(70)),
        84 => Op::Clear,
        85..=88 => Op::Purge,
        89..=93 => return Act::Len,
        // Quarters of the idle timeout land on deadlines; nanoseconds step
        // across them; an hour jumps past most.
        94..=96 => Op::Advance(idle * rng.range(0, 4) as u32 / 4),
        97..=98 => Op::Advance(Duration::from_nanos(rng.range(1, 3))),
        _ => Op::Advance(Duration::from_secs(3600)),
    };
    Act::Op(op)
}
