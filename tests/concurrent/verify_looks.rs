//! The checks of the calls that look without touching (`entry_info`,
//! `iter`, `peek`, `contains_key`) and of `set_max_capacity`, and that
//! nothing but a read or a write refreshes an entry. Like the rest of
//! `verify`, only what holds under any interleaving.
//!
//! Deadlines: with refresh granularity zero an entry's idle deadline is its
//! last access plus the idle timeout, and its other deadlines (lifetime,
//! its own) only come sooner. Its last access was stamped by a call of its
//! key that reads or writes it ([`may_refresh`]) and had begun; whatever
//! time that call stamped (its own clock read, or a later one the core had
//! seen, which was read before the call returned) is no later than the
//! clock read just after it returned. So an entry whose key no such call
//! touched after `t` is expired from `t + idle` on, whatever else ran.

use std::collections::HashSet;
use std::time::Duration;

use super::{describe, nanos, History};
use crate::case::{Act, Weights};
use crate::harness::Op;
use crate::run::{Out, Rec, Resize};

/// Whether `act` may refresh its key's entry: a read that counts (`get`,
/// a load) or a write. `peek`, `contains_key`, `entry_info`, `iter`,
/// `retain`, `remove` and the rest must not.
pub(super) fn may_refresh(act: Act) -> bool {
    matches!(
        act,
        Act::Op(Op::Get(_) | Op::Insert(_) | Op::InsertWithTtl(..) | Op::GetOrInsert(_) | Op::TryGetOrInsert(..))
            | Act::SlowLoad(..)
            | Act::Compute(..)
    )
}

impl History<'_> {
    /// Every `entry_info`, `iter`, `peek`, `contains_key` and
    /// `set_max_capacity` call.
    pub fn check_looks(&self) -> Result<(), String> {
        for r in &self.recs {
            let fail = |e: String| format!("{}: {e}", describe(r));
            match (r.act, r.out) {
                (Act::Op(Op::Info(k)), Out::Info(Some(info))) => self.check_info(r, k, &info).map_err(fail)?,
                (Act::Op(Op::Iter), Out::Count(_)) => self.check_iter(r).map_err(fail)?,
                (Act::Op(Op::SetCapacity(_)), Out::Resized(got)) => self.check_resize(got).map_err(fail)?,
                (Act::Op(Op::Peek(k)), Out::Value(Some(_))) | (Act::Op(Op::Contains(k)), Out::Bool(true)) => {
                    self.not_expired(k, r).map_err(fail)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The clock after the return of the last call that may have refreshed
    /// `key` and began before the stamp `before`.
    fn last_touch(&self, key: u64, before: u64) -> Option<u64> {
        self.touches.get(&key)?.iter().filter(|&&(call, _)| call < before).map(|&(_, at)| at).max()
    }

    /// A look at `r.clock` or later, returning before `r.ret`, found `key`
    /// live: it must not have been expired for sure by then.
    fn not_expired(&self, key: u64, r: &Rec) -> Result<(), String> {
        let idle = nanos(self.case.config.idle);
        match self.last_touch(key, r.ret) {
            Some(t) if r.clock < t.saturating_add(idle) => Ok(()),
            Some(t) => Err(format!(
                "found key {key} live at t>={}ns, but nothing refreshed it after t={t}ns (idle {idle}ns)",
                r.clock
            )),
            None => Err(format!("found key {key} live, but nothing had written it")),
        }
    }

    /// `entry_info(k)` said `Some`: a value of `k` with that weight was
    /// being stored or had been; every time left is positive (the entry is
    /// live) and at most its configured timeout; the last access is no
    /// earlier than the last write.
    fn check_info(&self, r: &Rec, k: u64, info: &ttlkit::EntryInfo) -> Result<(), String> {
        let w = Weights::new(self.case, self.flavor);
        let weighs = |v: u64| w.of(k, v) == u64::from(info.weight);
        if !self.origins.values().any(|o| o.key == k && o.rec.call < r.ret && weighs(o.rec.value)) {
            return Err(format!("no value of key {k} weighing {} was stored before it returned", info.weight));
        }
        self.not_expired(k, r)?;
        let c = &self.case.config;
        within("idle_left", info.idle_left, Some(c.idle))?;
        within("live_left", info.live_left, c.lifetime)?;
        // Its own deadline: the model's `Expiry` gives at most the idle
        // timeout (a quarter to all of it at a write, half at a read), and
        // `insert_with_ttl` its ttl; an update keeps the older one.
        let ttls = self.recs.iter().filter_map(|w| match w.act {
            Act::Op(Op::InsertWithTtl(key, ttl)) if key == k && w.call < r.ret => Some(ttl),
            _ => None,
        });
        let own = ttls.chain(c.expiry.then_some(c.idle)).max();
        if info.own_left.is_some() {
            within("own_left", info.own_left, own)?;
        }
        if info.since_access > info.since_write {
            return Err(format!("accessed {:?} ago, longer than its last write", info.since_access));
        }
        Ok(())
    }

    /// An `iter` yielded, for each key at most once, values stored for that
    /// key by calls that had begun, none reported gone before it began and
    /// none expired for sure; and of those stored before it began (so all
    /// held when it began) no more than the cache may hold at once. The
    /// rest were stored by calls that overlapped it: it takes a lock at a
    /// time, so under concurrent writes it may show more than the bound in
    /// all.
    fn check_iter(&self, r: &Rec) -> Result<(), String> {
        let Some(y) = self.yields.iter().find(|y| y.by == (r.thread, r.index)) else {
            return Err("its yield was not recorded".into());
        };
        let mut keys = HashSet::new();
        let mut stored_before = 0u64;
        for &(k, v) in &y.pairs {
            let o = self.origin(v).map_err(|e| format!("yielded ({k}, {v:#x}): {e}"))?;
            if !keys.insert(k) {
                return Err(format!("yielded key {k} twice"));
            }
            if o.key != k {
                return Err(format!("yielded ({k}, {v:#x}), a value of key {}", o.key));
            }
            if o.rec.call > r.ret {
                return Err(format!("yielded ({k}, {v:#x}) before {} began", describe(&o.rec)));
            }
            if let Some(rep) = self.reported.get(&v).filter(|rep| rep.stamp < r.call) {
                return Err(format!("yielded ({k}, {v:#x}), already reported gone: {rep:?}"));
            }
            self.not_expired(k, r).map_err(|e| format!("yielded ({k}, {v:#x}): {e}"))?;
            stored_before += u64::from(o.rec.ret < r.call);
        }
        if let Some((cap, bound)) = self.held_bound(r) {
            if stored_before > bound {
                return Err(format!(
                    "yielded {stored_before} values stored before it began, above the bound {bound} (capacity {cap})"
                ));
            }
        }
        Ok(())
    }

    /// The bound that may be in effect at some instant during `r`, and how
    /// many entries the cache may then hold (`None` without a bound). In
    /// flight, every inserting thread may be one entry over (it may also
    /// have read the bound before a shrink); where one lock serialises the
    /// inserts (the flavor says), none is in flight over the bound.
    ///
    /// Resizes apply in one order and a shrink evicts before it returns,
    /// so the bound during `r` is that of a resize that began before `r`
    /// returned and that no other resize surely followed before `r` began
    /// (one that began after it returned and returned before `r` began),
    /// or the built one if no resize had returned before `r` began.
    pub(super) fn held_bound(&self, r: &Rec) -> Option<(u64, u64)> {
        let built = self.case.config.capacity?;
        let resizes: Vec<(&Rec, u64)> = self
            .recs
            .iter()
            .filter_map(|x| match (x.act, x.out) {
                (Act::Op(Op::SetCapacity(n)), Out::Resized(Resize::Done)) => Some((x, n)),
                _ => None,
            })
            .collect();
        let followed = |a: &Rec| resizes.iter().any(|&(b, _)| a.ret < b.call && b.ret < r.call);
        let mut cap = if resizes.iter().any(|&(a, _)| a.ret < r.call) { 0 } else { built };
        for &(a, n) in &resizes {
            if a.call < r.ret && !followed(a) {
                cap = cap.max(n);
            }
        }
        let flight = self.flavor.in_flight(self.case.threads);
        Some((cap, cap + (self.flavor.profile().capacity_slack)(cap) + flight * self.case.weigher.unwrap_or(1)))
    }

    /// `set_max_capacity` is refused, with its typed error, exactly where
    /// it cannot apply: always on moka, and on a cache built without a
    /// bound. A cache from outside ttlkit may refuse it as unsupported.
    fn check_resize(&self, got: Resize) -> Result<(), String> {
        let bounded = self.case.config.capacity.is_some();
        let want: &[Resize] = match (self.flavor.kind, self.flavor.is_moka(), bounded) {
            (_, true, _) => &[Resize::Unsupported],
            (Some(_), false, true) => &[Resize::Done],
            (Some(_), false, false) => &[Resize::Unbounded],
            (None, _, true) => &[Resize::Done, Resize::Unsupported],
            (None, _, false) => &[Resize::Unbounded, Resize::Unsupported],
        };
        if !want.contains(&got) {
            return Err(format!("set_max_capacity answered {got:?}, want one of {want:?} (bounded: {bounded})"));
        }
        Ok(())
    }

    /// After the join, at the final clock `now`: every live entry was
    /// refreshed by a read or a write recently enough to be live; one kept
    /// alive longer was refreshed by a look (`iter`, `entry_info`, `peek`,
    /// ...) or by the cache itself.
    pub fn check_nothing_else_refreshes(&self, live: &[(u64, u64)], now: u64) -> Result<(), String> {
        let idle = nanos(self.case.config.idle);
        for &(k, v) in live {
            let t = self.last_touch(k, u64::MAX).unwrap_or(0);
            if now >= t.saturating_add(idle) {
                return Err(format!(
                    "finally ({k}, {v:#x}) is live at t={now}ns, but no read or write of key {k} ran after \
                     t={t}ns (idle {idle}ns): something that must not refresh kept it"
                ));
            }
        }
        Ok(())
    }
}

/// A time left that `entry_info` reported: positive (the entry is live) and
/// at most `max`; `None` exactly when there is no `max`.
fn within(what: &str, left: Option<Duration>, max: Option<Duration>) -> Result<(), String> {
    match (left, max) {
        (None, None) => Ok(()),
        (Some(l), Some(m)) if !l.is_zero() && l <= m => Ok(()),
        _ => Err(format!("{what} is {left:?}, want within (0, {max:?}]")),
    }
}
