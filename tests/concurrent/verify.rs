//! The checks run once every worker has joined: over the whole record of
//! calls and listener reports, then over the cache's final state.
//!
//! Only what holds under any interleaving is asserted. Real-time order
//! comes from the stamps: if `a.ret < b.call`, `a` finished before `b`
//! began; overlapping calls may take effect in either order.

use std::collections::HashMap;

use ttlkit::{RemovalCause, SlidingTtlCache};

use crate::flavor::Flavor;

use crate::case::{Act, Case, Weights};
use crate::harness::Op;
use crate::run::{Out, Rec, Rejection, Report, Subject, Yield};

#[path = "verify_looks.rs"]
mod looks;

/// Where a stored value came from.
#[derive(Debug, Clone, Copy)]
struct Origin {
    rec: Rec,
    key: u64,
    /// For a load: the stamps of its `init`'s start and end.
    init: Option<(u64, u64)>,
}

/// The key an act names, if any.
pub fn key_of(act: Act) -> Option<u64> {
    match act {
        Act::Op(Op::Insert(k) | Op::Get(k) | Op::Peek(k) | Op::Contains(k) | Op::Remove(k) | Op::GetOrInsert(k))
        | Act::Op(Op::Info(k) | Op::InsertWithTtl(k, _))
        | Act::Op(Op::TryGetOrInsert(k, _))
        | Act::SlowLoad(k, _)
        | Act::Compute(k, _) => Some(k),
        Act::Op(
            Op::Clear | Op::Purge | Op::Advance(_) | Op::Iter | Op::SetCapacity(_) | Op::SetIdle(_) | Op::Retain(_),
        )
        | Act::Len => None,
    }
}

fn describe(r: &Rec) -> String {
    format!("thread {} op {} {:?} (stamps {}..{}) -> {:?}", r.thread, r.index, r.act, r.call, r.ret, r.out)
}

/// A call that stores its fresh value: an insert, or a compute (which
/// always puts).
fn is_insert(r: &Rec) -> bool {
    matches!(r.act, Act::Op(Op::Insert(_) | Op::InsertWithTtl(..)) | Act::Compute(..))
}

fn is_remove(r: &Rec) -> bool {
    matches!(r.act, Act::Op(Op::Remove(_)))
}

fn is_clear(r: &Rec) -> bool {
    matches!(r.act, Act::Op(Op::Clear))
}

/// Everything known after the join, indexed for the checks.
pub struct History<'a> {
    case: &'a Case,
    flavor: Flavor,
    recs: Vec<Rec>,
    origins: HashMap<u64, Origin>,
    /// Values reported, with their (first) report.
    reported: HashMap<u64, Report>,
    reports: Vec<Report>,
    /// Records of calls that write a key (insert, remove), by key.
    writes: HashMap<u64, Vec<Rec>>,
    clears: Vec<Rec>,
    /// Like a `clear`, a `retain` overtakes every load in flight.
    retains: Vec<Rec>,
    /// The values `retain` calls rejected (and so removed, unless something
    /// else removed them first).
    rejections: Vec<Rejection>,
    /// What each `iter` call yielded.
    yields: Vec<Yield>,
    /// Per key, the calls that may refresh it (read or write it, not just
    /// look): (call stamp, clock after the return).
    touches: HashMap<u64, Vec<(u64, u64)>>,
}

impl<'a> History<'a> {
    pub fn new(
        case: &'a Case,
        flavor: Flavor,
        recs: Vec<Rec>,
        reports: Vec<Report>,
        rejections: Vec<Rejection>,
        yields: Vec<Yield>,
    ) -> History<'a> {
        let mut origins = HashMap::new();
        let mut writes: HashMap<u64, Vec<Rec>> = HashMap::new();
        let (mut clears, mut retains) = (Vec::new(), Vec::new());
        let mut touches: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
        for r in &recs {
            let key = key_of(r.act);
            if let (Some(k), true) = (key, looks::may_refresh(r.act)) {
                touches.entry(k).or_default().push((r.call, r.clock_ret));
            }
            match (r.act, r.out) {
                (Act::Op(Op::Insert(k) | Op::InsertWithTtl(k, _)) | Act::Compute(k, _), _) => {
                    origins.insert(r.value, Origin { rec: *r, key: k, init: None });
                }
                (_, Out::Load { init: Some(init), ok: true, .. }) => {
                    let key = key.unwrap_or(u64::MAX);
                    origins.insert(r.value, Origin { rec: *r, key, init: Some(init) });
                }
                _ => {}
            }
            if is_insert(r) || is_remove(r) {
                writes.entry(key.unwrap_or(u64::MAX)).or_default().push(*r);
            }
            if is_clear(r) {
                clears.push(*r);
            }
            if matches!(r.act, Act::Op(Op::Retain(_))) {
                retains.push(*r);
            }
        }
        History {
            case,
            flavor,
            recs,
            origins,
            reported: HashMap::new(),
            reports,
            writes,
            clears,
            retains,
            rejections,
            yields,
            touches,
        }
    }

    fn origin(&self, value: u64) -> Result<&Origin, String> {
        self.origins.get(&value).ok_or_else(|| format!("value {value:#x} was never stored by anyone"))
    }

    /// The shortest life the entry `o` stored can have. With the model's
    /// `Expiry` an overwrite keeps the older deadline, which may be due at
    /// once: no bound.
    fn min_lifetime(&self, o: &Origin) -> u64 {
        let c = &self.case.config;
        if c.expiry {
            return 0;
        }
        let idle = nanos(c.idle);
        let shortest = c.lifetime.map_or(idle, |l| idle.min(nanos(l)));
        match o.rec.act {
            Act::Op(Op::InsertWithTtl(_, ttl)) => shortest.min(nanos(ttl)),
            _ => shortest,
        }
    }

    /// Every listener report names a stored value of its key, once, with a
    /// cause something could have called for.
    pub fn check_reports(&mut self) -> Result<(), String> {
        let reports = std::mem::take(&mut self.reports);
        for rep in &reports {
            let o = *self.origin(rep.value).map_err(|e| format!("listener told of {rep:?}: {e}"))?;
            if o.key != rep.key {
                return Err(format!("listener told of {rep:?} but that value was stored for key {}", o.key));
            }
            if let Some(first) = self.reported.insert(rep.value, *rep) {
                return Err(format!("value {:#x} reported twice: {first:?} and {rep:?}", rep.value));
            }
            self.check_cause(rep, &o).map_err(|e| format!("{rep:?} (stored by {}): {e}", describe(&o.rec)))?;
        }
        self.reports = reports;
        // A remove that returned a value is the one Explicit report of it, and
        // the other way round.
        for r in self.recs.iter().filter(|r| is_remove(r)) {
            if let Out::Value(Some(v)) = r.out {
                match self.reported.get(&v) {
                    Some(rep) if rep.cause == RemovalCause::Explicit => {}
                    other => return Err(format!("{} returned {v:#x}, then reported as {other:?}", describe(r))),
                }
            }
        }
        // A retain removes at most what it rejected; whatever it rejected
        // left (by it or by another call) and was reported.
        for r in &self.recs {
            if let (Act::Op(Op::Retain(_)), Out::Count(removed)) = (r.act, r.out) {
                let rejected = self.rejections.iter().filter(|j| j.by == (r.thread, r.index)).count();
                if removed > rejected {
                    return Err(format!("{} removed {removed}, but its predicate rejected {rejected}", describe(r)));
                }
            }
        }
        if let Some(j) = self.rejections.iter().find(|j| !self.reported.contains_key(&j.value)) {
            return Err(format!("retain rejected {:#x} ({j:?}), which was never reported gone", j.value));
        }
        Ok(())
    }

    fn check_cause(&self, rep: &Report, o: &Origin) -> Result<(), String> {
        let since = |r: &Rec| r.ret > o.rec.call && r.call < rep.stamp;
        match rep.cause {
            RemovalCause::Expired => {
                let earliest = o.rec.clock.saturating_add(self.min_lifetime(o));
                if rep.clock < earliest {
                    return Err(format!("Expired at t={}ns, but it cannot expire before t={earliest}ns", rep.clock));
                }
            }
            RemovalCause::Capacity if self.case.config.capacity.is_none() => {
                return Err("Capacity in a cache without a capacity".into())
            }
            RemovalCause::Capacity => {}
            RemovalCause::Replaced => {
                let rewritten =
                    self.origins.values().any(|w| w.key == o.key && w.rec.value != o.rec.value && since(&w.rec));
                if !rewritten {
                    return Err("Replaced, but no write of its key began before the report".into());
                }
            }
            RemovalCause::Explicit => {
                let removed = self.recs.iter().any(|r| is_remove(r) && r.out == Out::Value(Some(rep.value)));
                let rejected = self.rejections.iter().any(|j| j.value == rep.value && j.stamp < rep.stamp);
                if !removed && !rejected {
                    return Err("Explicit, but no remove returned it and no retain rejected it".into());
                }
            }
            RemovalCause::Cleared => {
                if !self.clears.iter().any(since) {
                    return Err("Cleared, but no clear ran after it was stored".into());
                }
            }
        }
        Ok(())
    }

    /// Every value a call returned is one stored for that key, by a call
    /// that had begun, and not one the listener had already reported gone.
    pub fn check_results(&self) -> Result<(), String> {
        for r in &self.recs {
            let fail = |e: String| format!("{}: {e}", describe(r));
            let returned = match r.out {
                Out::Value(v) => v,
                Out::Load { got, fresh, init: Some(_), ok } => {
                    let want = if ok { Ok(fresh) } else { Err(fresh) };
                    if got != want {
                        return Err(fail(format!("init ran, so it must return {want:?}")));
                    }
                    None
                }
                Out::Load { got: Ok(v), init: None, .. } => Some(v),
                Out::Load { got: Err(e), init: None, .. } => {
                    self.check_shared_error(r, e).map_err(fail)?;
                    None
                }
                Out::Count(n) if matches!(r.act, Act::Len) => {
                    if let Some((cap, bound)) = self.held_bound(r) {
                        if n as u64 > bound {
                            return Err(fail(format!("len() {n} above the bound {bound} (capacity {cap})")));
                        }
                    }
                    None
                }
                // What a compute saw is a read of the map.
                Out::Computed { saw } => saw,
                // Checked by `check_looks`.
                Out::Nothing | Out::Bool(_) | Out::Count(_) | Out::Info(_) | Out::Resized(_) => None,
            };
            let Some(v) = returned else { continue };
            let o = self.origin(v).map_err(fail)?;
            if Some(o.key) != key_of(r.act) {
                return Err(fail(format!("returned {v:#x}, a value of key {}", o.key)));
            }
            if o.rec.call > r.ret {
                return Err(fail(format!("returned {v:#x} before {} began", describe(&o.rec))));
            }
            // A load's waiter may return the leader's value after it was
            // removed (it is the load's result, not a read of the map).
            let read = !matches!(r.out, Out::Load { .. }) || o.init.is_none();
            if let Some(rep) = self.reported.get(&v).filter(|rep| read && rep.stamp < r.call) {
                return Err(fail(format!("returned {v:#x}, already reported gone: {rep:?}")));
            }
        }
        Ok(())
    }

    /// Computes are atomic: a value is seen, and replaced, by at most one
    /// compute (two that saw the same value would be a lost update: both
    /// read it, both wrote over it).
    pub fn check_computes(&self) -> Result<(), String> {
        let mut seen_by: HashMap<u64, &Rec> = HashMap::new();
        for r in &self.recs {
            if let Out::Computed { saw: Some(v) } = r.out {
                if let Some(first) = seen_by.insert(v, r) {
                    return Err(format!(
                        "{} and {} both replaced {v:#x}: an update was lost",
                        describe(first),
                        describe(r)
                    ));
                }
            }
        }
        Ok(())
    }

    /// A load that did not run `init` and failed got the error of a failing
    /// `init` for the same key that overlapped it.
    fn check_shared_error(&self, r: &Rec, e: u64) -> Result<(), String> {
        let leader = self.recs.iter().find(|l| {
            l.value == e
                && matches!(l.out, Out::Load { init: Some(_), ok: false, .. })
                && key_of(l.act) == key_of(r.act)
        });
        match leader {
            Some(l) if l.call < r.ret && l.ret > r.call => Ok(()),
            Some(l) => Err(format!("got the error of {}, which did not overlap it", describe(l))),
            None => Err(format!("got error {e:#x}, which no failing init of this key returned")),
        }
    }

    /// Whether some insert, remove, clear or retain of `key` overlapped
    /// `o`'s call.
    fn raced(&self, o: &Origin) -> bool {
        let overlaps = |r: &Rec| r.call < o.rec.ret && r.ret > o.rec.call;
        self.writes.get(&o.key).is_some_and(|ws| ws.iter().any(overlaps))
            || self.clears.iter().chain(&self.retains).any(overlaps)
    }

    /// The write (insert, or remove that took a value) of `o`'s key that ran
    /// entirely while `o`'s `init` ran, if any: such a write wins over the load.
    fn write_during_init(&self, o: &Origin) -> Option<&Rec> {
        let (start, end) = o.init?;
        self.writes.get(&o.key)?.iter().find(|w| {
            let took = is_insert(w) || matches!(w.out, Out::Value(Some(_)));
            took && w.call > start && w.ret < end
        })
    }

    /// After the final purge: every stored value is live or was reported,
    /// `len()` counts the live ones, the bound holds exactly, and the
    /// statistics agree with the calls and the listener.
    pub fn check_final<C: SlidingTtlCache<u64, u64>>(
        &self,
        s: &Subject<C>,
        drained: bool,
    ) -> Result<Vec<(u64, u64)>, String> {
        let mut live = Vec::new();
        let mut keys: Vec<u64> = self.origins.values().map(|o| o.key).collect();
        keys.sort_unstable();
        keys.dedup();
        for &k in &keys {
            if let Some(v) = s.cache.peek(&k) {
                let o = self.origin(v).map_err(|e| format!("finally peek({k}) = {v:#x}: {e}"))?;
                if o.key != k {
                    return Err(format!("finally peek({k}) = {v:#x}, a value of key {}", o.key));
                }
                if let Some(rep) = self.reported.get(&v) {
                    return Err(format!("finally peek({k}) = {v:#x}, which was reported gone: {rep:?}"));
                }
                live.push((k, v));
            }
        }
        if drained && !live.is_empty() {
            return Err(format!("past every deadline and purged, yet {} entries are live: {live:?}", live.len()));
        }
        let is_live = |o: &Origin| live.iter().any(|&(k, v)| (k, v) == (o.key, o.rec.value));
        for o in self.origins.values() {
            if let Some(w) = self.write_during_init(o) {
                if is_live(o) || self.reported.contains_key(&o.rec.value) {
                    return Err(format!(
                        "{} stored its value over {}, which ran entirely during its init",
                        describe(&o.rec),
                        describe(w)
                    ));
                }
                continue;
            }
            if is_live(o) || self.reported.contains_key(&o.rec.value) {
                continue;
            }
            // A load's value is not stored if a write raced the load.
            if o.init.is_some() && self.raced(o) {
                continue;
            }
            return Err(format!("the value of {} is neither live nor reported to the listener", describe(&o.rec)));
        }
        let len = s.cache.len();
        if len != live.len() {
            return Err(format!("after the final purge len() is {len} but {} entries are live", live.len()));
        }
        if let Some(cap) = self.case.config.capacity {
            let held: u64 = live.iter().map(|&(k, v)| Weights::new(self.case, self.flavor).of(k, v)).sum();
            if held > cap {
                let weights: Vec<_> =
                    live.iter().map(|&(k, v)| (k, Weights::new(self.case, self.flavor).of(k, v))).collect();
                return Err(format!(
                    "after the final purge the live weight is {held}, above the capacity {cap}: (key, weight) {weights:?}"
                ));
            }
        }
        self.check_stats(s, &live)?;
        Ok(live)
    }

    fn check_stats<C: SlidingTtlCache<u64, u64>>(&self, s: &Subject<C>, live: &[(u64, u64)]) -> Result<(), String> {
        let st = s.cache.stats();
        let count = |f: &dyn Fn(&Rec) -> bool| self.recs.iter().filter(|r| f(r)).count() as u64;
        let is_load = |r: &Rec| matches!(r.out, Out::Load { .. });
        let lookups = count(&|r| matches!(r.act, Act::Op(Op::Get(_))) || is_load(r));
        let get_hits = count(&|r| matches!((r.act, r.out), (Act::Op(Op::Get(_)), Out::Value(Some(_)))));
        let waited = count(&|r| matches!(r.out, Out::Load { got: Ok(_), init: None, .. }));
        // A load that waited on another's init is neither hit nor miss.
        if st.hits + st.misses + st.loads_coalesced != lookups {
            return Err(format!(
                "stats count {} hits + {} misses + {} coalesced, the threads made {lookups} lookups",
                st.hits, st.misses, st.loads_coalesced
            ));
        }
        if st.hits < get_hits || st.hits > get_hits + waited {
            return Err(format!(
                "stats count {} hits; gets hit {get_hits} times and loads returned without init {waited} times",
                st.hits
            ));
        }
        let failures = count(&|r| matches!(r.out, Out::Load { init: Some(_), ok: false, .. }));
        if st.load_failures != failures || st.loads_failed != failures {
            return Err(format!(
                "stats count {} load failures ({} loads failed), {failures} inits failed",
                st.load_failures, st.loads_failed
            ));
        }
        let inits = count(&|r| matches!(r.out, Out::Load { init: Some(_), .. }));
        if st.loads_started != inits || st.loads_succeeded + st.loads_failed != inits {
            return Err(format!(
                "stats count {} loads started ({} succeeded, {} failed), {inits} inits ran",
                st.loads_started, st.loads_succeeded, st.loads_failed
            ));
        }
        let inserts = count(&is_insert);
        let loads = self.origins.values().filter(|o| o.init.is_some());
        let stored_loads = loads
            .clone()
            .filter(|o| self.reported.contains_key(&o.rec.value) || live.contains(&(o.key, o.rec.value)))
            .count() as u64;
        let all_loads = loads.count() as u64;
        if st.inserts < inserts + stored_loads || st.inserts > inserts + all_loads {
            return Err(format!(
                "stats count {} inserts; {inserts} inserts and {stored_loads} of {all_loads} loaded values were stored",
                st.inserts
            ));
        }
        for cause in RemovalCause::ALL {
            let told = self.reports.iter().filter(|r| r.cause == cause).count() as u64;
            if st.removals(cause) != told {
                return Err(format!(
                    "stats count {} {cause} removals, the listener was told of {told}",
                    st.removals(cause)
                ));
            }
        }
        if st.listener_panics != 0 {
            return Err(format!("{} listener panics", st.listener_panics));
        }
        Ok(())
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
