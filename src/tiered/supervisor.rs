//! The invalidation supervisor: one thread per tiered cache that finds the
//! servers (each master of a cluster), opens a feed per server (tracking)
//! or one feed (pub/sub), runs each on a thread of its own, and starts over
//! when any of them fails or a cluster's masters change.
//!
//! Every start and every end of a session drops every L1 copy: a copy is
//! kept only while each server that could change its key is known to be
//! reporting changes. L1 goes live only after all the feeds are listening,
//! and is marked down before its copies are dropped.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::copies::Sink;
use super::feed::{Dial, Feed, OpenError, Source};
use super::stats::InvalidationMode;
use super::wire::{Addr, Closer};
use crate::backend::redis::cluster::{self, Node};
use crate::backend::redis::conn::Manager;

/// How often a cluster's masters are read again while all is well.
const TOPOLOGY_EVERY: Duration = Duration::from_millis(250);
/// The first and the longest pause between two failed starts.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// `ttlkit-inv:<prefix>`, with what a client name cannot hold (spaces,
/// newlines) replaced, so an operator can find a cache's connections.
fn connection_name(prefix: &str) -> String {
    let shown: String = prefix.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect();
    format!("ttlkit-inv:{shown}")
}

/// What the supervisor needs to know.
pub(crate) struct Plan {
    pub(crate) manager: Manager,
    pub(crate) prefix: String,
    /// The pub/sub channel, if writers publish.
    pub(crate) channel: Option<String>,
    pub(crate) origin: String,
    pub(crate) tracking: bool,
}

enum Event {
    /// A feed ended (its connection failed, or it was closed).
    Lost(String),
    Stop,
}

/// The running supervisor; stopped and joined by [`Supervisor::stop`].
pub(crate) struct Supervisor {
    stop: Arc<AtomicBool>,
    events: Sender<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub(crate) fn start(plan: Plan, sink: Arc<dyn Sink>) -> std::io::Result<Supervisor> {
        let stop = Arc::new(AtomicBool::new(false));
        let (events, inbox) = mpsc::channel();
        let task =
            Task { plan, sink, stop: Arc::clone(&stop), events: events.clone(), inbox, probe: None, known: Vec::new() };
        let thread = thread::Builder::new().name("ttlkit-tiered-inv".to_owned()).spawn(move || task.run())?;
        Ok(Supervisor { stop, events, thread: Some(thread) })
    }

    /// Stops the supervisor and its feeds, and joins them.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, SeqCst);
        let _ = self.events.send(Event::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Task {
    plan: Plan,
    sink: Arc<dyn Sink>,
    stop: Arc<AtomicBool>,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    /// A connection to a cluster node, kept to read the masters.
    probe: Option<(redis::Connection, Node)>,
    /// The masters last read, asked before the seeds.
    known: Vec<Node>,
}

/// The feeds of one session.
struct Session {
    closers: Vec<Closer>,
    readers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Task {
    fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        while !self.stop.load(SeqCst) {
            match self.start_session() {
                Ok((session, servers)) => {
                    backoff = MIN_BACKOFF;
                    let why = self.watch(&servers);
                    self.end_session(session, why);
                }
                Err(why) => {
                    self.sink.state().note(why);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            // Paused here, not in the loop's test: a stop wakes the wait.
            if let Ok(Event::Stop) = self.inbox.recv_timeout(backoff) {
                return;
            }
        }
    }

    fn dial(&self) -> Dial {
        let info = self.plan.manager.infos().first();
        let settings = info.map(|i| i.redis_settings());
        Dial {
            username: settings.and_then(|s| s.username()).map(str::to_owned),
            password: settings.and_then(|s| s.password()).map(str::to_owned),
            name: connection_name(&self.plan.prefix),
            connect_timeout: self.plan.manager.connect_timeout,
            io_timeout: self.plan.manager.io_timeout,
        }
    }

    /// The servers whose changes must be heard: the one server, or every
    /// master of the cluster.
    fn servers(&mut self) -> Result<Vec<Addr>, String> {
        let manager = &self.plan.manager;
        let Some(first) = manager.infos().first().cloned() else { return Err("no server".to_owned()) };
        if !manager.is_cluster() {
            return Addr::of(&first).map(|a| vec![a]).ok_or_else(|| {
                "the server's address cannot carry invalidations (only TCP and Unix sockets)".to_owned()
            });
        }
        if let Some((conn, node)) = &mut self.probe {
            match cluster::masters(conn, &node.host) {
                Ok(nodes) => return Ok(self.remember(nodes)),
                Err(_) => self.probe = None,
            }
        }
        let mut candidates = self.known.clone();
        candidates.extend(manager.infos().iter().filter_map(Node::of));
        let mut last = "no cluster node to ask".to_owned();
        for node in candidates {
            // Every node takes the first seed's credentials, as the cluster client does.
            let info = first.clone().set_addr(redis::ConnectionAddr::Tcp(node.host.clone(), node.port));
            let asked = redis::Client::open(info)
                .and_then(|c| c.get_connection_with_timeout(manager.connect_timeout))
                .and_then(|c| c.set_read_timeout(Some(manager.io_timeout)).map(|()| c));
            let read = asked.map_err(|e| e.to_string()).and_then(|mut conn| {
                let nodes = cluster::masters(&mut conn, &node.host).map_err(|e| e.to_string())?;
                Ok((conn, nodes))
            });
            match read {
                Ok((conn, nodes)) => {
                    self.probe = Some((conn, node));
                    return Ok(self.remember(nodes));
                }
                Err(e) => last = format!("{}:{}: {e}", node.host, node.port),
            }
        }
        Err(format!("no cluster node answered: {last}"))
    }

    fn remember(&mut self, masters: Vec<Node>) -> Vec<Addr> {
        self.known.clone_from(&masters);
        masters.into_iter().map(Addr::Tcp).collect()
    }

    /// Opens the feeds (tracking on every server, or pub/sub on the first
    /// that answers), starts their readers and marks L1 live.
    fn start_session(&mut self) -> Result<(Session, Vec<Addr>), String> {
        let servers = self.servers()?;
        let dial = self.dial();
        let mut refused = None;
        if self.plan.tracking {
            let source = Source::Tracking { prefix: self.plan.prefix.clone() };
            match servers.iter().map(|a| Feed::open(a, source.clone(), &dial)).collect::<Result<Vec<_>, _>>() {
                Ok(feeds) => return self.go_live(feeds, InvalidationMode::Tracking, servers),
                Err(OpenError::Failed(why)) => return Err(why),
                Err(OpenError::Refused(why)) => refused = Some(format!("client tracking refused: {why}")),
            }
        }
        let Some(channel) = &self.plan.channel else {
            return Err(refused.unwrap_or_else(|| "no invalidation source: tracking off and nothing published".into()));
        };
        let source = Source::PubSub { channel: channel.clone(), origin: self.plan.origin.clone() };
        let mut last = String::new();
        for addr in &servers {
            match Feed::open(addr, source.clone(), &dial) {
                Ok(feed) => {
                    if let Some(why) = refused {
                        self.sink.state().note(why);
                    }
                    return self.go_live(vec![feed], InvalidationMode::PubSub, servers);
                }
                Err(OpenError::Failed(why) | OpenError::Refused(why)) => last = why,
            }
        }
        Err(last)
    }

    fn go_live(
        &self,
        feeds: Vec<Feed>,
        mode: InvalidationMode,
        servers: Vec<Addr>,
    ) -> Result<(Session, Vec<Addr>), String> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut session = Session { closers: Vec::new(), readers: Vec::new(), stop: Arc::clone(&stop) };
        let n = feeds.len();
        for (slot, feed) in feeds.into_iter().enumerate() {
            let closer = match feed.closer() {
                Ok(c) => c,
                Err(e) => {
                    self.end_session(session, e.to_string());
                    return Err("could not watch an invalidation connection".to_owned());
                }
            };
            let (sink, stop, events) = (Arc::clone(&self.sink), Arc::clone(&stop), self.events.clone());
            let reader = thread::Builder::new().name("ttlkit-tiered-feed".to_owned()).spawn(move || {
                let why = feed.run(sink.as_ref(), &stop, slot);
                if !stop.load(SeqCst) {
                    let _ = events.send(Event::Lost(why));
                }
            });
            match reader {
                Ok(r) => {
                    session.closers.push(closer);
                    session.readers.push(r);
                }
                Err(e) => {
                    closer.close();
                    self.end_session(session, e.to_string());
                    return Err("could not start a feed thread".to_owned());
                }
            }
        }
        // Anything changed before the feeds listened may have been missed.
        self.sink.flush();
        self.sink.state().barrier.start_session(n);
        self.sink.state().go_live(mode, n);
        Ok((session, servers))
    }

    /// Waits for a feed to fail, a stop, or a change of the cluster's
    /// masters; returns why the session ends.
    fn watch(&mut self, servers: &[Addr]) -> String {
        loop {
            match self.inbox.recv_timeout(TOPOLOGY_EVERY) {
                Ok(Event::Lost(why)) => return format!("invalidation connection lost: {why}"),
                Ok(Event::Stop) | Err(RecvTimeoutError::Disconnected) => return "stopped".to_owned(),
                Err(RecvTimeoutError::Timeout) => {
                    if self.stop.load(SeqCst) {
                        return "stopped".to_owned();
                    }
                    if self.plan.manager.is_cluster() {
                        // A failed read is no news: the feeds report their own servers.
                        if let Ok(now) = self.servers() {
                            if now != servers {
                                return "the cluster's masters changed".to_owned();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Marks L1 down, drops its copies, closes the feeds and joins them.
    fn end_session(&self, session: Session, why: String) {
        self.sink.state().go_down(why);
        self.sink.flush();
        self.sink.state().barrier.end_session();
        session.stop.store(true, SeqCst);
        for closer in &session.closers {
            closer.close();
        }
        for reader in session.readers {
            let _ = reader.join();
        }
        // A feed that failed meanwhile reported it; that session is over.
        while let Ok(event) = self.inbox.try_recv() {
            if let Event::Stop = event {
                self.stop.store(true, SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn connection_names_hold_no_spaces() {
        assert_eq!(super::connection_name("app"), "ttlkit-inv:app");
        assert_eq!(super::connection_name("my app\n{x}"), "ttlkit-inv:my_app_{x}");
    }
}
