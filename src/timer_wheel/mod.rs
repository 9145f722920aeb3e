//! The expiry index of the `mutex` and `sharded` cores: a hierarchical
//! timer wheel over dense `u32` entry ids, given the time (it never reads a
//! clock), in nanoseconds.
//!
//! # Shape
//!
//! Eleven levels of 64 buckets. A bucket of level `L` spans `64^L` ns:
//! 1 ns at level 0, 1.07 s at level 5, 73 min at level 7, 3.3 days at level
//! 8, and the top level reaches the end of `u64` time. A deadline `d` is
//! filed at the level of the highest 6-bit digit in which it differs from
//! the wheel's time `now`, in the bucket of its digit there: so it shares
//! every higher digit with `now`, and its bucket lies ahead of `now`'s
//! position on that level, never behind it and never wrapped round. Near
//! deadlines land in fine buckets, far ones in coarse buckets. Because
//! level 0 is one nanosecond wide, nothing is rounded: an entry is never
//! reported expired early, and one expired at `now` is always found.
//!
//! # Walking
//!
//! A walk to `now` first *advances*: every bucket whose start the time has
//! reached is spliced whole (O(1), whatever it holds) onto a *due list*:
//! buckets that lie wholly at or before `now` onto the first, in the order
//! of their times, and the one bucket per level that straddles `now` onto
//! the second. Then the walk visits due entries, the first list's before
//! the second's (so entries whose filing has passed come before those that
//! merely came near, and roughly in deadline order), each against its real
//! deadline: passed, it is handed to the caller, who removes it; not yet,
//! it is filed again under its real deadline, relative to the new time, so
//! in a bucket ahead of it (usually at a finer level: it *cascades*), and
//! it is not visited again before the time reaches that bucket. A walk is
//! budgeted in visits and resumes where it stopped: the due lists are its
//! progress. So its cost is the expired entries plus the ones that cascade,
//! never the size of the map; and the work a far-future entry does over its
//! life is a handful of visits.
//!
//! # Lower bounds
//!
//! An entry may be filed earlier than its real deadline: the wheel only
//! needs the filing to be a *lower bound*, since every visit asks the
//! caller for the real deadline and refiles the entry under it. This is
//! what lets the sharded core refresh idle deadlines on a read hit without
//! a lock and without touching the wheel: the wheel meets the entry at its
//! old deadline and files it under the new one, at most once per idle
//! window. A deadline that moves *earlier* must be filed again at once
//! ([`TimerWheel::schedule`]).
//!
//! # Memory
//!
//! Each bucket and each due list is a circular doubly linked list through
//! a sentinel; links are `u32` node indexes in one vector, the 706 sentinels
//! first, then one link per id (8 bytes). Unlinking needs no bucket number
//! (the neighbours are enough), splicing a bucket is four writes, and
//! nothing is allocated per entry. A wheel that never filed anything holds
//! no memory.

#[cfg(any(test, fuzzing))]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod model;
#[cfg(test)]
mod tests;

const SLOT_BITS: u32 = 6;
const SLOTS: u32 = 1 << SLOT_BITS;
const LEVELS: usize = 11;
/// The sentinel of the due list of reached buckets that lie wholly at or
/// before the wheel's time (its entries' filings have all passed).
const DUE: u32 = 0;
/// The sentinel of the due list of reached buckets that straddle it.
const STRADDLING: u32 = 1;
const FIRST_BUCKET: u32 = 2;
/// Sentinels: the two due lists, then the buckets level by level.
const HEADS: u32 = FIRST_BUCKET + LEVELS as u32 * SLOTS;
const NIL: u32 = u32::MAX;

/// The largest id the wheel can file.
pub(crate) const MAX_ID: u32 = NIL - HEADS - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link { prev: NIL, next: NIL };

/// The timer wheel (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct TimerWheel {
    /// The sentinels, then each id's links; empty until something is filed.
    links: Vec<Link>,
    /// Per level, the buckets that hold entries.
    occupied: [u64; LEVELS],
    /// The time the wheel was advanced to.
    now: u64,
}

/// The sentinel of bucket `slot` on `level`.
fn bucket(level: usize, slot: u32) -> u32 {
    FIRST_BUCKET + level as u32 * SLOTS + slot
}

/// The node of `id` (at most [`MAX_ID`]).
fn node(id: u32) -> u32 {
    HEADS + id
}

/// The level and slot of deadline `d`, after `now`.
fn place(now: u64, d: u64) -> (usize, u32) {
    debug_assert!(d > now);
    let level = (63 - (now ^ d).leading_zeros()) / SLOT_BITS;
    (level as usize, ((d >> (level * SLOT_BITS)) & u64::from(SLOTS - 1)) as u32)
}

/// `t` with its digits below `level` cleared.
#[cfg_attr(not(any(feature = "sharded", test, fuzzing)), allow(dead_code))]
fn floor(t: u64, level: usize) -> u64 {
    let bits = level as u32 * SLOT_BITS;
    t.checked_shr(bits).and_then(|x| x.checked_shl(bits)).unwrap_or(0)
}

/// Slots `from + 1 ..= to` of a level, as a bit mask (`from < to`).
fn slots_after(from: u32, to: u32) -> u64 {
    let upto = if to == 63 { u64::MAX } else { (1u64 << (to + 1)) - 1 };
    upto & !((2u64 << from) - 1)
}

impl TimerWheel {
    /// The time the wheel was last advanced to.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn now(&self) -> u64 {
        self.now
    }

    /// Whether `id` is filed.
    pub(crate) fn is_scheduled(&self, id: u32) -> bool {
        self.links.get(HEADS as usize + id as usize).is_some_and(|l| l.prev != NIL)
    }

    /// Files `id` under `deadline` (a lower bound of its real deadline),
    /// moving it if it was filed. `u64::MAX` is a deadline like any other,
    /// due when the time saturates.
    pub(crate) fn schedule(&mut self, id: u32, deadline: u64) {
        self.unschedule(id);
        self.grow_for(id);
        self.file(node(id), deadline);
    }

    /// Removes `id` from the wheel (nothing if it is not filed).
    pub(crate) fn unschedule(&mut self, id: u32) {
        if self.is_scheduled(id) {
            self.unlink(node(id));
        }
    }

    /// The next entry due at `now` whose real deadline (`deadline(id)`) has
    /// passed, visiting at most `budget` due entries (each visit takes one
    /// from it). Entries visited but not yet expired are filed again under
    /// their real deadline. The entry returned stays filed: the caller
    /// removes it (with [`unschedule`](Self::unschedule)) before calling
    /// again, or is handed it again. `None` when nothing more is due or the
    /// budget ran out ([`has_due`](Self::has_due) tells which). A `now`
    /// earlier than the wheel's time is taken as the wheel's time.
    pub(crate) fn next_expired(
        &mut self,
        now: u64,
        budget: &mut usize,
        mut deadline: impl FnMut(u32) -> u64,
    ) -> Option<u32> {
        self.advance(now);
        while *budget > 0 {
            let first = self.first_due()?;
            *budget -= 1;
            if self.visit(first, &mut deadline) {
                return Some(first - HEADS);
            }
        }
        None
    }

    /// [`next_expired`](Self::next_expired) for a batch: appends to `out`
    /// every expired entry among the next `budget` due ones. They all stay
    /// filed, first on the due lists, until the caller removes them; any it
    /// does not remove (say a panic stopped it) the next walk hands out
    /// again. Looking at a batch before removing any lets the loads of its
    /// entries overlap, where removing each as it is found would wait on
    /// one cache miss after another.
    pub(crate) fn expired(
        &mut self,
        now: u64,
        budget: &mut usize,
        mut deadline: impl FnMut(u32) -> u64,
        out: &mut Vec<u32>,
    ) {
        self.advance(now);
        if self.links.is_empty() {
            return;
        }
        for head in [DUE, STRADDLING] {
            let mut n = self.links[head as usize].next;
            while n != head && *budget > 0 {
                *budget -= 1;
                // Read first: a visit that refiles `n` unlinks it.
                let next = self.links[n as usize].next;
                if self.visit(n, &mut deadline) {
                    out.push(n - HEADS);
                }
                n = next;
            }
        }
    }

    /// Whether due node `n` has expired by its real deadline; if not, files
    /// it again under that deadline (in a bucket ahead of the time).
    fn visit(&mut self, n: u32, deadline: &mut impl FnMut(u32) -> u64) -> bool {
        let real = deadline(n - HEADS);
        if real <= self.now {
            return true;
        }
        self.unlink(n);
        self.file(n, real);
        false
    }

    /// Whether entries due at the wheel's time wait for a visit (a walk
    /// that stopped on its budget left some).
    pub(crate) fn has_due(&self) -> bool {
        self.first_due().is_some()
    }

    /// The node a walk visits next: the first of the due lists' entries.
    fn first_due(&self) -> Option<u32> {
        [DUE, STRADDLING]
            .into_iter()
            .map(|head| self.links.get(head as usize).map_or(head, |l| l.next))
            .find(|&n| n >= HEADS)
    }

    /// No walk before this time finds anything due: the wheel's time if
    /// entries wait on a due list, else the start of the first non-empty
    /// bucket (a lower bound of the deadlines filed); `u64::MAX` if
    /// nothing is filed. Exact for a deadline within 64 ns of
    /// the wheel's time, and tighter the nearer the deadline, as walks
    /// cascade entries to finer levels.
    #[cfg_attr(not(any(feature = "sharded", test, fuzzing)), allow(dead_code))]
    pub(crate) fn next_due(&self) -> u64 {
        if self.has_due() {
            return self.now;
        }
        match self.first_occupied() {
            Some((level, slot)) => floor(self.now, level + 1) | (u64::from(slot) << (level as u32 * SLOT_BITS)),
            None => u64::MAX,
        }
    }

    /// An entry with the earliest filing, or near it: the first due one,
    /// else one of the first non-empty bucket.
    pub(crate) fn earliest(&self) -> Option<u32> {
        let first = match self.first_due() {
            Some(n) => n,
            None => {
                let (level, slot) = self.first_occupied()?;
                self.links[bucket(level, slot) as usize].next
            }
        };
        Some(first - HEADS)
    }

    /// Files what `from` had under `to` instead; `to` must not be filed.
    pub(crate) fn relocate(&mut self, from: u32, to: u32) {
        debug_assert!(!self.is_scheduled(to), "relocating onto filed id {to}");
        if !self.is_scheduled(from) {
            return;
        }
        self.grow_for(to);
        let (f, t) = (node(from), node(to));
        let link = self.links[f as usize];
        self.links[t as usize] = link;
        self.links[link.prev as usize].next = t;
        self.links[link.next as usize].prev = t;
        self.links[f as usize] = UNLINKED;
    }

    /// Forgets ids from `ids` on; none of them may be filed.
    pub(crate) fn truncate(&mut self, ids: usize) {
        if !self.links.is_empty() {
            debug_assert!(self.links.iter().skip(HEADS as usize + ids).all(|l| l.prev == NIL));
            self.links.truncate(HEADS as usize + ids);
        }
    }

    /// Gives back memory beyond what ids below `ids` need.
    pub(crate) fn shrink_to(&mut self, ids: usize) {
        if !self.links.is_empty() {
            self.links.shrink_to(HEADS as usize + ids);
        }
    }

    /// Unfiles everything; the time stays.
    pub(crate) fn clear(&mut self) {
        if !self.links.is_empty() {
            self.links.truncate(HEADS as usize);
            for (i, l) in self.links.iter_mut().enumerate() {
                *l = Link { prev: i as u32, next: i as u32 };
            }
        }
        self.occupied = [0; LEVELS];
    }

    /// The lowest level holding entries and its first non-empty bucket,
    /// which holds the earliest filings (a level's buckets all lie before
    /// any bucket of the level above, and ahead of the wheel's position).
    fn first_occupied(&self) -> Option<(usize, u32)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        Some((level, self.occupied[level].trailing_zeros()))
    }

    /// Room for `id`'s links (the sentinels on first use); grows to a power
    /// of two ids, as the slabs of the cores do.
    fn grow_for(&mut self, id: u32) {
        assert!(id <= MAX_ID, "the timer wheel files ids up to {MAX_ID}");
        if self.links.is_empty() {
            self.links.extend((0..HEADS).map(|i| Link { prev: i, next: i }));
        }
        let need = node(id) as usize + 1;
        if need > self.links.len() {
            let ids = (id as usize + 1).next_power_of_two();
            self.links.reserve_exact((HEADS as usize + ids).saturating_sub(self.links.len()));
            self.links.resize(need, UNLINKED);
        }
    }

    /// Links unlinked node `n` where `deadline` belongs: the first due
    /// list if it has passed, else its bucket.
    fn file(&mut self, n: u32, deadline: u64) {
        if deadline <= self.now {
            self.link_after(self.links[DUE as usize].prev, n);
            return;
        }
        let (level, slot) = place(self.now, deadline);
        self.link_after(self.links[bucket(level, slot) as usize].prev, n);
        self.occupied[level] |= 1 << slot;
    }

    fn link_after(&mut self, at: u32, n: u32) {
        let next = self.links[at as usize].next;
        self.links[n as usize] = Link { prev: at, next };
        self.links[at as usize].next = n;
        self.links[next as usize].prev = n;
    }

    fn unlink(&mut self, n: u32) {
        let Link { prev, next } = self.links[n as usize];
        self.links[prev as usize].next = next;
        self.links[next as usize].prev = prev;
        self.links[n as usize] = UNLINKED;
        // Its neighbours are one node only when that is the list's sentinel,
        // now alone: the list emptied.
        if prev == next && prev >= FIRST_BUCKET {
            let b = prev - FIRST_BUCKET;
            self.occupied[(b / SLOTS) as usize] &= !(1 << (b % SLOTS));
        }
    }

    /// Moves the wheel's time to `now`, splicing every bucket it reached
    /// onto the due list (see the module docs). Later than `now`, nothing.
    fn advance(&mut self, now: u64) {
        if now <= self.now {
            return;
        }
        let before = std::mem::replace(&mut self.now, now);
        if self.links.is_empty() {
            return;
        }
        // The highest level whose digit changed; above it, nothing moved.
        let top = ((63 - (before ^ now).leading_zeros()) / SLOT_BITS) as usize;
        for level in 0..=top {
            let shift = level as u32 * SLOT_BITS;
            let digit = |t: u64| ((t >> shift) & u64::from(SLOTS - 1)) as u32;
            // Below `top` the wheel moved into a later stretch of this level:
            // all of its buckets lie behind the new time.
            let reached = if level < top { u64::MAX } else { slots_after(digit(before), digit(now)) };
            let mut due = self.occupied[level] & reached;
            self.occupied[level] &= !reached;
            // Only on `top` (above 1 ns) can a reached bucket hold deadlines
            // after `now`: the one `now` falls in.
            let straddling = (level == top && level > 0).then(|| digit(now));
            while due != 0 {
                let slot = due.trailing_zeros();
                due &= due - 1;
                let to = if straddling == Some(slot) { STRADDLING } else { DUE };
                self.splice_onto(bucket(level, slot), to);
            }
        }
    }

    /// Moves every entry of list `from` to the back of list `to`.
    fn splice_onto(&mut self, from: u32, to: u32) {
        let Link { prev: last, next: first } = self.links[from as usize];
        if first == from {
            return;
        }
        self.links[from as usize] = Link { prev: from, next: from };
        let before = self.links[to as usize].prev;
        self.links[before as usize].next = first;
        self.links[first as usize].prev = before;
        self.links[last as usize].next = to;
        self.links[to as usize].prev = last;
    }

    /// Every filed id with the start of its bucket (0 on a due list),
    /// after checking the lists and the occupancy bits (tests and fuzzing).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn filed(&self) -> Result<Vec<(u32, u64)>, String> {
        let mut out = Vec::new();
        if self.links.is_empty() {
            return match self.occupied.iter().any(|&b| b != 0) {
                true => Err("occupancy bits set in an empty wheel".into()),
                false => Ok(out),
            };
        }
        let mut seen = vec![false; self.links.len()];
        for head in 0..HEADS {
            let start = match head.checked_sub(FIRST_BUCKET) {
                None => 0,
                Some(b) => {
                    let (level, slot) = ((b / SLOTS) as usize, b % SLOTS);
                    let occupied = self.occupied[level] & (1 << slot) != 0;
                    if occupied != (self.links[head as usize].next != head) {
                        return Err(format!("bucket {level}/{slot}: occupancy bit {occupied} is wrong"));
                    }
                    floor(self.now, level + 1) | (u64::from(slot) << (level as u32 * SLOT_BITS))
                }
            };
            let (mut prev, mut n) = (head, self.links[head as usize].next);
            while n != head {
                if n < HEADS || n as usize >= self.links.len() || std::mem::replace(&mut seen[n as usize], true) {
                    return Err(format!("list {head}: bad or repeated node {n}"));
                }
                if self.links[n as usize].prev != prev {
                    return Err(format!("list {head}: node {n} has the wrong prev"));
                }
                out.push((n - HEADS, start));
                (prev, n) = (n, self.links[n as usize].next);
            }
            if self.links[head as usize].prev != prev {
                return Err(format!("list {head}: sentinel has the wrong prev"));
            }
        }
        let stray = (HEADS as usize..self.links.len()).find(|&n| !seen[n] && self.links[n] != UNLINKED);
        match stray {
            Some(n) => Err(format!("node {n} has links but is on no list")),
            None => Ok(out),
        }
    }
}
