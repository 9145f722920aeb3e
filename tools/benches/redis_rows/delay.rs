//! The L1 invalidation delay: from a write (by another ttlkit cache, or by a
//! plain `redis-cli` in another process) until the copy is gone from a
//! tiered cache's L1, over many rounds, on one server or a cluster.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ttlkit::{CacheBuilder, InvalidationMode, RedisCache, RedisOptions, SlidingTtlCache, TieredCache};

use super::measure::{prefix, Deployment};

/// Who writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// Another ttlkit cache in this process (connections of its own).
    Ours,
    /// `redis-cli` in another process, fed `SET` lines on its stdin.
    RedisCli,
}

/// The percentiles of one measurement.
pub struct Delays {
    pub label: String,
    pub sorted: Vec<Duration>,
}

impl std::fmt::Display for Delays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |q: f64| self.sorted[((self.sorted.len() - 1) as f64 * q) as usize];
        write!(
            f,
            "invalidation delay, {}: {} rounds, p50 {:?} p90 {:?} p99 {:?} max {:?}",
            self.label,
            self.sorted.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            self.sorted[self.sorted.len() - 1]
        )
    }
}

/// A `redis-cli` child fed commands line by line.
struct Cli {
    child: Child,
    stdin: ChildStdin,
}

impl Cli {
    fn start(url: &str) -> Result<Cli, String> {
        let mut child = Command::new("redis-cli")
            .args(["-u", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-cli: {e}"))?;
        let stdin = child.stdin.take().ok_or("redis-cli: no stdin")?;
        Ok(Cli { child, stdin })
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).map_err(|e| e.to_string())
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` in postcard's encoding of a `u64` (LEB128), as `\xNN` escapes.
fn varint(mut n: u64) -> String {
    let mut out = String::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        let byte = if n == 0 { byte } else { byte | 0x80 };
        out.push_str(&format!("\\x{byte:02x}"));
        if n == 0 {
            return out;
        }
    }
}

/// A `redis-cli` line that stores `value` under `key` as ttlkit would (a
/// record `<created_ms>:<key_len>:<key><value>`).
fn set_line(name: &str, key: u64, value: u64) -> String {
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let k = varint(key);
    format!("SET \"{name}\" \"{created}:{}:{k}{}\"", k.len() / 4, varint(value))
}

fn options(d: &Deployment, p: &str, tracking: bool) -> RedisOptions {
    d.options().prefix(p).client_tracking(tracking)
}

/// Waits until `reader`'s L1 holds `value` for `key` with every
/// invalidation sent before it applied. Without the sync, the invalidation
/// of the write that stored `value` could arrive after the copy was taken,
/// drop it early and pass for the next write's (a delay measured too short).
fn hold_settled(reader: &TieredCache<u64, u64>, key: u64, value: u64) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let held = reader.get(&key) == Some(value)
            && reader.sync_invalidation(Duration::from_secs(1))
            && reader.l1().peek(&key) == Some(value);
        if held {
            return Ok(());
        }
        if Instant::now() > until {
            return Err("the reader never held a settled copy".to_owned());
        }
        thread::yield_now();
    }
}

/// Measures `rounds` invalidations on `d` with `mode`, written by `writer`.
pub fn measure(d: &Deployment, mode: InvalidationMode, writer: Writer, rounds: usize) -> Result<Delays, String> {
    let p = prefix("delay");
    let tracking = mode == InvalidationMode::Tracking;
    let l2 = options(d, &p, tracking).build(CacheBuilder::new().time_to_idle(Duration::from_secs(60)));
    let reader: TieredCache<u64, u64> =
        TieredCache::new(CacheBuilder::new().time_to_idle(Duration::from_secs(30)), l2.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let ours: RedisCache<u64, u64> = options(d, &p, tracking)
        .build(CacheBuilder::new().time_to_idle(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader.invalidation_stats().mode != Some(mode) {
        if Instant::now() > deadline {
            return Err(format!("invalidation never went live as {mode:?}: {:?}", reader.invalidation_stats()));
        }
        thread::sleep(Duration::from_millis(2));
    }
    // redis-cli talks to one node: the keys are some of those it serves.
    let (keys, mut cli) = match writer {
        Writer::Ours => ((0..16).collect(), None),
        Writer::RedisCli => {
            let (url, keys) = d.keys_on_first_node(&reader, 16)?;
            (keys, Some(Cli::start(&url)?))
        }
    };
    let mut sorted = Vec::with_capacity(rounds);
    for i in 0..rounds as u64 {
        let key = keys[i as usize % keys.len()];
        let value = i * 2;
        ours.try_insert(key, value).map_err(|e| e.to_string())?;
        hold_settled(&reader, key, value).map_err(|e| format!("round {i}: {e}"))?;
        let start = Instant::now();
        match &mut cli {
            None => ours.try_insert(key, value + 1).map_err(|e| e.to_string())?,
            Some(cli) => cli.send(&set_line(&reader.l2().redis_key(&key), key, value + 1))?,
        }
        while reader.l1().peek(&key).is_some() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("round {i}: the invalidation never arrived"));
            }
            thread::yield_now();
        }
        sorted.push(start.elapsed());
        if cli.is_some() && i == 0 {
            // The record redis-cli wrote reads back as the value it carries.
            let until = Instant::now() + Duration::from_secs(10);
            while reader.get(&key) != Some(value + 1) {
                if Instant::now() > until {
                    return Err("a record written by redis-cli does not read back".to_owned());
                }
                thread::yield_now();
            }
        }
    }
    ours.clear();
    sorted.sort();
    let who = match writer {
        Writer::Ours => "written by another ttlkit cache",
        Writer::RedisCli => "written by redis-cli (another process)",
    };
    Ok(Delays { label: format!("{}, {mode:?}, {who}", d.name()), sorted })
}

#[cfg(test)]
mod tests {
    #[test]
    fn varints_are_leb128() {
        assert_eq!(super::varint(5), "\\x05");
        assert_eq!(super::varint(300), "\\xac\\x02");
    }
}
