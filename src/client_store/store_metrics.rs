//! A named client store's series through the `metrics` facade (feature
//! `metrics`): its cache's series (see [`crate::metrics`]) under
//! `cache = <name>`, and the store's own under `store = <name>`. No label
//! carries a key or a fingerprint.
//!
//! | series | kind | extra label |
//! |---|---|---|
//! | `ttlkit_store_clients_total` | counter | `event` (`created`, `reused`, `creation_failed`, `released`) |
//! | `ttlkit_store_leases` | gauge | |
//! | `ttlkit_store_awaiting_release` | gauge | |
//! | `ttlkit_store_breaker_transitions_total` | counter | `to` (`open`, `half_open`, `closed`) |
//! | `ttlkit_store_breakers_tripped` | gauge | |
//! | `ttlkit_store_breaker_rejections_total` | counter | |
//! | `ttlkit_store_rate_limited_total` | counter | |
//! | `ttlkit_store_retries_total` | counter | |
//! | `ttlkit_store_retry_budget_exhausted_total` | counter | |
//! | `ttlkit_store_hook_panics_total` | counter | |

use std::sync::Arc;

use ::metrics::{counter, gauge, Label};

use crate::client_store::store_stats::ClientStoreStats;
use crate::metrics::{publish_cache, Snapshot};

/// The name a store publishes under.
#[derive(Debug, Clone)]
pub(crate) struct StoreSeries {
    name: Arc<str>,
}

impl StoreSeries {
    pub(crate) fn new(name: String) -> StoreSeries {
        StoreSeries { name: Arc::from(name) }
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Sets the store's series to `stats`, and its cache's to `cache`.
    pub(crate) fn publish(&self, stats: &ClientStoreStats, cache: &Snapshot) {
        publish_cache(&self.name, cache);
        let labels = || vec![Label::new("store", Arc::clone(&self.name))];
        let with = |key: &'static str, value: &'static str| {
            let mut l = labels();
            l.push(Label::new(key, value));
            l
        };
        for (event, n) in [
            ("created", stats.created),
            ("reused", stats.reused),
            ("creation_failed", stats.creation_failures),
            ("released", stats.released),
        ] {
            counter!("ttlkit_store_clients_total", with("event", event)).absolute(n);
        }
        gauge!("ttlkit_store_leases", labels()).set(stats.leases as f64);
        gauge!("ttlkit_store_awaiting_release", labels()).set(stats.awaiting_release as f64);
        for (to, n) in
            [("open", stats.breaker_opened), ("half_open", stats.breaker_half_opened), ("closed", stats.breaker_closed)]
        {
            counter!("ttlkit_store_breaker_transitions_total", with("to", to)).absolute(n);
        }
        gauge!("ttlkit_store_breakers_tripped", labels()).set(stats.breakers_tripped as f64);
        counter!("ttlkit_store_breaker_rejections_total", labels()).absolute(stats.breaker_rejected);
        counter!("ttlkit_store_rate_limited_total", labels()).absolute(stats.rate_limited);
        counter!("ttlkit_store_retries_total", labels()).absolute(stats.retries);
        counter!("ttlkit_store_retry_budget_exhausted_total", labels()).absolute(stats.retry_budget_exhausted);
        counter!("ttlkit_store_hook_panics_total", labels()).absolute(stats.hook_panics);
    }
}
