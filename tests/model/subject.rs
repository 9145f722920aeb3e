//! The backend under test: built from a case's configuration with a mock
//! clock, no sweeper, exact idle expiry and a listener that logs every
//! removal for the step to check.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ttlkit::clock::MockClock;
use ttlkit::{AnyCache, BackendKind, BuildError, CacheBuilder};

use super::{runnable_policy, Key, ModelConfig, ModelExpiry, Removal, Value};

pub(super) type Log = Arc<Mutex<Vec<Removal>>>;

/// A backend under test, its clock and its listener's log.
pub(super) struct Subject {
    pub(super) cache: AnyCache<Key, Value>,
    pub(super) clock: MockClock,
    pub(super) log: Log,
}

/// Builds `backend` with `config`, a mock clock, no sweeper, exact idle
/// expiry and a recording listener. A policy the backend does not run must
/// be refused with `UnsupportedPolicy`; the case then runs on
/// [`runnable_policy`].
pub(super) fn build(backend: BackendKind, config: &ModelConfig) -> Result<Subject, String> {
    let policy = runnable_policy(backend, config.policy);
    if policy != config.policy {
        let b = CacheBuilder::<Key, Value>::new().time_to_idle(config.idle).no_sweeper().policy_kind(config.policy);
        match AnyCache::new(backend, b) {
            Err(BuildError::UnsupportedPolicy { backend: b, policy: p, .. }) if b == backend && p == config.policy => {}
            other => return Err(format!("{backend} must refuse {}, got {other:?}", config.policy)),
        }
    }
    let clock = MockClock::new();
    let log: Log = Arc::default();
    let sink = Arc::clone(&log);
    let mut b = CacheBuilder::<Key, Value>::new()
        .time_to_idle(config.idle)
        .clock(clock.clone())
        .no_sweeper()
        .refresh_granularity(Duration::ZERO)
        .policy_kind(policy)
        .removal_listener(move |k: &Key, v: Value, c| {
            sink.lock().unwrap_or_else(PoisonError::into_inner).push((*k, v, c));
        });
    if let Some(l) = config.lifetime {
        b = b.time_to_live(l);
    }
    if let Some(c) = config.capacity {
        b = b.max_capacity(c);
    }
    if let Some(s) = config.shards {
        b = b.shards(s);
    }
    if config.expiry {
        b = b.expire_after(ModelExpiry::new(config.idle));
    }
    let cache = AnyCache::new(backend, b).map_err(|e| format!("build {backend} with {config:?}: {e}"))?;
    Ok(Subject { cache, clock, log })
}
