//! One invalidation connection and the loop that reads it: client tracking
//! on one server (RESP3 pushes naming changed keys), or the pub/sub channel
//! ttlkit writers publish on (RESP2 messages carrying encoded keys).
//!
//! A quiet connection is `PING`ed; one that does not answer within the I/O
//! timeout, or that closes, ends the loop, and the supervisor drops every
//! L1 copy: missed invalidations cannot leave a stale one behind.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use redis::{PushKind, Value};

use super::copies::Sink;
use super::wire::{Addr, Closer, Wire};
use crate::backend::redis::record::Digest;

/// How long one read waits before the loop looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);
/// How long a connection may stay quiet before it is `PING`ed.
const PING_AFTER: Duration = Duration::from_millis(500);

/// What a feed listens to.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// `CLIENT TRACKING on BCAST PREFIX <prefix>:{` (the data and lock keys).
    Tracking { prefix: String },
    /// `SUBSCRIBE <channel>`, skipping the messages of `origin`.
    PubSub { channel: String, origin: String },
}

/// Credentials and timeouts for the feeds' connections.
#[derive(Debug, Clone)]
pub(crate) struct Dial {
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// `CLIENT SETNAME`: `ttlkit-inv:<prefix>`.
    pub(crate) name: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
}

/// Why a feed could not start.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The server refused what the source needs (no RESP3, no tracking,
    /// `CLIENT` not allowed): try another source.
    Refused(String),
    /// Unreachable, or failed otherwise: try again later.
    Failed(String),
}

/// A connected, listening feed.
pub(crate) struct Feed {
    wire: Wire,
    source: Source,
    io_timeout: Duration,
}

/// Whether a server's error means "this source is not offered here".
fn refusal(e: &redis::RedisError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["unknown command", "unknown subcommand", "noproto", "noperm", "no permissions", "unsupported"]
        .iter()
        .any(|what| text.contains(what))
}

impl Feed {
    pub(crate) fn open(addr: &Addr, source: Source, dial: &Dial) -> Result<Feed, OpenError> {
        let failed = |e: &dyn std::fmt::Display| OpenError::Failed(format!("{addr:?}: {e}"));
        let mut wire = Wire::connect(addr, dial.connect_timeout, dial.io_timeout).map_err(|e| failed(&e))?;
        let checked = |r: redis::RedisResult<Value>| -> Result<Value, OpenError> {
            r.map_err(|e| if refusal(&e) { OpenError::Refused(format!("{addr:?}: {e}")) } else { failed(&e) })
        };
        match &source {
            Source::Tracking { prefix } => {
                let mut hello = redis::cmd("HELLO");
                hello.arg(3);
                if let Some(password) = &dial.password {
                    hello.arg("AUTH").arg(dial.username.as_deref().unwrap_or("default")).arg(password);
                }
                hello.arg("SETNAME").arg(&dial.name);
                checked(wire.call(&hello))?;
                let mut track = redis::cmd("CLIENT");
                track.arg("TRACKING").arg("on").arg("BCAST").arg("PREFIX").arg(format!("{prefix}:{{"));
                checked(wire.call(&track))?;
            }
            Source::PubSub { channel, .. } => {
                if let Some(password) = &dial.password {
                    let mut auth = redis::cmd("AUTH");
                    if let Some(user) = &dial.username {
                        auth.arg(user);
                    }
                    checked(wire.call(auth.arg(password)))?;
                }
                // A name is a courtesy: a server that refuses it still serves pub/sub.
                let _ = wire.call(redis::cmd("CLIENT").arg("SETNAME").arg(&dial.name));
                checked(wire.call(redis::cmd("SUBSCRIBE").arg(channel)))?;
            }
        }
        Ok(Feed { wire, source, io_timeout: dial.io_timeout })
    }

    /// A handle that closes this feed's connection from another thread.
    pub(crate) fn closer(&self) -> std::io::Result<Closer> {
        self.wire.closer()
    }

    /// Applies what arrives to `sink` until the connection fails or `stop`
    /// is set; returns why it ended. `slot` is this feed's in the
    /// session's [barrier](super::barrier::Barrier): a round asked there is
    /// answered by a `PING`'s reply.
    pub(crate) fn run(mut self, sink: &dyn Sink, stop: &AtomicBool, slot: usize) -> String {
        super::barrier::mark_feed_thread();
        let barrier = &sink.state().barrier;
        let mut heard = Instant::now();
        // The `PING` awaiting its reply: when it went, and the barrier
        // round its reply answers.
        let mut ping: Option<(Instant, u64)> = None;
        let mut round = barrier.asked();
        loop {
            if stop.load(SeqCst) {
                return "stopped".to_owned();
            }
            if ping.is_none() && barrier.asked() > round {
                round = barrier.asked();
                match self.ping(round) {
                    Ok(sent) => ping = Some(sent),
                    Err(e) => return e,
                }
            }
            match self.wire.next(POLL) {
                Ok(Some(value)) => {
                    heard = Instant::now();
                    if self.apply(value, sink) {
                        if let Some((_, answered)) = ping.take() {
                            barrier.answered(slot, answered);
                        }
                    }
                }
                Ok(None) => match ping {
                    Some((at, _)) if at.elapsed() > self.io_timeout => return "no reply to PING".to_owned(),
                    Some(_) => {}
                    None if heard.elapsed() >= PING_AFTER => match self.ping(round) {
                        Ok(sent) => ping = Some(sent),
                        Err(e) => return e,
                    },
                    None => {}
                },
                Err(e) => return e.to_string(),
            }
        }
    }

    /// Sends a `PING` whose reply answers barrier round `round` (a quiet
    /// connection's check answers the round already answered).
    fn ping(&mut self, round: u64) -> Result<(Instant, u64), String> {
        self.wire.send(&redis::cmd("PING")).map_err(|e| e.to_string())?;
        Ok((Instant::now(), round))
    }

    /// Applies one value; returns whether it answered a `PING`.
    fn apply(&self, value: Value, sink: &dyn Sink) -> bool {
        match (&self.source, value) {
            (Source::Tracking { prefix }, Value::Push { kind: PushKind::Invalidate, data }) => {
                match data.into_iter().next() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            if let Value::BulkString(name) = key {
                                if let Some(d) = data_digest(&name, prefix) {
                                    sink.digest(d);
                                }
                            }
                        }
                    }
                    // FLUSHALL, FLUSHDB: no keys, everything.
                    _ => sink.flush(),
                }
                false
            }
            (Source::Tracking { .. }, Value::Push { .. }) => false,
            (Source::Tracking { .. }, _) => true,
            (Source::PubSub { origin, .. }, Value::Array(parts)) => {
                let mut parts = parts.into_iter();
                let kind = match parts.next() {
                    Some(Value::BulkString(kind)) => kind,
                    _ => return false,
                };
                match (kind.as_slice(), parts.nth(1)) {
                    (b"message", Some(Value::BulkString(payload))) => {
                        apply_published(&payload, origin, sink);
                        false
                    }
                    (b"pong", _) => true,
                    _ => false,
                }
            }
            (Source::PubSub { .. }, _) => true,
        }
    }
}

/// The digest in a data key's name, `<prefix>:{<digest>}:d`; `None` for
/// the prefix's other keys (load locks) and names of another shape.
pub(crate) fn data_digest(name: &[u8], prefix: &str) -> Option<Digest> {
    let rest = name.strip_prefix(prefix.as_bytes())?.strip_prefix(b":{")?;
    let hex = rest.strip_suffix(b"}:d")?;
    Digest::parse(hex)
}

/// Applies a published `<origin>k<key>` (one key) or `<origin>*` (all);
/// skips this cache's own messages (it updated its L1 itself) and wake-ups.
fn apply_published(payload: &[u8], origin: &str, sink: &dyn Sink) {
    let n = origin.len();
    if payload.len() <= n || &payload[..n] == origin.as_bytes() {
        return;
    }
    match (payload[n], &payload[n + 1..]) {
        (b'k', key) => sink.encoded_key(key),
        (b'*', _) => {
            sink.flush();
            sink.state().applied();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::redis::record::key_digest;

    #[test]
    fn only_data_keys_of_the_prefix_name_a_digest() {
        let d = key_digest("k");
        let name = |s: String| s.into_bytes();
        assert_eq!(data_digest(&name(format!("app:{{{d}}}:d")), "app"), Some(d));
        assert_eq!(data_digest(&name(format!("app:{{{d}}}:l")), "app"), None, "a load lock");
        assert_eq!(data_digest(&name(format!("apps:{{{d}}}:d")), "app"), None, "another prefix");
        assert_eq!(data_digest(&name(format!("app:{{x}}:{{{d}}}:d")), "app"), None);
        assert_eq!(data_digest(&name(format!("app:{{x}}:{{{d}}}:d")), "app:{x}"), Some(d));
        assert_eq!(data_digest(b"app:{short}:d", "app"), None);
    }

    #[test]
    fn refusals_are_told_from_failures() {
        let err =
            |code: &str, text: &str| redis::RedisError::from((redis::ErrorKind::Client, "x", format!("{code} {text}")));
        assert!(refusal(&err("ERR", "unknown command 'HELLO'")));
        assert!(refusal(&err("NOPERM", "this user has no permissions to run the 'client' command")));
        assert!(!refusal(&err("WRONGPASS", "invalid username-password pair")));
    }
}
