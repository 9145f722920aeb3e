//! Pooled, self-healing connections: an `r2d2` pool of `redis` sync
//! connections with connect and I/O timeouts. A connection that failed at
//! the I/O level is marked broken and dropped when it goes back to the
//! pool, so after a Redis restart the next operation opens a fresh one.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use r2d2::ManageConnection;
use redis::ConnectionLike;

use super::error::RedisCacheError;

/// Opens connections for the pool.
#[derive(Clone)]
pub(crate) struct Manager {
    pub(crate) client: redis::Client,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
}

impl Manager {
    /// A fresh connection with this manager's timeouts (also used for the
    /// tiered cache's subscriber, which needs a connection of its own).
    pub(crate) fn open(&self) -> Result<redis::Connection, redis::RedisError> {
        let conn = self.client.get_connection_with_timeout(self.connect_timeout)?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(conn)
    }
}

/// A pooled connection that remembers an I/O failure.
pub(crate) struct Conn {
    inner: redis::Connection,
    broken: bool,
}

impl Deref for Conn {
    type Target = redis::Connection;
    fn deref(&self) -> &redis::Connection {
        &self.inner
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut redis::Connection {
        &mut self.inner
    }
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = redis::RedisError;

    fn connect(&self) -> Result<Conn, redis::RedisError> {
        Ok(Conn { inner: self.open()?, broken: false })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), redis::RedisError> {
        redis::cmd("PING").query::<()>(&mut conn.inner)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || !conn.inner.is_open()
    }
}

/// The pool and what it was built with.
pub(crate) struct Pool {
    pool: r2d2::Pool<Manager>,
    manager: Manager,
}

impl Pool {
    /// A pool that connects lazily (building never waits for Redis) with
    /// one background thread for opening and reaping connections.
    pub(crate) fn new(manager: Manager, max_size: u32, wait: Duration) -> Pool {
        let threads = Arc::new(r2d2_threads());
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(wait)
            .thread_pool(threads)
            .build_unchecked(manager.clone());
        Pool { pool, manager }
    }

    /// Runs `f` on a pooled connection. An I/O-level failure marks the
    /// connection broken so the pool drops it instead of reusing it.
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> Result<T, RedisCacheError>,
    ) -> Result<T, RedisCacheError> {
        let mut conn = self.pool.get()?;
        let result = f(&mut conn.inner);
        if let Err(e) = &result {
            if e.is_connection() {
                conn.broken = true;
            }
        }
        result
    }

    /// The connection manager (for dedicated connections).
    pub(crate) fn manager(&self) -> &Manager {
        &self.manager
    }
}

/// The pool's one helper thread. Pending scheduled work (the idle reaper,
/// connection retries) is discarded when the pool drops, so the thread
/// exits at once instead of at the reaper's next tick.
fn r2d2_threads() -> scheduled_thread_pool::ScheduledThreadPool {
    scheduled_thread_pool::ScheduledThreadPool::builder()
        .num_threads(1)
        .thread_name_pattern("ttlkit-redis-pool")
        .on_drop_behavior(scheduled_thread_pool::OnPoolDropBehavior::DiscardPendingScheduled)
        .build()
}
