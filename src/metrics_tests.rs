//! The series as a recorder receives them: a small recorder that keeps the
//! last value of every series, installed for the test's thread only.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ::metrics::{
    with_local_recorder, Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use super::*;
use crate::backend::mutex::MutexCache;
use crate::builder::CacheBuilder;
use crate::clock::MockClock;
use crate::kind::BackendKind;

/// Series name and sorted `k=v` labels.
type Series = (String, Vec<String>);

#[derive(Default)]
struct Seen {
    values: Mutex<BTreeMap<Series, f64>>,
    samples: Mutex<BTreeMap<Series, Vec<f64>>>,
}

struct Handle {
    series: Series,
    seen: Arc<Seen>,
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self.seen.values.lock().unwrap().entry(self.series.clone()).or_default() += value as f64;
    }
    fn absolute(&self, value: u64) {
        self.seen.values.lock().unwrap().insert(self.series.clone(), value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        *self.seen.values.lock().unwrap().entry(self.series.clone()).or_default() += value;
    }
    fn decrement(&self, value: f64) {
        *self.seen.values.lock().unwrap().entry(self.series.clone()).or_default() -= value;
    }
    fn set(&self, value: f64) {
        self.seen.values.lock().unwrap().insert(self.series.clone(), value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.seen.samples.lock().unwrap().entry(self.series.clone()).or_default().push(value);
    }
}

#[derive(Default)]
struct Keeping(Arc<Seen>);

impl Keeping {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        labels.sort();
        Arc::new(Handle { series: (key.name().to_string(), labels), seen: Arc::clone(&self.0) })
    }

    fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let series = (name.to_string(), labels.iter().map(|l| l.to_string()).collect());
        self.0.values.lock().unwrap().get(&series).copied()
    }

    fn samples(&self, name: &str, labels: &[&str]) -> usize {
        let series = (name.to_string(), labels.iter().map(|l| l.to_string()).collect());
        self.0.samples.lock().unwrap().get(&series).map_or(0, Vec::len)
    }

    /// Every series seen, as text.
    fn all(&self) -> Vec<String> {
        let values = self.0.values.lock().unwrap();
        let samples = self.0.samples.lock().unwrap();
        values.keys().chain(samples.keys()).map(|(n, l)| format!("{n}{{{}}}", l.join(","))).collect()
    }
}

impl Recorder for Keeping {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

#[test]
fn a_watched_cache_publishes_its_snapshot() {
    let rec = Keeping::default();
    let cache: MutexCache<u32, u32> = CacheBuilder::new().max_capacity(2).build().unwrap();
    let metrics = CacheMetrics::new();
    metrics.watch("users", &cache);
    with_local_recorder(&rec, || {
        cache.get_or_insert_with(1, || 10);
        cache.get(&1);
        cache.get(&2);
        cache.insert(2, 20);
        cache.insert(3, 30); // over the bound of 2
        cache.remove(&3);
        assert_eq!(metrics.publish(), 1);
    });
    let c = ["cache=users"];
    assert_eq!(rec.value("ttlkit_cache_hits_total", &c), Some(1.0));
    assert_eq!(rec.value("ttlkit_cache_misses_total", &c), Some(2.0));
    assert_eq!(rec.value("ttlkit_cache_inserts_total", &c), Some(3.0));
    assert_eq!(rec.value("ttlkit_cache_loads_total", &["cache=users", "result=succeeded"]), Some(1.0));
    assert_eq!(rec.value("ttlkit_cache_removals_total", &["cache=users", "cause=capacity"]), Some(1.0));
    assert_eq!(rec.value("ttlkit_cache_removals_total", &["cache=users", "cause=explicit"]), Some(1.0));
    assert_eq!(rec.value("ttlkit_cache_entries", &c), Some(1.0));
    assert_eq!(rec.value("ttlkit_cache_weight", &c), Some(1.0));
    assert_eq!(rec.samples("ttlkit_cache_load_seconds", &c), 1, "one load, one latency sample");
}

#[test]
fn dropped_caches_are_forgotten_and_any_backend_can_be_watched() {
    let metrics = CacheMetrics::new();
    for &kind in BackendKind::ALL {
        let cache = AnyCache::<u8, u8>::new(kind, CacheBuilder::new()).unwrap();
        metrics.watch_any(kind.name(), &cache);
        assert_eq!(metrics.publish(), 1, "{kind}");
    }
    assert_eq!(metrics.publish(), 0);
    assert!(format!("{metrics:?}").contains("watched: 0"));
}

#[test]
fn loads_are_timed_on_the_cache_clock() {
    let rec = Keeping::default();
    let clock = MockClock::new();
    let cache: MutexCache<u32, u32> = CacheBuilder::new().clock(clock.clone()).build().unwrap();
    let metrics = CacheMetrics::new();
    with_local_recorder(&rec, || {
        cache.get_or_insert_with(0, || 0); // before it was watched: not recorded
        metrics.watch("slow", &cache);
        metrics.watch("renamed", &cache);
        cache.get_or_insert_with(1, || {
            clock.advance(Duration::from_millis(250));
            1
        });
    });
    let samples = rec.0.samples.lock().unwrap();
    let slow = ("ttlkit_cache_load_seconds".to_string(), vec!["cache=slow".to_string()]);
    assert_eq!(samples.get(&slow).map(Vec::as_slice), Some(&[0.25][..]), "the first name sticks");
    assert_eq!(samples.len(), 1);
}

#[cfg(feature = "client-store")]
#[test]
fn a_named_store_publishes_its_series_and_no_key() {
    use crate::client_store::{ApiKey, BreakerSettings, ClientStore, Outcome};
    use std::convert::Infallible;

    const SECRET: &str = "sk-METRICS-secret-42";
    let rec = Keeping::default();
    let store = ClientStore::<u8>::builder()
        .no_sweeper()
        .circuit_breaker(BreakerSettings::new().consecutive_failures(1))
        .metrics("gateway")
        .metrics_interval(Duration::from_secs(3600))
        .build_backend(BackendKind::Mutex)
        .unwrap();
    let key = ApiKey::new(SECRET).unwrap();
    let fingerprint = store.fingerprint(&key).to_string();
    with_local_recorder(&rec, || {
        let lease = store.get_or_create(&key, |_| Ok::<_, Infallible>(1)).unwrap();
        lease.record(Outcome::from_http_status(500, None));
        assert!(lease.permit().is_err());
        let _second = store.get_or_create(&key, |_| Ok::<_, Infallible>(2)).unwrap();
        assert!(store.publish_metrics());
    });
    let s = ["store=gateway"];
    assert_eq!(rec.value("ttlkit_store_clients_total", &["event=created", "store=gateway"]), Some(1.0));
    assert_eq!(rec.value("ttlkit_store_clients_total", &["event=reused", "store=gateway"]), Some(1.0));
    assert_eq!(rec.value("ttlkit_store_leases", &s), Some(2.0));
    assert_eq!(rec.value("ttlkit_store_breaker_transitions_total", &["store=gateway", "to=open"]), Some(1.0));
    assert_eq!(rec.value("ttlkit_store_breakers_tripped", &s), Some(1.0));
    assert_eq!(rec.value("ttlkit_store_breaker_rejections_total", &s), Some(1.0));
    assert_eq!(rec.value("ttlkit_cache_entries", &["cache=gateway"]), Some(1.0));
    assert_eq!(rec.samples("ttlkit_cache_load_seconds", &["cache=gateway"]), 1, "the creation was timed");
    let all = rec.all();
    assert!(all.len() >= 20, "{all:?}");
    for series in &all {
        assert!(!series.contains("METRICS") && !series.contains(&fingerprint), "a key in {series}");
    }
    let unnamed = ClientStore::<u8>::with_backend(BackendKind::Mutex).unwrap();
    assert!(!unnamed.publish_metrics());
}
