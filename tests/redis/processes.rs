//! Two (and three) processes sharing one Redis: the test binary re-invokes
//! itself with `TTLKIT_REDIS_CHILD` set, running `child_process` only.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{RedisCache, SlidingTtlCache};

use crate::common::{copy_of, options, prefix, wait_for, Raw, Server};
use crate::need_redis;

const ROLE: &str = "TTLKIT_REDIS_CHILD";
const PREFIX: &str = "TTLKIT_REDIS_PREFIX";
/// How many processes race for the same load.
const RACERS: usize = 3;

fn cache(server: &Server, prefix: &str) -> RedisCache<String, String> {
    options(server, prefix)
        .load_lock_timeout(Duration::from_millis(500))
        .build(ttlkit::CacheBuilder::new().time_to_idle(Duration::from_secs(30)))
        .unwrap()
}

fn redis(server: &Server) -> Raw {
    server.raw()
}

/// The racing load every process runs: wait until all have arrived, then
/// ask for the same key; `init` counts its runs in Redis.
fn race(server: &Server, p: &str) -> String {
    let cache = cache(server, p);
    let mut con = redis(server);
    let (arrived, runs) = (format!("{p}:arrived"), format!("{p}:runs"));
    let _: i64 = redis::cmd("INCR").arg(&arrived).query(&mut *con).unwrap();
    let _: i64 = redis::cmd("PEXPIRE").arg(&arrived).arg(60_000).query(&mut *con).unwrap();
    wait_for("every racer", Duration::from_secs(30), || {
        redis::cmd("GET").arg(&arrived).query::<Option<usize>>(&mut *con).unwrap().unwrap_or(0) >= RACERS
    });
    cache.get_or_insert_with("shared".to_string(), || {
        let mut con = redis(server);
        let _: i64 = redis::cmd("INCR").arg(&runs).query(&mut *con).unwrap();
        let _: i64 = redis::cmd("PEXPIRE").arg(&runs).arg(60_000).query(&mut *con).unwrap();
        // Long enough that the others are waiting on the lock.
        thread::sleep(Duration::from_millis(200));
        format!("loaded by pid {}", std::process::id())
    })
}

/// Not a test of its own: the body of the spawned processes (a no-op when
/// run directly).
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else { return };
    if role == "threads" {
        return churn_caches();
    }
    let (Some(server), Ok(p)) = (Server::from_env(), std::env::var(PREFIX)) else { return };
    match role.as_str() {
        "race" => println!("VALUE={}", race(&server, &p)),
        "writer" => write_on_cue(&server, &p),
        "crash" => {
            let cache = cache(&server, &p);
            cache.get_or_insert_with("crash".to_string(), || {
                println!("LOCKED");
                let _ = std::io::stdout().flush();
                // Killed here, holding the load lock.
                thread::sleep(Duration::from_secs(60));
                "never".to_string()
            });
        }
        _ => {}
    }
}

/// Nanoseconds since the Unix epoch (one clock for both processes).
fn wall_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

const WRITES: u64 = 50;

/// The writing process: on each cue from the reader, overwrites key 1 with
/// the wall-clock time just before the write.
fn write_on_cue(server: &Server, p: &str) {
    let writer: RedisCache<u64, u64> =
        options(server, p).build(ttlkit::CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    let mut con = redis(server);
    let cue = format!("{p}:cue");
    for i in 0..WRITES {
        wait_for("the reader's cue", Duration::from_secs(30), || {
            redis::cmd("GET").arg(&cue).query::<Option<u64>>(&mut *con).unwrap() == Some(i)
        });
        writer.insert(1, wall_ns());
    }
}

#[test]
fn l1_invalidation_across_processes() {
    let server = need_redis!("l1_invalidation_across_processes");
    let p = prefix("inv-processes");
    let l2 = options(&server, &p).build(ttlkit::CacheBuilder::new().time_to_idle(Duration::from_secs(30))).unwrap();
    let reader: ttlkit::TieredCache<u64, u64> =
        ttlkit::TieredCache::new(ttlkit::CacheBuilder::new().time_to_idle(Duration::from_secs(10)), l2).unwrap();
    wait_for("the subscription", Duration::from_secs(10), || reader.is_live());
    reader.insert(1, 0);
    // A copy dropped by the echo of the reader's own write would look like
    // the child's write: each copy waited for is settled.
    copy_of(&reader, 1, 0);
    let child = spawn("writer", &p);
    let mut con = redis(&server);
    let cue = format!("{p}:cue");
    let mut delays = Vec::new();
    let mut current = 0;
    for i in 0..WRITES {
        copy_of(&reader, 1, current);
        let _: () = redis::cmd("SET").arg(&cue).arg(i).arg("PX").arg(60_000).query(&mut *con).unwrap();
        let cued = Instant::now();
        while reader.l1().peek(&1).is_some() {
            assert!(cued.elapsed() < Duration::from_secs(10), "write {i} never invalidated the L1 copy");
            thread::yield_now();
        }
        let gone = wall_ns();
        current = reader.get(&1).unwrap();
        delays.push(Duration::from_nanos(gone.saturating_sub(current)));
    }
    assert!(child.wait_with_output().unwrap().status.success());
    delays.sort();
    eprintln!(
        "L1 invalidation across processes ({WRITES} writes; write issued in the child -> copy gone from \
         the parent's L1): p50 {:?} max {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

/// Threads of this process (Linux).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

/// Builds and drops many redis and tiered caches (against a dead Redis: no
/// server needed) and checks that their threads (the pool's, the
/// subscriber) are gone afterwards. Runs alone in a child process so no
/// other test's threads are counted.
fn churn_caches() {
    let before = threads();
    for i in 0..100 {
        let l2: RedisCache<u64, u64> = ttlkit::RedisOptions::new("redis://127.0.0.1:1")
            .connect_timeout(Duration::from_millis(5))
            .build(ttlkit::CacheBuilder::new().time_to_idle(Duration::from_secs(1)))
            .unwrap();
        l2.insert(1, 1);
        if i % 10 == 0 {
            let t: ttlkit::TieredCache<u64, u64> =
                ttlkit::TieredCache::new(ttlkit::CacheBuilder::new().time_to_idle(Duration::from_millis(50)), l2)
                    .unwrap();
            t.insert(1, 1);
        }
    }
    // Pool threads are told to stop when their pool drops; give them a moment.
    let start = Instant::now();
    while threads() > before && start.elapsed() < Duration::from_secs(20) {
        thread::sleep(Duration::from_millis(10));
    }
    println!("THREADS before={before} after={}", threads());
}

#[test]
fn dropped_caches_leave_no_threads() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "processes::child_process", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, "threads")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(child.wait().unwrap().success());
    let line = out.lines().find(|l| l.starts_with("THREADS")).expect("the child reported its threads");
    eprintln!("{line}");
    let n = |key: &str| -> usize {
        line.split_whitespace().find_map(|w| w.strip_prefix(key)).and_then(|v| v.parse().ok()).unwrap()
    };
    assert!(n("after=") <= n("before="), "threads left behind: {line}");
}

fn spawn(role: &str, p: &str) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    Command::new(exe)
        .args(["--exact", "processes::child_process", "--nocapture", "--test-threads=1", "-q"])
        .env(ROLE, role)
        .env(PREFIX, p)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn value_line(out: &[u8]) -> Option<String> {
    String::from_utf8_lossy(out).lines().find_map(|l| l.strip_prefix("VALUE=").map(str::to_owned))
}

#[test]
fn init_runs_once_across_processes() {
    let server = need_redis!("init_runs_once_across_processes");
    let p = prefix("processes");
    let children: Vec<_> = (0..RACERS - 1).map(|_| spawn("race", &p)).collect();
    let mine = race(&server, &p);
    let mut values = vec![mine];
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
        values.push(value_line(&out.stdout).expect("the child printed its value"));
    }
    let runs: usize = redis::cmd("GET").arg(format!("{p}:runs")).query(&mut *redis(&server)).unwrap();
    eprintln!("{RACERS} processes asked at once; init ran {runs} time(s): {values:?}");
    assert_eq!(runs, 1, "init ran once across {RACERS} processes");
    assert!(values.iter().all(|v| v == &values[0]), "every process got the same value: {values:?}");
}

#[test]
fn a_killed_lock_holder_does_not_wedge_other_processes() {
    let server = need_redis!("a_killed_lock_holder_does_not_wedge_other_processes");
    let p = prefix("crash");
    let mut child = spawn("crash", &p);
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let locked = lines.any(|l| l.map(|l| l == "LOCKED").unwrap_or(false));
    assert!(locked, "the child took the lock");
    child.kill().unwrap();
    let _ = child.wait();
    let cache = Arc::new(cache(&server, &p));
    let start = Instant::now();
    let v = cache.get_or_insert_with("crash".to_string(), || "recovered".to_string());
    eprintln!("a load behind a killed holder (lock expiry 500 ms) returned after {:?}", start.elapsed());
    assert_eq!(v, "recovered");
    assert_eq!(cache.get("crash").as_deref(), Some("recovered"));
}
