//! Pooled, self-healing connections: an `r2d2` pool of `redis` sync
//! connections (to one server, or cluster connections that route each
//! command to the master of its key's slot) with connect and I/O timeouts.
//! A connection that failed at the I/O level (or, in a cluster, met a
//! topology error) is marked broken and dropped when it goes back to the
//! pool, so after a restart or a failover the next operation opens a fresh
//! one, which reads the topology anew.

use std::sync::Arc;
use std::time::Duration;

use r2d2::ManageConnection;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{ConnectionInfo, ConnectionLike};

use super::error::RedisCacheError;
use super::options::Servers;

/// Retries of one command inside a cluster connection (after a `MOVED`,
/// `ASK`, `TRYAGAIN` or a dropped node connection) before it fails.
const CLUSTER_RETRIES: u32 = 2;
/// The longest wait between two of those retries, in milliseconds.
const CLUSTER_RETRY_WAIT_MS: u64 = 50;

/// How connections are opened: one server, or a cluster.
#[derive(Clone)]
enum Endpoint {
    One(redis::Client),
    Cluster(ClusterClient),
}

/// Opens connections for the pool.
#[derive(Clone)]
pub(crate) struct Manager {
    endpoint: Endpoint,
    /// The server's, or the cluster seeds', connection settings.
    infos: Arc<[ConnectionInfo]>,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Duration,
}

impl Manager {
    pub(crate) fn new(servers: &Servers, connect_timeout: Duration, io_timeout: Duration) -> redis::RedisResult<Self> {
        let (endpoint, infos) = match servers {
            Servers::One(url) => {
                let client = redis::Client::open(url.as_str())?;
                let info = client.get_connection_info().clone();
                (Endpoint::One(client), vec![info])
            }
            Servers::Cluster(seeds) => {
                let infos = seeds
                    .iter()
                    .map(|s| redis::IntoConnectionInfo::into_connection_info(s.as_str()))
                    .collect::<redis::RedisResult<Vec<_>>>()?;
                let client = ClusterClient::builder(infos.clone())
                    .connection_timeout(connect_timeout)
                    .response_timeout(io_timeout)
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(1)
                    .max_retry_wait(CLUSTER_RETRY_WAIT_MS)
                    .retry_wait_formula(5, 2)
                    .build()?;
                (Endpoint::Cluster(client), infos)
            }
        };
        Ok(Manager { endpoint, infos: infos.into(), connect_timeout, io_timeout })
    }

    /// Whether this is a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.endpoint, Endpoint::Cluster(_))
    }

    /// The server's settings, or the seeds' (a cluster's nodes take the
    /// first seed's credentials).
    pub(crate) fn infos(&self) -> &[ConnectionInfo] {
        &self.infos
    }

    /// A fresh connection with this manager's timeouts.
    pub(crate) fn open(&self) -> Result<Link, redis::RedisError> {
        match &self.endpoint {
            Endpoint::One(client) => {
                let conn = client.get_connection_with_timeout(self.connect_timeout)?;
                conn.set_read_timeout(Some(self.io_timeout))?;
                conn.set_write_timeout(Some(self.io_timeout))?;
                Ok(Link::One(conn))
            }
            Endpoint::Cluster(client) => {
                let conn = client.get_connection()?;
                conn.set_write_timeout(Some(self.io_timeout))?;
                Ok(Link::Cluster(Box::new(conn)))
            }
        }
    }
}

/// A connection to one server, or to a cluster.
pub(crate) enum Link {
    One(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

impl Link {
    /// The connection, for commands and scripts that name their key.
    pub(crate) fn conn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Link::One(c) => c,
            Link::Cluster(c) => c.as_mut(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Link::One(c) => c.is_open(),
            Link::Cluster(c) => c.is_open(),
        }
    }
}

/// A pooled connection that remembers a failure that makes it unfit for
/// reuse.
pub(crate) struct Conn {
    link: Link,
    broken: bool,
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = redis::RedisError;

    fn connect(&self) -> Result<Conn, redis::RedisError> {
        Ok(Conn { link: self.open()?, broken: false })
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), redis::RedisError> {
        redis::cmd("PING").query::<()>(conn.link.conn())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken || !conn.link.is_open()
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

    /// Runs `f` on a pooled connection (see [`run_link`](Self::run_link)).
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&mut dyn ConnectionLike) -> Result<T, RedisCacheError>,
    ) -> Result<T, RedisCacheError> {
        self.run_link(|link| f(link.conn()))
    }

    /// Runs `f` on a pooled connection, which it may use node by node. A
    /// failure at the I/O level, or a cluster's topology error, marks the
    /// connection broken so the pool drops it instead of reusing it.
    pub(crate) fn run_link<T>(
        &self,
        f: impl FnOnce(&mut Link) -> Result<T, RedisCacheError>,
    ) -> Result<T, RedisCacheError> {
        let mut conn = self.pool.get()?;
        let result = f(&mut conn.link);
        if let Err(e) = &result {
            if e.is_connection() || (self.manager.is_cluster() && matches!(e, RedisCacheError::Redis(_))) {
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
