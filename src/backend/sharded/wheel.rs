//! A single-level timer wheel over entry ids: the sharded backend's expiry
//! index.
//!
//! Hits refresh an entry's access stamp lock-free, so an entry cannot be
//! moved in any ordered structure on a hit. The wheel therefore files each
//! entry under a *scheduled* deadline that is a lower bound of its real one
//! (the deadline when it was inserted or last rescheduled). When the wheel
//! reaches a bucket it asks, for each entry there, for the real deadline:
//! past → expired; not yet → rescheduled under the real deadline. So the
//! work follows the entries that expired plus, at most once per idle window,
//! each entry that was read — never the size of the map.
//!
//! Every effective deadline is at most `time_to_idle` ahead of the time it
//! is computed. One revolution of the wheel spans *twice* that, so as long
//! as the wheel is walked at least once per idle window (the sweeper, or any
//! purge) no deadline lands in a bucket the cursor will reach before its
//! time. When walks stop for longer, far deadlines alias onto nearer
//! buckets: a walk then visits them early and rotates them in place, which
//! costs a visit but never misses or early-expires anything. A walk at
//! `now` covers every bucket up to the one holding `now`, so it finds every
//! entry expired by then.

use crate::clock::Ticks;

const NIL: u32 = u32::MAX;
/// Buckets per revolution (a power of two).
const BUCKETS: u64 = 256;

/// Packed to 10 bytes (one per entry): fields are only ever copied, never
/// borrowed.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed)]
struct Link {
    prev: u32,
    next: u32,
    /// Physical bucket, or `UNFILED` when not scheduled.
    bucket: u16,
}

const UNFILED: u16 = u16::MAX;
const UNLINKED: Link = Link { prev: NIL, next: NIL, bucket: UNFILED };

/// What a walk over due buckets did.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Entries found expired, already unscheduled.
    pub(crate) expired: Vec<u32>,
    /// Whether the budget ran out before every due bucket was walked.
    pub(crate) more: bool,
}

/// The timer wheel.
#[derive(Debug)]
pub(crate) struct Wheel {
    width: u64,
    heads: Vec<u32>,
    tails: Vec<u32>,
    links: Vec<Link>,
    /// Entries per bucket.
    lens: Vec<u32>,
    /// Absolute index of the next bucket to walk.
    cursor: u64,
    /// The pass over the cursor's bucket in progress: how many of its
    /// entries are still to visit. Live entries that stay in the bucket are
    /// rotated to its tail, so a pass visits each entry once and a walk
    /// split into budgeted batches always finishes.
    pass: Option<Pass>,
    /// The least real deadline filed in the cursor's bucket since its pass
    /// began (every refile and every new filing there lowers it). Once that
    /// pass is complete it bounds every entry there, which makes
    /// `next_due` exact enough that a walk finding nothing due is not
    /// repeated until something is.
    cursor_floor: Ticks,
}

#[derive(Debug, Clone, Copy)]
struct Pass {
    bucket: u64,
    left: u32,
}

impl Wheel {
    /// A wheel for deadlines at most `span_nanos` ahead, starting at `now`.
    pub(crate) fn new(span_nanos: u64, now: Ticks) -> Wheel {
        let width = (span_nanos.saturating_mul(2) / (BUCKETS - 2)).max(1) + 1;
        Wheel {
            width,
            heads: vec![NIL; BUCKETS as usize],
            tails: vec![NIL; BUCKETS as usize],
            links: Vec::new(),
            lens: vec![0; BUCKETS as usize],
            cursor: now.as_nanos() / width,
            pass: None,
            cursor_floor: Ticks::MAX,
        }
    }

    fn bucket_of(&self, deadline: Ticks) -> u16 {
        // Never file behind the cursor: a past deadline goes to the next walk.
        let abs = (deadline.as_nanos() / self.width).max(self.cursor);
        (abs % BUCKETS) as u16
    }

    /// Files `id` under `deadline`. `id` must not be scheduled.
    pub(crate) fn schedule(&mut self, id: u32, deadline: Ticks) {
        let i = id as usize;
        if self.links.len() <= i {
            self.links.resize(i + 1, UNLINKED);
        }
        debug_assert!({ self.links[i].bucket } == UNFILED, "id {id} scheduled twice");
        let b = self.bucket_of(deadline);
        if u64::from(b) == self.cursor % BUCKETS {
            self.cursor_floor = self.cursor_floor.min(deadline);
        }
        let tail = self.tails[b as usize];
        self.links[i] = Link { prev: tail, next: NIL, bucket: b };
        if tail == NIL {
            self.heads[b as usize] = id;
        } else {
            self.links[tail as usize].next = id;
        }
        self.tails[b as usize] = id;
        self.lens[b as usize] += 1;
    }

    /// Removes `id` from the wheel (no-op if it is not scheduled).
    pub(crate) fn unschedule(&mut self, id: u32) {
        let Some(&Link { prev, next, bucket }) = self.links.get(id as usize) else { return };
        if bucket == UNFILED {
            return;
        }
        let b = bucket as usize;
        if prev == NIL {
            self.heads[b] = next;
        } else {
            self.links[prev as usize].next = next;
        }
        if next == NIL {
            self.tails[b] = prev;
        } else {
            self.links[next as usize].prev = prev;
        }
        self.links[id as usize] = UNLINKED;
        self.lens[b] -= 1;
    }

    /// Files `id` under a new deadline.
    pub(crate) fn reschedule(&mut self, id: u32, deadline: Ticks) {
        self.unschedule(id);
        self.schedule(id, deadline);
    }

    /// Walks the buckets due at `now`, visiting at most `budget` entries.
    /// `deadline(id)` gives an entry's real deadline; entries past it are
    /// unscheduled and returned, the others are refiled under it (or, if it
    /// falls in the same bucket, rotated to that bucket's tail). The bucket
    /// containing `now` is walked too, so every expired entry is found.
    ///
    /// Each call makes at most one pass over each due bucket: `more` is set
    /// only when the budget ran out mid-pass, and the next call resumes that
    /// pass while nothing the pass has already been through is due (else it
    /// starts afresh, so a pass cut short by a write's small budget never
    /// strands an entry that expired before the next walk). Once the
    /// current bucket's pass is done, the walk ends; the next walk (a later
    /// sweep or purge) starts a fresh pass over it.
    pub(crate) fn walk(&mut self, now: Ticks, budget: usize, mut deadline: impl FnMut(u32) -> Ticks) -> Walk {
        let mut walk = Walk::default();
        let target = now.as_nanos() / self.width;
        if target >= self.cursor + BUCKETS {
            // Far behind: one revolution visits every bucket.
            self.cursor = target + 1 - BUCKETS;
            self.pass = None;
        }
        let mut visited = 0usize;
        while self.cursor <= target {
            let b = (self.cursor % BUCKETS) as u32;
            let mut pass = match self.pass {
                // A pass cut short by the budget resumes, unless something
                // it rotated (or a writer filed) there since has come due:
                // those sit behind the entries still to visit, so only a
                // fresh pass reaches them.
                Some(p) if p.bucket == self.cursor && p.left > 0 && now < self.cursor_floor => p,
                _ => {
                    self.cursor_floor = Ticks::MAX;
                    Pass { bucket: self.cursor, left: self.lens[b as usize] }
                }
            };
            while pass.left > 0 {
                if visited == budget {
                    self.pass = Some(pass);
                    walk.more = true;
                    return walk;
                }
                let id = self.heads[b as usize];
                if id == NIL {
                    // Writers removed entries since the pass began.
                    pass.left = 0;
                    break;
                }
                visited += 1;
                pass.left -= 1;
                let d = deadline(id);
                if d <= now {
                    self.unschedule(id);
                    walk.expired.push(id);
                } else {
                    // Refiled elsewhere, or rotated behind the rest of the pass.
                    self.reschedule(id, d);
                }
            }
            self.pass = Some(pass);
            if self.cursor == target {
                break;
            }
            self.cursor += 1;
        }
        walk
    }

    /// A lower bound of every scheduled deadline (and so of every real
    /// one): the start of the first non-empty bucket, `Ticks::MAX` if none.
    pub(crate) fn next_due(&self) -> Ticks {
        let first = |from: u64| {
            (from..self.cursor + BUCKETS)
                .find(|abs| self.heads[(abs % BUCKETS) as usize] != NIL)
                .map_or(Ticks::MAX, |abs| Ticks::from_nanos(abs.saturating_mul(self.width)))
        };
        let passed = matches!(self.pass, Some(p) if p.bucket == self.cursor && p.left == 0);
        if passed && self.heads[(self.cursor % BUCKETS) as usize] != NIL {
            // The cursor's bucket was walked through: its entries are bound
            // by the floor, not by the bucket's start.
            self.cursor_floor.min(first(self.cursor + 1))
        } else {
            first(self.cursor)
        }
    }

    /// Checks the link structure (tests only).
    #[cfg(test)]
    pub(crate) fn scheduled(&self) -> usize {
        let mut n = 0;
        for b in 0..BUCKETS as usize {
            let mut id = self.heads[b];
            let mut prev = NIL;
            let mut here = 0;
            while id != NIL {
                let l = self.links[id as usize];
                assert_eq!({ l.bucket } as usize, b);
                assert_eq!({ l.prev }, prev);
                prev = id;
                id = l.next;
                here += 1;
            }
            assert_eq!(self.tails[b], prev);
            assert_eq!(self.lens[b], here);
            n += here;
        }
        n as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn t(secs: u64) -> Ticks {
        Ticks::from_nanos(secs * SEC)
    }

    #[test]
    fn walk_finds_expired_and_refiles_refreshed() {
        let mut w = Wheel::new(60 * SEC, t(0));
        let mut deadlines = [t(60), t(60), t(61)];
        for (id, d) in deadlines.iter().enumerate() {
            w.schedule(id as u32, *d);
        }
        // Entry 1 was read at t=30: its real deadline moved to 90.
        deadlines[1] = t(90);
        let walk = w.walk(t(61), usize::MAX, |id| deadlines[id as usize]);
        let mut expired = walk.expired.clone();
        expired.sort();
        assert_eq!(expired, vec![0, 2]);
        assert!(!walk.more);
        assert_eq!(w.scheduled(), 1);
        assert!(w.walk(t(89), usize::MAX, |id| deadlines[id as usize]).expired.is_empty());
        assert_eq!(w.walk(t(90), usize::MAX, |id| deadlines[id as usize]).expired, vec![1]);
        assert_eq!(w.scheduled(), 0);
    }

    #[test]
    fn budget_bounds_each_walk() {
        let mut w = Wheel::new(10 * SEC, t(0));
        for id in 0..100 {
            w.schedule(id, t(10));
        }
        let mut total = 0;
        loop {
            let walk = w.walk(t(20), 16, |_| t(10));
            assert!(walk.expired.len() <= 16);
            total += walk.expired.len();
            if !walk.more {
                break;
            }
        }
        assert_eq!(total, 100);
    }

    #[test]
    fn long_idle_gap_still_finds_everything() {
        let mut w = Wheel::new(10 * SEC, t(0));
        for id in 0..10 {
            w.schedule(id, t(1 + id as u64));
        }
        assert!(w.next_due() <= t(1));
        let walk = w.walk(t(10_000), usize::MAX, |id| t(1 + id as u64));
        assert_eq!(walk.expired.len(), 10);
        assert_eq!(w.next_due(), Ticks::MAX);
        assert_eq!(w.scheduled(), 0);
    }

    #[test]
    fn live_entries_in_a_due_bucket_never_stall_a_budgeted_walk() {
        // 300 live entries due later within the current bucket, and 300
        // aliased ones from a later revolution filed in a past bucket.
        let mut w = Wheel::new(10 * SEC, t(0));
        let width = w.width;
        let now = Ticks::from_nanos(width * 3 + width / 2);
        let later_in_bucket = Ticks::from_nanos(width * 3 + width - 1);
        let next_revolution = Ticks::from_nanos(width * (BUCKETS + 1));
        for id in 0..300 {
            w.schedule(id, later_in_bucket);
        }
        for id in 300..600 {
            w.schedule(id, Ticks::from_nanos(width));
        }
        let deadline = |id: u32| if id < 300 { later_in_bucket } else { next_revolution };
        let mut calls = 0;
        loop {
            let walk = w.walk(now, 64, deadline);
            assert!(walk.expired.is_empty());
            calls += 1;
            assert!(calls < 100, "walk does not finish");
            if !walk.more {
                break;
            }
        }
        assert_eq!(w.scheduled(), 600);
        // Once the time comes, all of them are found.
        let mut expired = 0;
        loop {
            let walk = w.walk(next_revolution, 64, deadline);
            expired += walk.expired.len();
            if !walk.more {
                break;
            }
        }
        assert_eq!(expired, 600);
    }

    #[test]
    fn after_a_pass_next_due_is_the_least_deadline_left_in_the_bucket() {
        let mut w = Wheel::new(10 * SEC, t(0));
        let width = w.width;
        let late = Ticks::from_nanos(width * 3 + width - 1);
        w.schedule(0, late);
        assert!(w.walk(Ticks::from_nanos(width * 3), usize::MAX, |_| late).expired.is_empty());
        assert_eq!(w.next_due(), late);
        // A filing there after the pass lowers it.
        let sooner = Ticks::from_nanos(width * 3 + 1);
        w.schedule(1, sooner);
        assert_eq!(w.next_due(), sooner);
        // A pass cut short bounds nothing: back to the bucket's start.
        w.schedule(2, late);
        let walk = w.walk(Ticks::from_nanos(width * 3), 1, |id| if id == 1 { sooner } else { late });
        assert!(walk.more);
        assert_eq!(w.next_due(), Ticks::from_nanos(width * 3));
    }

    #[test]
    fn a_pass_cut_short_never_strands_an_entry_it_rotated() {
        // A write's small reclaim walk visits entry 0 (live, rotated to the
        // tail) and runs out of budget. Entry 0 then expires; the next walk,
        // in a later bucket, resumes the pass and must still find it.
        let mut w = Wheel::new(10 * SEC, t(0));
        let width = w.width;
        let early = Ticks::from_nanos(width * 3 + width / 4);
        let late = Ticks::from_nanos(width * 3 + width / 2);
        w.schedule(0, late);
        w.schedule(1, late);
        let walk = w.walk(early, 1, |_| late);
        assert!(walk.expired.is_empty() && walk.more);
        let mut expired = Vec::new();
        loop {
            let walk = w.walk(Ticks::from_nanos(width * 5), 1, |_| late);
            expired.extend(walk.expired);
            if !walk.more {
                break;
            }
        }
        expired.sort();
        assert_eq!(expired, vec![0, 1]);
        assert_eq!(w.scheduled(), 0);
    }

    #[test]
    fn a_pass_resumed_later_in_its_bucket_finds_what_expired_meanwhile() {
        let mut w = Wheel::new(10 * SEC, t(0));
        let width = w.width;
        let at = |f: u64| Ticks::from_nanos(width * 3 + f);
        let deadlines = [at(10), at(20), at(30)];
        for (id, d) in deadlines.iter().enumerate() {
            w.schedule(id as u32, *d);
        }
        let walk = w.walk(at(5), 1, |id| deadlines[id as usize]);
        assert!(walk.expired.is_empty() && walk.more);
        let mut expired = Vec::new();
        loop {
            let walk = w.walk(at(25), 1, |id| deadlines[id as usize]);
            expired.extend(walk.expired);
            if !walk.more {
                break;
            }
        }
        expired.sort();
        assert_eq!(expired, vec![0, 1]);
        assert_eq!(w.scheduled(), 1);
    }

    #[test]
    fn unschedule_unlinks() {
        let mut w = Wheel::new(10 * SEC, t(0));
        for id in 0..5 {
            w.schedule(id, t(5));
        }
        w.unschedule(2);
        w.unschedule(2);
        assert_eq!(w.scheduled(), 4);
    }
}
