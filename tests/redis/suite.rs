//! The conformance suite (`tests/conformance/`) on `RedisCache` and
//! `TieredCache`: every case of `conformance/list.rs` that needs nothing of
//! its target (no `Need`), one `#[test]` per case and target, named
//! `suite::redis::case` and `suite::tiered::case`.
//!
//! The cases with a `Need` are not run here, because Redis differs from the
//! in-process backends there, as documented:
//! * `MockClock`: Redis keeps time on its own clock (the builder refuses a
//!   clock) and expires keys without telling this process, so `Expired` is
//!   reported only by a read that finds an entry past its lifetime. The
//!   real-time variants are in `realtime.rs`.
//! * `Capacity`: capacity is Redis's `maxmemory` policy; the builder refuses
//!   `max_capacity` and `weigher` (`realtime::builder_refuses_capacity`).
//! * `TrackedLoads`: a write made during a load does not win on Redis (other
//!   processes write too; `SlidingTtlCache::begin_load`'s default): the
//!   load's value is stored over it.
//!
//! Both targets lack all three, so the list is filtered when it is expanded
//! (`clock_free!` below); a target that met some would filter by `has`.

use std::sync::Mutex;
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{CacheBuilder, RedisCache, TieredCache};

use crate::common::{options, prefix, wait_for, Server};
use crate::target::{Key, Need, Target, Value};

/// A check run after a case on one cache the target built.
type Check = Box<dyn Fn() + Send + Sync>;

/// Checks that a Redis cache met no error (connection, script, decode).
fn no_errors<K: Key, V: Value>(cache: &RedisCache<K, V>) -> Check {
    let cache = cache.clone();
    Box::new(move || assert_eq!(cache.errors(), 0, "Redis errors: last {:?}", cache.last_error()))
}

/// `RedisCache`, each cache under a prefix of its own.
pub struct RedisTarget {
    server: Server,
    checks: Mutex<Vec<Check>>,
}

impl RedisTarget {
    pub fn new(server: Server) -> Self {
        RedisTarget { server, checks: Mutex::default() }
    }

    fn l2<K: Key, V: Value>(&self, b: CacheBuilder<K, V>) -> RedisCache<K, V> {
        let cache: RedisCache<K, V> = options(&self.server, &prefix("suite")).build(b).unwrap();
        self.checks.lock().unwrap().push(no_errors(&cache));
        cache
    }
}

impl Target for RedisTarget {
    type Cache<K: Key, V: Value> = RedisCache<K, V>;

    fn has(&self, _: Need) -> bool {
        false // See the module docs.
    }

    /// Redis keeps time itself: no clock, and no sweeper to turn off.
    fn base_builder<K: Key, V: Value>(&self, _: &MockClock) -> CacheBuilder<K, V> {
        CacheBuilder::new()
    }

    fn build<K: Key, V: Value>(&self, b: CacheBuilder<K, V>) -> RedisCache<K, V> {
        self.l2(b)
    }

    fn finish(&self) {
        for check in self.checks.lock().unwrap().iter() {
            check();
        }
    }
}

/// `TieredCache`: an L1 (idle timeout 100 ms) in front of a
/// [`RedisTarget`] cache built from the case's builder.
pub struct TieredTarget(RedisTarget);

impl TieredTarget {
    pub fn new(server: Server) -> Self {
        TieredTarget(RedisTarget::new(server))
    }
}

impl Target for TieredTarget {
    type Cache<K: Key, V: Value> = TieredCache<K, V>;

    fn has(&self, need: Need) -> bool {
        self.0.has(need)
    }

    fn base_builder<K: Key, V: Value>(&self, clock: &MockClock) -> CacheBuilder<K, V> {
        self.0.base_builder(clock)
    }

    fn build<K: Key, V: Value>(&self, b: CacheBuilder<K, V>) -> TieredCache<K, V> {
        let cache =
            TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_millis(100)), self.0.l2(b)).unwrap();
        wait_for("live invalidation", Duration::from_secs(10), || cache.is_live());
        cache
    }

    fn finish(&self) {
        self.0.finish();
    }
}

/// Expands the case list into one `#[test]` per case with no needs.
macro_rules! clock_free {
    ($target:ident ; $($module:ident :: $case:ident [$($need:ident),*]),* $(,)?) => {
        $( clock_free!(@one $target $module::$case [$($need),*]); )*
    };
    (@one $target:ident $module:ident :: $case:ident []) => {
        #[test]
        fn $case() {
            let server = $crate::need_redis!(stringify!($case));
            let t = super::$target::new(server);
            crate::$module::$case(&t);
            crate::target::Target::finish(&t);
        }
    };
    (@one $target:ident $module:ident :: $case:ident [$($need:ident),+]) => {};
}

mod redis {
    crate::for_each_case!(clock_free, RedisTarget);
}

mod tiered {
    crate::for_each_case!(clock_free, TieredTarget);
}
