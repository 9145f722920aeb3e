//! A Redis restart mid-test: errors while it is down, then recovery, never
//! a panic. Runs a `redis-server` of its own on a free loopback port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

use crate::common::{prefix, wait_for};
use crate::need_redis;

/// A `redis-server` child on `port`, killed on drop.
struct Server(Child);

impl Server {
    fn start(port: u16) -> Option<Server> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = Server(child);
        let url = format!("redis://127.0.0.1:{port}");
        wait_for("redis-server to accept connections", Duration::from_secs(20), || {
            redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
        Some(server)
    }

    fn stop(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn redis_restart_errors_then_recovers() {
    // Gated on REDIS_URL like the rest, but uses a server of its own.
    let _ = need_redis!("redis_restart_errors_then_recovers");
    let port = free_port();
    let Some(server) = Server::start(port) else {
        eprintln!("note: redis-server is not on PATH; skipping redis_restart_errors_then_recovers");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let p = prefix("restart");
    let opts = RedisOptions::new(&url).prefix(&p).connect_timeout(Duration::from_millis(50));
    let cache: RedisCache<u64, u64> =
        opts.clone().build(CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    let tiered: TieredCache<u64, u64> = TieredCache::new(
        CacheBuilder::new().time_to_idle(Duration::from_millis(200)),
        opts.build(CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap(),
    )
    .unwrap();
    wait_for("the subscription", Duration::from_secs(10), || tiered.is_subscribed());
    cache.insert(1, 10);
    assert_eq!(cache.get(&1), Some(10));
    assert_eq!(tiered.get(&1), Some(10));
    assert_eq!(cache.errors(), 0);

    server.stop();
    // Down: misses, no-ops and typed errors; nothing panics.
    assert_eq!(cache.get(&1), None);
    cache.insert(2, 20);
    assert_eq!(cache.remove(&1), None);
    assert_eq!(cache.get_or_insert_with(3, || 30), 30, "loads run locally");
    let err = cache.try_get(&1).unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(cache.errors() >= 4, "errors counted: {}", cache.errors());
    wait_for("the subscriber to notice", Duration::from_secs(10), || !tiered.is_subscribed());
    assert_eq!(tiered.get(&1), None, "L1 was dropped with the subscription");
    eprintln!("while down: {} errors, last: {:?}", cache.errors(), cache.last_error());

    let _server = Server::start(port).expect("redis-server restarts");
    let down_at = Instant::now();
    // The pool drops broken connections: operations recover on their own.
    wait_for("operations to recover", Duration::from_secs(20), || cache.try_insert(4, 40).is_ok());
    eprintln!("recovered {:?} after the restart", down_at.elapsed());
    assert_eq!(cache.get(&4), Some(40));
    assert_eq!(cache.get(&1), None, "the restarted server kept nothing (no persistence)");
    wait_for("the subscriber to resubscribe", Duration::from_secs(20), || tiered.is_subscribed());
    assert!(tiered.subscriptions() >= 2);
    assert_eq!(tiered.get(&4), Some(40));
    // Invalidation works again after the resubscription.
    cache.insert(4, 41);
    wait_for("the invalidation", Duration::from_secs(10), || tiered.get(&4) == Some(41));
}
