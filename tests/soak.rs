//! Soak: 30 simulated days of per-API-key client traffic, on every
//! backend, in about a second of real time per backend (`MockClock`).
//!
//! A service keeps one client per API key. Every day a few thousand keys
//! show up (regulars most days, plus a stream of keys never seen before),
//! make a burst of requests a few minutes apart, and go idle. The idle
//! timeout is one hour and a sweep runs every five minutes (here:
//! `purge_expired()` every simulated five minutes; no sweeper thread).
//!
//! Checked:
//! * the entry count never exceeds the keys touched in the last idle window
//!   plus the last sweep interval (an entry outlives its last touch by at
//!   most the timeout and then waits at most one interval for the sweep);
//! * right after each sweep it is exactly the keys touched in the last hour;
//! * the cache's live heap bytes (a counting global allocator, net of the
//!   test's own pre-reserved bookkeeping) on day 30 are within 10% of day 1,
//!   although 31,500 distinct keys came and went in between: nothing
//!   accumulates. A day's figure is the mean over its sweeps from noon to
//!   midnight, once that day's peak has sized every table: a single sample
//!   would mostly measure how many keys happen to be live at that minute
//!   (and, for `sharded`, how much epoch garbage is waiting to be freed).

#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, CacheBuilder, SlidingTtlCache};
use ttlkit_strategies::mix64;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::live_bytes;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting::ALWAYS;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const DAYS: u64 = 30;
const IDLE: u64 = HOUR;
const SWEEP: u64 = 5 * MINUTE;

/// Regular customers: each is active on a given day with probability 70%.
const REGULARS: u64 = 1_500;
/// Keys seen for the first (and only) time, per day.
const NEWCOMERS_PER_DAY: u64 = 1_000;
/// Relative arrival rate by hour of day (quiet nights, busy afternoons).
const HOURLY: [u64; 24] = [1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 12, 12, 11, 9, 7, 5, 4, 3, 2, 1];

/// A deterministic random stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        mix64(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a service caches per key: an HTTP client with its buffers.
#[derive(Clone)]
struct Client(#[allow(dead_code)] Arc<Vec<u8>>);

/// The API key of customer `id`, as a service sees it (a heap string).
fn api_key(id: u64) -> String {
    format!("sk-{:016x}{:016x}{:016x}", mix64(id), mix64(id ^ 1), mix64(id ^ 2))
}

/// Queues one day's sessions: each key arrives at a time drawn from the
/// daily curve and makes 1-10 requests 1-15 minutes apart.
fn plan_day(day: u64, rng: &mut Rng, requests: &mut BinaryHeap<Reverse<(u64, u64)>>) {
    let total: u64 = HOURLY.iter().sum();
    let regulars = (0..REGULARS).filter(|_| rng.below(10) < 7).collect::<Vec<_>>();
    let newcomers = (0..NEWCOMERS_PER_DAY).map(|i| REGULARS + day * NEWCOMERS_PER_DAY + i);
    for id in regulars.into_iter().chain(newcomers) {
        let (mut pick, mut hour) = (rng.below(total), 0);
        while pick >= HOURLY[hour] {
            pick -= HOURLY[hour];
            hour += 1;
        }
        let mut t = day * DAY + hour as u64 * HOUR + rng.below(HOUR);
        for _ in 0..=rng.below(10) {
            requests.push(Reverse((t, id)));
            t += MINUTE * (1 + rng.below(15));
        }
    }
}

/// The distinct keys touched in a sliding window, from a log of touches.
struct Window {
    span: u64,
    log: VecDeque<(u64, u64)>,
    last: HashMap<u64, u64>,
}

impl Window {
    fn touch(&mut self, now: u64, id: u64) {
        self.log.push_back((now, id));
        self.last.insert(id, now);
    }

    /// Keys touched in `[now - span, now]`.
    fn count(&mut self, now: u64) -> usize {
        while let Some(&(t, id)) = self.log.front() {
            if t + self.span >= now {
                break;
            }
            self.log.pop_front();
            if self.last.get(&id) == Some(&t) {
                self.last.remove(&id);
            }
        }
        self.last.len()
    }

    /// Keys touched in `(now - span, now]`.
    fn strictly_within(&self, now: u64, span: u64) -> usize {
        self.last.values().filter(|&&t| t + span > now).count()
    }
}

/// The figures of one backend's run.
#[derive(Debug)]
struct Soak {
    max_len: usize,
    bound_at_max: usize,
    max_bound: usize,
    /// The cache's heap bytes after each sweep, averaged from noon to
    /// midnight of each day.
    heap_by_day: Vec<isize>,
    distinct_keys: u64,
}

fn soak(backend: BackendKind) -> Soak {
    // Bookkeeping is reserved up front (and checked never to grow) so the
    // heap figures below are the cache's own.
    let mut requests = BinaryHeap::with_capacity(64 * 1024);
    let mut window =
        Window { span: IDLE + SWEEP, log: VecDeque::with_capacity(16 * 1024), last: HashMap::with_capacity(8 * 1024) };
    let reserved = (requests.capacity(), window.log.capacity(), window.last.capacity());

    let clock = MockClock::new();
    let baseline = live_bytes();
    let builder =
        CacheBuilder::<String, Client>::new().time_to_idle(Duration::from_secs(IDLE)).clock(clock.clone()).no_sweeper();
    let cache = AnyCache::new(backend, builder).unwrap();

    let mut rng = Rng(0x5eed);
    let mut now = 0;
    let mut out = Soak { max_len: 0, bound_at_max: 0, max_bound: 0, heap_by_day: Vec::new(), distinct_keys: 0 };
    let check = |cache: &AnyCache<String, Client>, window: &mut Window, now: u64, out: &mut Soak| {
        let (len, bound) = (cache.len(), window.count(now));
        assert!(len <= bound, "{backend} at {now} s: {len} entries held, above the {bound} keys touched in the window");
        out.max_bound = out.max_bound.max(bound);
        if len > out.max_len {
            (out.max_len, out.bound_at_max) = (len, bound);
        }
    };
    for day in 0..DAYS {
        plan_day(day, &mut rng, &mut requests);
        let mut heap_today = 0;
        let day_end = (day + 1) * DAY;
        for sweep_at in (day * DAY + SWEEP..=day_end).step_by(SWEEP as usize) {
            while let Some(&Reverse((t, id))) = requests.peek() {
                if t >= sweep_at {
                    break;
                }
                requests.pop();
                clock.advance(Duration::from_secs(t - now));
                now = t;
                let client = cache.get_or_insert_with(api_key(id), || Client(Arc::new(vec![0; 1024])));
                drop(client);
                window.touch(now, id);
                check(&cache, &mut window, now, &mut out);
            }
            clock.advance(Duration::from_secs(sweep_at - now));
            now = sweep_at;
            check(&cache, &mut window, now, &mut out);
            cache.purge_expired();
            let live = window.strictly_within(now, IDLE);
            assert_eq!(cache.len(), live, "{backend} at {now} s: after the sweep, exactly the keys of the last hour");
            if sweep_at > day * DAY + DAY / 2 {
                heap_today += live_bytes() - baseline;
            }
        }
        out.heap_by_day.push(heap_today / (DAY / 2 / SWEEP) as isize);
    }
    out.distinct_keys = REGULARS + DAYS * NEWCOMERS_PER_DAY;
    assert_eq!(reserved, (requests.capacity(), window.log.capacity(), window.last.capacity()), "bookkeeping grew");
    drop(cache);
    out
}

#[test]
fn thirty_days_of_traffic_stay_bounded() {
    for &backend in BackendKind::ALL {
        let s = soak(backend);
        let (first, last) = (s.heap_by_day[0], s.heap_by_day[DAYS as usize - 1]);
        let (lo, hi) = (s.heap_by_day.iter().min().unwrap(), s.heap_by_day.iter().max().unwrap());
        println!(
            "{backend}: {} distinct keys over {DAYS} days; entries max {} (bound then {}, largest bound {}); \
             cache heap (mean, noon to midnight) day 1 {first} B, day {DAYS} {last} B ({:+.1}%), \
             range over the days {lo}..={hi} B",
            s.distinct_keys,
            s.max_len,
            s.bound_at_max,
            s.max_bound,
            (last - first) as f64 * 100.0 / first as f64
        );
        assert!(
            (last - first).abs() * 10 <= first,
            "{backend}: heap at day {DAYS} ({last} B) is not within 10% of day 1 ({first} B): {:?}",
            s.heap_by_day
        );
    }
}
