//! The cases of the client store's HTTP suite, each run per backend.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use tokio::sync::oneshot;
use ttlkit::client_store::{ApiKey, ClientStore, Lease, StoreBuildError};
use ttlkit::clock::MockClock;
use ttlkit::{BackendKind, BuildError, RemovalCause};

use crate::server::Upstream;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client the store holds: a reqwest client (its own connection pool)
/// that sends its key on every request, and a serial number.
pub struct TestClient {
    pub id: usize,
    http: reqwest::Client,
}

impl TestClient {
    /// What a factory does: build an HTTP client for `key`.
    pub fn new(id: usize, key: &ApiKey) -> Result<TestClient, BoxError> {
        let mut auth = HeaderValue::from_str(&key.bearer())?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        Ok(TestClient { id, http: reqwest::Client::builder().default_headers(headers).build()? })
    }

    /// One chat completion; returns the `Authorization` the server saw.
    pub async fn ask(&self, url: &str) -> String {
        let body = serde_json::json!({"model": "test", "messages": [{"role": "user", "content": "hi"}]});
        let response = self.http.post(url).json(&body).send().await.expect("request");
        assert!(response.status().is_success());
        let seen = response.text().await.expect("body");
        settle().await;
        seen
    }
}

/// Lets the client's connection go back to its pool before the next
/// request. hyper returns an HTTP/1.1 connection to the pool from a task it
/// spawns once the response is read; a request sent back to back can race
/// that task and open a second connection. On a current-thread runtime a few
/// yields run that task (no I/O is involved), so the counts are exact.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

type Departures = Arc<Mutex<Vec<(usize, RemovalCause)>>>;

/// A store on one backend with a mock clock, a recording hook, a client
/// factory that numbers its clients, and an upstream server.
pub struct Fixture {
    pub upstream: Upstream,
    pub store: ClientStore<TestClient>,
    pub clock: MockClock,
    made: Arc<AtomicUsize>,
    left: Departures,
}

impl Fixture {
    pub async fn new(backend: BackendKind) -> Fixture {
        Fixture::with(backend, |b| b).await
    }

    pub async fn with(
        backend: BackendKind,
        configure: impl FnOnce(
            ttlkit::client_store::ClientStoreBuilder<TestClient>,
        ) -> ttlkit::client_store::ClientStoreBuilder<TestClient>,
    ) -> Fixture {
        let clock = MockClock::new();
        let left: Departures = Arc::default();
        let log = Arc::clone(&left);
        let builder = ClientStore::builder()
            .clock(clock.clone())
            .no_sweeper()
            .on_leave(move |_fingerprint, client: Arc<TestClient>, cause| log.lock().unwrap().push((client.id, cause)));
        let store = configure(builder).build_backend(backend).expect("store");
        Fixture { upstream: Upstream::start().await, store, clock, made: Arc::default(), left }
    }

    /// The factory: a new client with the next serial number.
    pub fn factory(&self) -> impl Fn(&ApiKey) -> Result<TestClient, BoxError> + Clone + Send + Sync + 'static {
        let made = Arc::clone(&self.made);
        move |key: &ApiKey| TestClient::new(made.fetch_add(1, Ordering::SeqCst), key)
    }

    /// A request as an app makes it: the client from the store, then HTTP.
    /// Returns the client's serial number.
    pub async fn request(&self, key: &ApiKey) -> usize {
        let client = self.store.get_or_create(key, self.factory()).expect("client");
        assert_eq!(client.ask(&self.upstream.url).await, key.bearer().as_str(), "the request carries its own key");
        client.id
    }

    pub fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    pub fn departures(&self) -> Vec<(usize, RemovalCause)> {
        self.left.lock().unwrap().clone()
    }
}

fn key(s: &str) -> ApiKey {
    ApiKey::new(s).expect("valid key")
}

const HOUR: Duration = Duration::from_secs(3600);

pub async fn hundred_sequential_requests_one_connection(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let k = key("sk-test-alpha");
    for _ in 0..100 {
        assert_eq!(f.request(&k).await, 0);
    }
    let stats = f.store.stats();
    println!(
        "{backend}: 100 sequential requests through the store: {} connection(s); {stats}",
        f.upstream.connections()
    );
    assert_eq!(f.upstream.connections(), 1, "one client, one pooled connection");
    assert_eq!((f.made(), stats.created, stats.reused, stats.held), (1, 1, 99, 1));
    assert_eq!(f.upstream.authorizations(), vec!["Bearer sk-test-alpha".to_string(); 100]);
}

pub async fn two_keys_two_clients_each_with_its_own_key(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let (a, b) = (key("sk-test-alpha"), key("sk-test-bravo"));
    let mut expected = Vec::new();
    for i in 0..50 {
        let (k, id) = if i % 2 == 0 { (&a, 0) } else { (&b, 1) };
        assert_eq!(f.request(k).await, id);
        expected.push(k.bearer().to_string());
    }
    println!("{backend}: 2 keys, 50 requests: {} clients, {} connections", f.made(), f.upstream.connections());
    assert_eq!(f.made(), 2);
    assert_eq!(f.upstream.connections(), 2, "one connection per client");
    assert_eq!(f.upstream.authorizations(), expected, "every request carried its own key, in order");
    assert_ne!(f.store.fingerprint(&a), f.store.fingerprint(&b));
}

pub async fn idle_timeout_replaces_the_client(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let k = key("sk-test-idle");
    assert_eq!(f.request(&k).await, 0);
    f.clock.advance(HOUR - Duration::from_secs(2));
    assert_eq!(f.request(&k).await, 0, "used within the hour: reused, and its idle window slides");
    f.clock.advance(HOUR - Duration::from_secs(2));
    assert_eq!(f.request(&k).await, 0, "still within an hour of the last use");
    f.clock.advance(HOUR);
    // No purge yet: an expired client is never handed out.
    assert_eq!(f.request(&k).await, 1, "idle for an hour: a new client");
    f.store.purge_expired();
    assert_eq!(f.departures(), vec![(0, RemovalCause::Expired)], "the hook saw the old client leave");
    let stats = f.store.stats();
    println!("{backend}: idle timeout: {} connections; {stats}", f.upstream.connections());
    assert_eq!((stats.created, stats.expired, stats.held), (2, 1, 1));
    assert_eq!(f.upstream.connections(), 2, "the new client opened its own connection");
}

pub async fn max_lifetime_replaces_a_busy_client(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let k = key("sk-test-rotated");
    assert_eq!(f.request(&k).await, 0);
    for _ in 0..47 {
        f.clock.advance(HOUR / 2);
        assert_eq!(f.request(&k).await, 0, "used every 30 min: never idle");
    }
    // t = 23 h 30 min. Thirty more minutes reach the 24 h lifetime.
    f.clock.advance(HOUR / 2);
    assert_eq!(f.request(&k).await, 1, "24 h old: replaced however busy");
    f.store.purge_expired();
    assert_eq!(f.departures(), vec![(0, RemovalCause::Expired)]);
    let stats = f.store.stats();
    println!("{backend}: max lifetime under constant use: {} connections; {stats}", f.upstream.connections());
    assert_eq!((stats.created, stats.reused, stats.expired), (2, 47, 1));
    assert_eq!(f.upstream.connections(), 2);
}

pub async fn fifty_concurrent_first_requests_one_client_async(backend: BackendKind) {
    let f = Arc::new(Fixture::new(backend).await);
    let entered = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (f, entered) = (Arc::clone(&f), Arc::clone(&entered));
        tasks.push(tokio::spawn(async move {
            let k = key("sk-test-burst");
            let factory = f.factory();
            entered.fetch_add(1, Ordering::SeqCst);
            let create = |key: ApiKey| {
                let entered = Arc::clone(&entered);
                async move {
                    // Hold the creation open until every task has asked,
                    // so they all meet the one flight.
                    let start = Instant::now();
                    while entered.load(Ordering::SeqCst) < 50 && start.elapsed() < Duration::from_secs(10) {
                        tokio::task::yield_now().await;
                    }
                    factory(&key)
                }
            };
            let client = f.store.get_or_create_async(&k, create).await.expect("client");
            assert_eq!(client.ask(&f.upstream.url).await, "Bearer sk-test-burst");
            client.id
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 0, "every task got client 0");
    }
    let stats = f.store.stats();
    println!("{backend}: 50 concurrent first requests (async): {} client(s); {stats}", f.made());
    assert_eq!(f.made(), 1, "exactly one client created");
    assert_eq!((stats.created, stats.reused), (1, 49));
    assert_eq!(f.upstream.authorizations().len(), 50);
}

pub async fn fifty_concurrent_first_requests_one_client_threads(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let barrier = Arc::new(Barrier::new(50));
    let entered = AtomicUsize::new(0);
    let clients: Vec<Lease<TestClient>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let (barrier, factory, store, entered) = (Arc::clone(&barrier), f.factory(), f.store.clone(), &entered);
                s.spawn(move || {
                    barrier.wait();
                    entered.fetch_add(1, Ordering::SeqCst);
                    let create = |k: &ApiKey| {
                        // Hold the creation open until every thread has asked.
                        let start = Instant::now();
                        while entered.load(Ordering::SeqCst) < 50 && start.elapsed() < Duration::from_secs(10) {
                            std::thread::yield_now();
                        }
                        factory(k)
                    };
                    store.get_or_create(&key("sk-test-burst"), create).expect("client")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for client in &clients {
        assert_eq!(client.ask(&f.upstream.url).await, "Bearer sk-test-burst");
    }
    println!("{backend}: 50 concurrent first requests (threads): {} client(s)", f.made());
    assert_eq!(f.made(), 1, "exactly one client created");
    assert!(clients.iter().all(|c| c.id == 0));
    assert_eq!(f.upstream.connections(), 1, "then used one after another: one connection");
}

pub async fn failed_creation_is_not_cached(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let k = key("sk-test-flaky");
    let failed = f.store.get_or_create(&k, |_: &ApiKey| Err::<TestClient, BoxError>("proxy misconfigured".into()));
    assert_eq!(failed.err().map(|e| e.to_string()).as_deref(), Some("proxy misconfigured"));
    let failed = f.store.get_or_create_async(&k, |_| async { Err::<TestClient, BoxError>("dns down".into()) }).await;
    assert!(failed.is_err());
    assert!(!f.store.contains(&k), "no error cached");
    assert_eq!(f.request(&k).await, 0, "the next call creates the client");
    let stats = f.store.stats();
    assert_eq!((stats.creation_failures, stats.created), (2, 1));
    assert_eq!(f.upstream.connections(), 1);
}

pub async fn cancelled_creation_wedges_no_one(backend: BackendKind) {
    let f = Arc::new(Fixture::new(backend).await);
    let (started_tx, started) = oneshot::channel();
    let (release_tx, release) = oneshot::channel::<()>();
    let stuck = {
        let f = Arc::clone(&f);
        tokio::spawn(async move {
            let factory = f.factory();
            // Cancelled mid-creation: the creation itself carries on.
            let create = |k: ApiKey| async move {
                let _ = started_tx.send(());
                let _ = release.await;
                factory(&k)
            };
            f.store.get_or_create_async(&key("sk-test-cancel"), create).await.map(|c| c.id)
        })
    };
    started.await.unwrap();
    let waiter = {
        let f = Arc::clone(&f);
        tokio::spawn(async move {
            let factory = f.factory();
            let client = f.store.get_or_create_async(&key("sk-test-cancel"), |k| async move { factory(&k) }).await;
            let client = client.expect("client");
            client.ask(&f.upstream.url).await;
            client.id
        })
    };
    tokio::task::yield_now().await;
    stuck.abort();
    assert!(stuck.await.unwrap_err().is_cancelled());
    let _ = release_tx.send(());
    assert_eq!(waiter.await.unwrap(), 0, "the waiter got the cancelled caller's client, made once");
    assert_eq!(f.request(&key("sk-test-cancel")).await, 0, "and the next caller reuses it");
    assert_eq!(f.made(), 1);
    assert_eq!(f.upstream.connections(), 1);
}

pub async fn evicted_client_reaches_the_hook(backend: BackendKind) {
    let f = Fixture::with(backend, |b| b.max_clients(2)).await;
    let keys = ["sk-test-one", "sk-test-two", "sk-test-three"].map(key);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(f.request(k).await, i);
        f.clock.advance(Duration::from_secs(60));
    }
    f.store.purge_expired(); // runs pending maintenance: back within bound
    let left = f.departures();
    let stats = f.store.stats();
    println!("{backend}: max_clients 2, 3 keys: left {left:?}; {stats}");
    assert!(f.store.len() <= 2, "within max_clients after maintenance");
    assert!(!left.is_empty(), "a client was crowded out and handed to the hook");
    assert!(left.iter().all(|&(_, cause)| cause == RemovalCause::Capacity), "{left:?}");
    assert_eq!(stats.evicted as usize, left.len());
    // An evicted key simply gets a new client on its next request.
    let (gone, _) = left[0];
    assert_eq!(f.request(&keys[gone]).await, 3);
}

pub async fn removed_client_reaches_the_hook(backend: BackendKind) {
    let f = Fixture::new(backend).await;
    let k = key("sk-test-revoked");
    assert_eq!(f.request(&k).await, 0);
    assert_eq!(f.store.remove(&k).map(|c| c.id), Some(0), "key revoked");
    assert_eq!(f.departures(), vec![(0, RemovalCause::Explicit)]);
    assert_eq!(f.request(&k).await, 1);
    assert_eq!(f.store.stats().removed, 1);
}

/// Every `Debug`, `Display` and error output of the store and the key,
/// formatted with a known key: the key text appears in none of them.
pub async fn no_output_contains_the_key(backend: BackendKind) {
    const SECRET: &str = "sk-KNOWN-secret-0123456789";
    let printed: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&printed);
    let f = Fixture::with(backend, move |b| {
        b.on_leave(move |fp, client: Arc<TestClient>, cause| {
            sink.lock().unwrap().push(format!("{fp} {fp:?} {cause} {cause:?} {}", client.id))
        })
    })
    .await;
    let k = key(SECRET);
    assert_eq!(f.request(&k).await, 0);
    let mut out = printed.lock().unwrap().clone();
    let clone = k.clone();
    let fp = f.store.fingerprint(&k);
    let stats = f.store.stats();
    out.push(format!("{k} {k:?} {k:#?} {clone} {clone:?}"));
    out.push(format!("{:?} {:#?}", f.store, f.store));
    out.push(format!("{stats} {stats:?} {:?}", f.store.settings()));
    out.push(format!("{fp} {fp:?} {:?} {:x?}", fp.as_bytes(), fp.as_bytes()));
    out.push(format!("{:?}", ClientStore::<TestClient>::builder()));
    out.push(format!("{:?}", ttlkit::client_store::Fingerprinter::random().unwrap()));
    let bad_keys = [
        ApiKey::new(format!("{SECRET} trailing words")).err(),
        ApiKey::new(format!("{SECRET}\n")).err(),
        ApiKey::new(format!("{SECRET}\u{e9}")).err(),
        ApiKey::new(SECRET.repeat(200)).err(),
        ApiKey::from_bearer(&format!("Token {SECRET}")).err(),
        ApiKey::from_bearer(SECRET).err(),
        ApiKey::from_bearer(&format!("Bearer {SECRET} {SECRET}")).err(),
        SECRET.replace('-', " ").parse::<ApiKey>().err(),
    ];
    for e in bad_keys {
        let e = e.expect("rejected");
        out.push(format!("{e} {e:?}"));
    }
    let build_errors = [
        ClientStore::<TestClient>::builder().idle_timeout(Duration::ZERO).build_backend(backend).err(),
        ClientStore::<TestClient>::builder().max_lifetime(Duration::MAX).build_backend(backend).err(),
        ClientStore::<TestClient>::builder().max_clients(0).build_backend(backend).err(),
        "no-such-backend".parse::<BackendKind>().map_err(|e| StoreBuildError::from(BuildError::from(e))).err(),
    ];
    for e in build_errors {
        let e = e.expect("rejected");
        out.push(format!("{e} {e:?}"));
    }
    assert_eq!(f.store.remove(&k).map(|c| c.id), Some(0));
    out.extend(printed.lock().unwrap().iter().cloned());
    out.push(format!("{:?} {}", f.store, f.store.stats()));
    assert!(out.len() >= 20);
    for line in &out {
        assert!(!line.contains(SECRET), "key material in output: {line}");
        assert!(!line.contains("KNOWN"), "part of the key in output: {line}");
    }
}
