//! The invalidation subscriber: one thread per tiered cache, on a
//! connection of its own, that drops L1 copies other processes invalidated.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::backend::redis::conn::Manager;
use crate::backend::redis::record::decode_exact;
use crate::cache::SlidingTtlCache;

/// How often a blocked subscriber wakes up to check for shutdown even when
/// no message comes (a drop also sends it a wake-up message).
const POLL: Duration = Duration::from_millis(100);
/// The longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// What the cache and its subscriber thread share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Bumped by every invalidation applied here; a fill that raced with
    /// one drops its copy.
    pub(crate) epoch: AtomicU64,
    /// Whether the channel is live (L1 is used only while it is).
    pub(crate) subscribed: AtomicBool,
    /// Successful subscriptions (1 + reconnections).
    pub(crate) subscriptions: AtomicU64,
    /// Invalidations applied.
    pub(crate) applied: AtomicU64,
    stop: AtomicBool,
}

/// The running thread; stopped and joined by [`Subscriber::stop`].
pub(crate) struct Subscriber {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Task<K, V, L1> {
    l1: L1,
    shared: Arc<Shared>,
    manager: Manager,
    channel: String,
    origin: String,
    _kv: PhantomData<fn() -> (K, V)>,
}

impl Subscriber {
    pub(crate) fn start<K, V, L1>(
        l1: L1,
        shared: Arc<Shared>,
        manager: Manager,
        channel: String,
        origin: String,
    ) -> std::io::Result<Subscriber>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static + DeserializeOwned,
        V: Clone + Send + Sync + 'static,
        L1: SlidingTtlCache<K, V>,
    {
        let task = Task { l1, shared: Arc::clone(&shared), manager, channel, origin, _kv: PhantomData };
        let thread = thread::Builder::new().name("ttlkit-tiered-inv".to_owned()).spawn(move || task.run())?;
        Ok(Subscriber { shared, thread: Some(thread) })
    }

    /// Asks the thread to stop; `wake` should make its blocked read return.
    pub(crate) fn stop(&mut self, wake: impl FnOnce()) {
        self.shared.stop.store(true, SeqCst);
        wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop(|| {});
    }
}

impl<K, V, L1> Task<K, V, L1>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static + DeserializeOwned,
    V: Clone + Send + Sync + 'static,
    L1: SlidingTtlCache<K, V>,
{
    fn stopping(&self) -> bool {
        self.shared.stop.load(SeqCst)
    }

    /// Drops every L1 copy: invalidations may have been missed.
    fn forget_all(&self) {
        self.shared.epoch.fetch_add(1, SeqCst);
        self.l1.clear();
    }

    fn run(self) {
        let mut backoff = Duration::from_millis(5);
        while !self.stopping() {
            if self.listen().is_err() {
                // Disconnected or never connected: L1 is off until the next
                // subscription, which starts from an empty L1.
                self.shared.subscribed.store(false, SeqCst);
                self.forget_all();
                self.nap(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = Duration::from_millis(5);
            }
        }
        self.shared.subscribed.store(false, SeqCst);
    }

    /// Sleeps up to `d`, returning early on shutdown.
    fn nap(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopping() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            thread::sleep(left.min(Duration::from_millis(10)));
        }
    }

    /// One connection's life: subscribe, then apply messages until an error
    /// (returned) or shutdown (`Ok`).
    fn listen(&self) -> redis::RedisResult<()> {
        let mut conn = self.manager.open()?;
        conn.set_read_timeout(Some(POLL))?;
        let mut pubsub = conn.as_pubsub();
        pubsub.subscribe(&self.channel)?;
        // Anything published before this point was missed.
        self.forget_all();
        self.shared.subscriptions.fetch_add(1, SeqCst);
        self.shared.subscribed.store(true, SeqCst);
        loop {
            if self.stopping() {
                return Ok(());
            }
            match pubsub.get_message() {
                Ok(msg) => self.apply(msg.get_payload_bytes()),
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Applies one message: `<origin>k<key>` (one key), `<origin>*` (all),
    /// `<origin>!` (a wake-up). This cache's own writes are skipped: it
    /// updated its L1 itself.
    fn apply(&self, payload: &[u8]) {
        let n = self.origin.len();
        if payload.len() <= n || &payload[..n] == self.origin.as_bytes() {
            return;
        }
        match (payload[n], &payload[n + 1..]) {
            (b'k', key) => {
                self.shared.epoch.fetch_add(1, SeqCst);
                match decode_exact::<K>(&self.channel, key) {
                    Ok(k) => {
                        self.l1.remove(&k);
                    }
                    // A key this process cannot decode: be safe.
                    Err(_) => self.l1.clear(),
                }
                self.shared.applied.fetch_add(1, SeqCst);
            }
            (b'*', _) => {
                self.forget_all();
                self.shared.applied.fetch_add(1, SeqCst);
            }
            _ => {}
        }
    }
}
