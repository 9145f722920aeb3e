//! A raw connection to one server for the invalidation feeds: commands out,
//! values (replies and RESP3 pushes) in, parsed by the `redis` crate's
//! parser, which keeps a partly read value across read timeouts.
//!
//! The feeds do not use `redis::Connection`: its sync reads hand push
//! values to a channel only while a caller waits on the connection, and a
//! read that times out makes it skip the next reply, so one thread could
//! not both wait for pushes with a timeout and `PING` the same connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, Value};

use crate::backend::redis::cluster::Node;

/// Where a feed connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addr {
    Tcp(Node),
    #[cfg_attr(not(unix), allow(dead_code))]
    Unix(PathBuf),
}

impl Addr {
    /// The address in `info`; `None` for one the feeds cannot reach (TLS).
    pub(crate) fn of(info: &ConnectionInfo) -> Option<Addr> {
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => Some(Addr::Tcp(Node { host: host.clone(), port: *port })),
            ConnectionAddr::Unix(path) => Some(Addr::Unix(path.clone())),
            _ => None,
        }
    }
}

/// A connected socket.
enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    fn connect(addr: &Addr, timeout: Duration) -> io::Result<Stream> {
        match addr {
            Addr::Tcp(node) => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{} resolves to nothing", node.host));
                for sa in (node.host.as_str(), node.port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&sa, timeout) {
                        Ok(s) => {
                            s.set_nodelay(true)?;
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            #[cfg(unix)]
            Addr::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
            #[cfg(not(unix))]
            Addr::Unix(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "unix sockets")),
        }
    }

    fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(d)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(Some(d)),
        }
    }

    fn set_write_timeout(&self, d: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(d)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(Some(d)),
        }
    }

    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            #[cfg(unix)]
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    fn shutdown(&self) {
        // Already closed is fine: the point is that no read blocks on it.
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// Closes a wire from another thread, so its blocked read returns at once.
pub(crate) struct Closer(Stream);

impl Closer {
    pub(crate) fn close(&self) {
        self.0.shutdown();
    }
}

/// One connection: send commands, read values.
pub(crate) struct Wire {
    stream: Stream,
    parser: redis::Parser,
    io_timeout: Duration,
}

impl Wire {
    pub(crate) fn connect(addr: &Addr, connect_timeout: Duration, io_timeout: Duration) -> io::Result<Wire> {
        let stream = Stream::connect(addr, connect_timeout)?;
        stream.set_write_timeout(io_timeout)?;
        Ok(Wire { stream, parser: redis::Parser::new(), io_timeout })
    }

    pub(crate) fn closer(&self) -> io::Result<Closer> {
        Ok(Closer(self.stream.try_clone()?))
    }

    pub(crate) fn send(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<()> {
        self.stream.write_all(&cmd.get_packed_command())?;
        Ok(())
    }

    /// The next value, or `None` when nothing arrived within `wait`.
    pub(crate) fn next(&mut self, wait: Duration) -> redis::RedisResult<Option<Value>> {
        self.stream.set_read_timeout(wait)?;
        match self.parser.parse_value(&mut self.stream) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `cmd` and returns its reply (an error reply as an error),
    /// skipping pushes; fails after the I/O timeout.
    pub(crate) fn call(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
        self.send(cmd)?;
        let deadline = Instant::now() + self.io_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply").into());
            }
            match self.next(left)? {
                Some(Value::Push { .. }) | None => {}
                Some(Value::ServerError(e)) => return Err(e.into()),
                Some(v) => return Ok(v),
            }
        }
    }
}
