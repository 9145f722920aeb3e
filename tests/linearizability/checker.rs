//! Is a history linearizable? A depth-first search over the orders that
//! respect real time (Wing & Gong), memoized on (done set, model state) as
//! in Lowe's refinement, against a sequential model that is a plain map.
//!
//! Some calls are split into steps that must each take effect inside the
//! call's interval:
//!
//! * a load that ran `init` (a leader) is a *miss* (the key is absent) and
//!   later a *store*, which stores the value only if no write of the key
//!   took effect in between (the fixed rule: a write during a load wins);
//!   a remove or clear that found the key absent may count either way;
//! * a load that did not run `init` and returned another load's value is
//!   a hit on that value, or joined that load while it was in flight (the
//!   key absent, the leader between its miss and its store);
//! * a weakly consistent `clear` is one removal per key, each at its own
//!   point.

use std::collections::HashSet;

/// Keys are `0..KEYS`.
pub const KEYS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Insert(usize, u64),
    Get(usize),
    Peek(usize),
    Remove(usize),
    /// `get_or_insert_with(key, || fresh)`.
    Load(usize, u64),
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Unit,
    Value(Option<u64>),
    Loaded { got: u64, ran_init: bool },
}

/// A completed call with its real-time interval (global stamps).
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub thread: usize,
    pub call: Call,
    pub ret: Ret,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Whole,
    Miss,
    Store,
    Join,
    ClearKey(usize),
}

#[derive(Debug, Clone, Copy)]
struct Item {
    op: usize,
    step: Step,
    /// The item that must take effect first (a leader's miss for its store).
    after: Option<usize>,
}

/// Whether a write happened since a leader's miss.
const CLEAN: u8 = 0;
const MAYBE: u8 = 1;
const WRITTEN: u8 = 2;

#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    map: [Option<u64>; KEYS],
    dirty: Vec<u8>,
}

struct Search<'a> {
    events: &'a [Event],
    items: Vec<Item>,
    seen: HashSet<(u64, State)>,
}

/// Checks `events` (at most 64 steps); `relaxed_clear` makes `clear` one
/// removal per key.
pub fn linearizable(events: &[Event], relaxed_clear: bool) -> bool {
    let mut items = Vec::new();
    for (op, e) in events.iter().enumerate() {
        match (e.call, e.ret) {
            (Call::Load(..), Ret::Loaded { ran_init: true, .. }) => {
                items.push(Item { op, step: Step::Miss, after: None });
                items.push(Item { op, step: Step::Store, after: Some(items.len() - 1) });
            }
            (Call::Load(..), _) => items.push(Item { op, step: Step::Join, after: None }),
            (Call::Clear, _) if relaxed_clear => {
                for k in 0..KEYS {
                    items.push(Item { op, step: Step::ClearKey(k), after: None });
                }
            }
            _ => items.push(Item { op, step: Step::Whole, after: None }),
        }
    }
    assert!(items.len() <= 64, "too many steps for the done mask");
    let mut s = Search { events, items, seen: HashSet::new() };
    let start = State { map: [None; KEYS], dirty: vec![CLEAN; events.len()] };
    s.dfs(0, start)
}

impl Search<'_> {
    fn dfs(&mut self, done: u64, state: State) -> bool {
        let all = if self.items.len() == 64 { u64::MAX } else { (1u64 << self.items.len()) - 1 };
        if done == all {
            return true;
        }
        if !self.seen.insert((done, state.clone())) {
            return false;
        }
        let undone = |i: usize| done & (1 << i) == 0;
        let min_end = (0..self.items.len()).filter(|&i| undone(i)).map(|i| self.events[self.items[i].op].end).min();
        let Some(min_end) = min_end else { return true };
        for i in 0..self.items.len() {
            let item = self.items[i];
            if !undone(i) || self.events[item.op].start > min_end || item.after.is_some_and(undone) {
                continue;
            }
            for next in self.apply(done, &state, item) {
                if self.dfs(done | (1 << i), next) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether leader `op` has taken its miss but not its store.
    fn in_flight(&self, done: u64, op: usize) -> bool {
        let mut steps = self.items.iter().enumerate().filter(|(_, it)| it.op == op);
        let miss = steps.next().filter(|(_, it)| it.step == Step::Miss);
        let store = steps.next();
        matches!((miss, store), (Some((m, _)), Some((s, _))) if done & (1 << m) != 0 && done & (1 << s) == 0)
    }

    /// Marks every leader of `key` in flight as written since its miss.
    fn wrote(&self, done: u64, st: &mut State, key: usize, level: u8) {
        for (op, e) in self.events.iter().enumerate() {
            if matches!(e.call, Call::Load(k, _) if k == key) && self.in_flight(done, op) {
                st.dirty[op] = st.dirty[op].max(level);
            }
        }
    }

    fn remove_key(&self, done: u64, st: &mut State, key: usize) {
        let level = if st.map[key].is_some() { WRITTEN } else { MAYBE };
        self.wrote(done, st, key, level);
        st.map[key] = None;
    }

    /// The states the model may be in after `item` (none: it cannot go now).
    fn apply(&self, done: u64, state: &State, item: Item) -> Vec<State> {
        let e = self.events[item.op];
        let mut st = state.clone();
        match (item.step, e.call, e.ret) {
            (Step::Whole, Call::Insert(k, v), _) => {
                self.wrote(done, &mut st, k, WRITTEN);
                st.map[k] = Some(v);
            }
            (Step::Whole, Call::Get(k) | Call::Peek(k), Ret::Value(v)) => {
                if st.map[k] != v {
                    return vec![];
                }
            }
            (Step::Whole, Call::Remove(k), Ret::Value(v)) => {
                if st.map[k] != v {
                    return vec![];
                }
                self.remove_key(done, &mut st, k);
            }
            (Step::Whole, Call::Clear, _) => {
                for k in 0..KEYS {
                    self.remove_key(done, &mut st, k);
                }
            }
            (Step::ClearKey(k), _, _) => self.remove_key(done, &mut st, k),
            (Step::Miss, Call::Load(k, _), _) => {
                if st.map[k].is_some() {
                    return vec![];
                }
                st.dirty[item.op] = CLEAN;
            }
            (Step::Store, Call::Load(k, v), _) => {
                let skipped = st.clone();
                self.wrote(done, &mut st, k, WRITTEN);
                st.map[k] = Some(v);
                return match state.dirty[item.op] {
                    CLEAN => vec![st],
                    MAYBE => vec![st, skipped],
                    _ => vec![skipped],
                };
            }
            (Step::Join, Call::Load(k, _), Ret::Loaded { got, .. }) => {
                let hit = st.map[k] == Some(got);
                let joined = st.map[k].is_none()
                    && self.events.iter().enumerate().any(|(op, l)| {
                        matches!((l.call, l.ret), (Call::Load(lk, _), Ret::Loaded { got: g, ran_init: true }) if lk == k && g == got)
                            && self.in_flight(done, op)
                    });
                if !hit && !joined {
                    return vec![];
                }
            }
            _ => return vec![],
        }
        vec![st]
    }
}
