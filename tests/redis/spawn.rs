//! Redis servers of a test's own, on free loopback ports, killed on drop:
//! one server, or a small cluster (`redis-server` and `redis-cli` on `PATH`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::common::wait_for;

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether `program` runs (`--version`).
fn runs(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// A directory of its own, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ttlkit-{tag}-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` child, killed on drop.
pub struct Proc {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
}

impl Proc {
    /// Starts `redis-server` on `port` with `extra` arguments, in `dir`;
    /// `None` (after a note) when it is not on `PATH`.
    pub fn start(port: u16, dir: PathBuf, extra: &[&str]) -> Option<Proc> {
        if !runs("redis-server") {
            eprintln!("note: redis-server is not on PATH: skipping a test that runs servers of its own");
            return None;
        }
        let mut args: Vec<String> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut p = Proc { child: None, port, args, dir };
        p.restart();
        Some(p)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection to this server alone.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    /// (Re)starts it with the same arguments and waits for a `PING`.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let url = self.url();
        wait_for("redis-server to accept connections", Duration::from_secs(20), || {
            redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
    }

    /// Kills it (SIGKILL: no goodbye to its clients or its cluster).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster of `masters` masters and one replica of the first master,
/// each node in a directory of its own.
pub struct Cluster {
    pub nodes: Vec<Proc>,
    _dir: TempDir,
}

fn cli(args: &[String]) -> String {
    let out = Command::new("redis-cli").args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Cluster {
    /// `None` (after a note) without `redis-server` and `redis-cli`.
    pub fn start(masters: usize) -> Option<Cluster> {
        if !runs("redis-cli") {
            eprintln!("note: redis-cli is not on PATH: skipping a test that runs a cluster of its own");
            return None;
        }
        let dir = TempDir::new("cluster");
        let mut nodes = Vec::new();
        for i in 0..=masters {
            let node_dir = dir.0.join(i.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let extra =
                ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "500"];
            nodes.push(Proc::start(free_port(), node_dir, &extra)?);
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes[..masters].iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.push("--cluster-yes".into());
        cli(&args);
        let master_id = cli(&["-p".into(), nodes[0].port.to_string(), "cluster".into(), "myid".into()]);
        let replica = &nodes[masters];
        let mut con = replica.connection();
        let _: () = redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(nodes[0].port).query(&mut con).unwrap();
        wait_for("the replica to learn the master", Duration::from_secs(20), || {
            redis::cmd("CLUSTER").arg("REPLICATE").arg(master_id.trim()).query::<()>(&mut con).is_ok()
        });
        let cluster = Cluster { nodes, _dir: dir };
        wait_for("the cluster to settle", Duration::from_secs(30), || cluster.settled());
        Some(cluster)
    }

    /// Every live node says the cluster is ok, and the replica is in sync.
    pub fn settled(&self) -> bool {
        let replica = self.nodes.len() - 1;
        self.nodes.iter().enumerate().filter(|(_, n)| n.child.is_some()).all(|(i, n)| {
            let Ok(mut con) = redis::Client::open(n.url()).and_then(|c| c.get_connection()) else { return false };
            let ok = redis::cmd("CLUSTER")
                .arg("INFO")
                .query::<String>(&mut con)
                .is_ok_and(|info| info.contains("cluster_state:ok"));
            let synced = i != replica
                || redis::cmd("INFO")
                    .arg("replication")
                    .query::<String>(&mut con)
                    .is_ok_and(|info| info.contains("master_link_status:up") || info.contains("role:master"));
            ok && synced
        })
    }

    /// The seed URLs of the masters it was created with.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes[..self.nodes.len() - 1].iter().map(Proc::url).collect()
    }

    /// Waits until the replica has every write its master acknowledged.
    pub fn replica_caught_up(&self) {
        let offset = |p: &Proc, field: &str| -> Option<u64> {
            let info: String = redis::cmd("INFO").arg("replication").query(&mut p.connection()).ok()?;
            info.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.trim().parse().ok())
        };
        let (master, replica) = (&self.nodes[0], &self.nodes[self.nodes.len() - 1]);
        wait_for("the replica to catch up", Duration::from_secs(20), || {
            let (m, r) = (offset(master, "master_repl_offset:"), offset(replica, "slave_repl_offset:"));
            m.is_some() && m == r
        });
        thread::sleep(Duration::from_millis(10));
    }
}
