//! The timer wheel against a model of sorted deadlines: random operations,
//! checked one by one. The wheel's property test (`tests.rs`) generates
//! them; the `timer_wheel` fuzz target decodes them from bytes (this file
//! is compiled into the fuzz crate by path, so it names nothing outside
//! this module).
//!
//! The model holds each filed id's *real* deadline. The wheel is told of
//! every change except [`Op::Extend`], which moves a real deadline later
//! the way a lock-free read hit does: the wheel keeps the older, earlier
//! filing, which must stay a lower bound.

use std::collections::{BTreeMap, BTreeSet};

use super::{TimerWheel, MAX_ID};

/// Ids the operations use: few, so they collide.
pub(crate) const IDS: u32 = 48;

/// How far from the current time an operation's deadline lies.
#[derive(Debug, Clone, Copy)]
pub(crate) enum When {
    /// `now + (magnitude >> shift)`: from nanoseconds to centuries.
    Ahead { magnitude: u64, shift: u8 },
    /// `now - back` (saturating): already due.
    Behind { back: u64 },
    /// The end of time (`u64::MAX`), due only once the time saturates.
    End,
}

impl When {
    fn at(self, now: u64) -> u64 {
        match self {
            When::Ahead { magnitude, shift } => now.saturating_add(magnitude >> (shift % 64)),
            When::Behind { back } => now.saturating_sub(back),
            When::End => u64::MAX,
        }
    }
}

/// One step against the wheel and the model.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// Files `id` under a deadline (its real one), moving it if filed.
    Schedule { id: u32, when: When },
    /// Moves a filed id's real deadline later without telling the wheel.
    Extend { id: u32, when: When },
    /// Unfiles `id`.
    Cancel { id: u32 },
    /// Moves a filed id to an unfiled one (a slab compaction).
    Relocate { from: u32, to: u32 },
    /// Time moves on by `by` (nanoseconds, `by >> shift`).
    Advance { by: u64, shift: u8 },
    /// Takes expired entries, `budget` visits at a time; with `drain`,
    /// until none is due, and then every expired entry must have come out.
    /// With `batch`, a walk hands out a batch at once
    /// ([`TimerWheel::expired`]); with `abandon` too (and no `drain`), its
    /// caller removes only the first half, as a panic would leave it, and
    /// later walks must hand out the rest.
    Walk { budget: u16, drain: bool, batch: bool, abandon: bool },
    /// Unfiles everything.
    Clear,
}

/// Runs `ops` on a fresh wheel against the model; the first difference.
pub(crate) fn check(ops: &[Op]) -> Result<(), String> {
    let mut wheel = TimerWheel::default();
    let mut real: BTreeMap<u32, u64> = BTreeMap::new();
    let mut now = 0u64;
    for (step, op) in ops.iter().enumerate() {
        let at = now;
        let fail = |what: String| format!("step {step} ({op:?}) from {at}: {what}");
        match *op {
            Op::Schedule { id, when } => {
                let at = when.at(now);
                wheel.schedule(id, at);
                real.insert(id, at);
            }
            Op::Extend { id, when } => {
                if let Some(at) = real.get_mut(&id) {
                    *at = (*at).max(when.at(now));
                }
            }
            Op::Cancel { id } => {
                wheel.unschedule(id);
                real.remove(&id);
            }
            Op::Relocate { from, to } => {
                if real.contains_key(&from) && !real.contains_key(&to) {
                    wheel.relocate(from, to);
                    if let Some(at) = real.remove(&from) {
                        real.insert(to, at);
                    }
                }
            }
            Op::Advance { by, shift } => now = now.saturating_add(by >> (shift % 64)),
            Op::Walk { budget, drain, batch, abandon } => {
                let how = Walking { budget: usize::from(budget), drain, batch, abandon: abandon && batch && !drain };
                walk(&mut wheel, &mut real, now, how).map_err(fail)?
            }
            Op::Clear => {
                wheel.clear();
                real.clear();
            }
        }
        agrees(&wheel, &real).map_err(fail)?;
    }
    // In the end, time runs out: everything comes out, each once.
    let how = Walking { budget: 64, drain: true, batch: false, abandon: false };
    walk(&mut wheel, &mut real, u64::MAX, how).map_err(|e| format!("final walk: {e}"))?;
    match real.is_empty() {
        true => Ok(()),
        false => Err(format!("after the final walk the wheel still holds {real:?}")),
    }
}

/// How a walk goes (see [`Op::Walk`]).
#[derive(Debug, Clone, Copy)]
struct Walking {
    budget: usize,
    drain: bool,
    batch: bool,
    abandon: bool,
}

/// One walk; each entry it hands out must be expired, and is removed
/// (unless abandoned).
fn walk(wheel: &mut TimerWheel, real: &mut BTreeMap<u32, u64>, now: u64, how: Walking) -> Result<(), String> {
    let mut taken = Vec::new();
    loop {
        let mut left = how.budget;
        let deadline = |id: u32| real.get(&id).copied().unwrap_or(0);
        let mut batch = Vec::new();
        if how.batch {
            wheel.expired(now, &mut left, deadline, &mut batch);
        } else {
            while let Some(id) = wheel.next_expired(now, &mut left, |id| real.get(&id).copied().unwrap_or(0)) {
                batch.push(id);
                // Removed at once: the next call must not hand it out again.
                wheel.unschedule(id);
            }
        }
        let keep = if how.abandon { batch.len() / 2 } else { batch.len() };
        for (i, &id) in batch.iter().enumerate() {
            match real.get(&id).copied() {
                Some(at) if at <= now => {}
                Some(at) => return Err(format!("id {id} handed out at {now}, due at {at}")),
                None => return Err(format!("id {id} handed out twice, or never filed")),
            }
            if i < keep {
                real.remove(&id);
                wheel.unschedule(id);
                taken.push(id);
            }
        }
        if !how.drain || !wheel.has_due() {
            break;
        }
    }
    if how.drain {
        if let Some((id, at)) = real.iter().find(|(_, &at)| at <= now) {
            return Err(format!("id {id}, due at {at}, not handed out by a complete walk (took {taken:?})"));
        }
    }
    Ok(())
}

/// The wheel files exactly the model's ids, each no later than its real
/// deadline, and no walk before its next-due bound would find one due.
fn agrees(wheel: &TimerWheel, real: &BTreeMap<u32, u64>) -> Result<(), String> {
    let filed = wheel.filed()?;
    let ids: BTreeSet<u32> = filed.iter().map(|&(id, _)| id).collect();
    if ids.len() != filed.len() || !ids.iter().eq(real.keys()) {
        return Err(format!("wheel files {ids:?}, model holds {:?}", real.keys().collect::<Vec<_>>()));
    }
    if let Some(&(id, start)) = filed.iter().find(|&&(id, start)| start > real[&id]) {
        return Err(format!("id {id} filed in a bucket from {start}, after its deadline {}", real[&id]));
    }
    // Walks never go back before the wheel's time, so no bound needs to be
    // earlier than that.
    let earliest = real.values().copied().min().unwrap_or(u64::MAX).max(wheel.now());
    if wheel.next_due() > earliest {
        return Err(format!("next_due {} is after the earliest deadline {earliest}", wheel.next_due()));
    }
    Ok(())
}

/// Operations from arbitrary bytes (the fuzz target's input).
pub(crate) fn decode(data: &[u8]) -> Vec<Op> {
    let mut r = Reader(data.iter());
    let mut ops = Vec::new();
    while let Some(&tag) = r.0.next() {
        let op = match tag % 8 {
            0 | 1 => Op::Schedule { id: r.id(), when: r.when() },
            2 => Op::Extend { id: r.id(), when: r.when() },
            3 => Op::Cancel { id: r.id() },
            4 => Op::Relocate { from: r.id(), to: r.id() },
            5 => Op::Advance { by: r.word(), shift: r.byte() },
            6 => Op::Walk {
                budget: u16::from(r.byte()) % 32 + 1,
                drain: tag & 0x80 != 0,
                batch: tag & 0x40 != 0,
                abandon: tag & 0x20 != 0,
            },
            _ => Op::Clear,
        };
        ops.push(op);
    }
    ops
}

/// Bytes to numbers; zeros past the end.
struct Reader<'a>(std::slice::Iter<'a, u8>);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }

    fn word(&mut self) -> u64 {
        (0..8).fold(0, |w, _| w << 8 | u64::from(self.byte()))
    }

    fn id(&mut self) -> u32 {
        u32::from(self.byte()) % IDS
    }

    fn when(&mut self) -> When {
        let kind = self.byte();
        match kind % 8 {
            0 => When::End,
            1 => When::Behind { back: self.word() >> (kind / 8) },
            _ => When::Ahead { magnitude: self.word(), shift: kind / 4 },
        }
    }
}

const _: () = assert!(IDS <= MAX_ID);
