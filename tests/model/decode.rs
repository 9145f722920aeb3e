//! Arbitrary bytes to a case, for fuzzing: every input decodes to a
//! configuration and an operation sequence that can run, so the fuzzer
//! spends no inputs on rejects.

use std::time::Duration;

use ttlkit::PolicyKind;

use super::{Key, ModelConfig, Op, KEYS};

/// Turns arbitrary bytes into a configuration and an operation sequence
/// (for fuzzing): every input decodes to something runnable.
pub fn decode(bytes: &[u8]) -> (ModelConfig, Vec<Op>) {
    let mut input = Bytes(bytes);
    let unit = |b: u8| match b % 4 {
        0 => Duration::from_nanos(1),
        1 => Duration::from_millis(1),
        2 => Duration::from_secs(1),
        _ => Duration::from_secs(3600),
    };
    let idle = unit(input.byte()) * (u32::from(input.byte() % 16) + 1);
    let lifetime = (input.byte() % 3 == 0).then(|| unit(input.byte()) * (u32::from(input.byte() % 16) + 1));
    let capacity = match input.byte() % 4 {
        0 => None,
        _ => Some(u64::from(input.byte() % 10) + 1),
    };
    let policy = PolicyKind::ALL[usize::from(input.byte()) % PolicyKind::ALL.len()];
    let shard_byte = input.byte();
    let shards = match shard_byte % 4 {
        0 => None,
        n => Some(1usize << (n - 1)),
    };
    let expiry = shard_byte & 0x80 != 0;
    let config = ModelConfig { idle, lifetime, capacity, policy, shards, expiry };
    let mut ops = Vec::new();
    while !input.0.is_empty() && ops.len() < 1000 {
        let tag = input.byte();
        let key = Key::from(input.byte()) % KEYS;
        ops.push(match tag % 24 {
            0..=2 => Op::Insert(key),
            3..=5 => Op::Get(key),
            6 => Op::Peek(key),
            7 => Op::Contains(key),
            8 => Op::Remove(key),
            9 => Op::GetOrInsert(key),
            10 => Op::TryGetOrInsert(key, tag & 0x10 == 0),
            11 => Op::Clear,
            12 => Op::Purge,
            // Advances: a fraction or multiple of the idle timeout, or a
            // few nanoseconds (to land on and around deadlines).
            13 => Op::Advance(idle * u32::from(key as u8 + 1) / 4),
            14 => Op::Advance(Duration::from_nanos(key)),
            16 => Op::Info(key),
            17 => Op::Iter,
            18 | 19 => Op::InsertWithTtl(key, idle * u32::from(input.byte() % 8) / 4),
            20 | 21 => Op::Retain(u16::from_le_bytes([input.byte(), input.byte()])),
            22 => Op::SetCapacity(u64::from(input.byte() % 10) + 1),
            23 => Op::SetIdle(unit(input.byte()) * (u32::from(input.byte() % 16) + 1)),
            _ => Op::Advance(unit(key as u8) * (u32::from(input.byte()) + 1)),
        });
    }
    (config, ops)
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    /// The next byte, or zero once the input is used up.
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}
