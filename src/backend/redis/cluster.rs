//! A Redis Cluster's masters, from `CLUSTER SLOTS`: where `len` and `clear`
//! scan, and where a tiered cache keeps one tracking connection each.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionAddr, ConnectionInfo, ConnectionLike, Value};

use super::error::RedisCacheError;

/// A server's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Node {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Node {
    /// The TCP address in `info`, if it has one (not a Unix socket).
    pub(crate) fn of(info: &ConnectionInfo) -> Option<Node> {
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => Some(Node { host: host.clone(), port: *port }),
            _ => None,
        }
    }

    /// Routes a command to this node of a cluster connection.
    pub(crate) fn route(&self) -> RoutingInfo {
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: self.host.clone(), port: self.port })
    }
}

/// Asks the server behind `conn` for the cluster's masters (sorted, without
/// duplicates); a master announced without a host is on `asked_host`.
pub(crate) fn masters(conn: &mut dyn ConnectionLike, asked_host: &str) -> Result<Vec<Node>, RedisCacheError> {
    let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query(conn)?;
    parse_masters(reply, asked_host)
}

/// The masters in a `CLUSTER SLOTS` reply: each range is
/// `[start, end, [host, port, id, ...], replicas...]`.
fn parse_masters(reply: Value, asked_host: &str) -> Result<Vec<Node>, RedisCacheError> {
    let bad = || RedisCacheError::Reply("CLUSTER SLOTS: unexpected reply".to_owned());
    let Value::Array(ranges) = reply else { return Err(bad()) };
    let mut nodes = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else { return Err(bad()) };
        let Some(Value::Array(master)) = parts.into_iter().nth(2) else { return Err(bad()) };
        let mut fields = master.into_iter();
        let (Some(host), Some(port)) = (fields.next(), fields.next()) else { return Err(bad()) };
        let host: String = redis::from_redis_value(host).map_err(redis::RedisError::from)?;
        let port: u16 = redis::from_redis_value(port).map_err(redis::RedisError::from)?;
        // An empty or unknown host means "the node you asked".
        let host = if host.is_empty() || host == "?" { asked_host.to_owned() } else { host };
        nodes.push(Node { host, port });
    }
    if nodes.is_empty() {
        return Err(RedisCacheError::Reply("CLUSTER SLOTS: no slot is served".to_owned()));
    }
    nodes.sort();
    nodes.dedup();
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn range(start: i64, end: i64, host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::Int(start),
            Value::Int(end),
            Value::Array(vec![bulk(host), Value::Int(port), bulk("id")]),
            Value::Array(vec![bulk(host), Value::Int(port + 100), bulk("replica")]),
        ])
    }

    #[test]
    fn masters_are_deduplicated_and_hostless_ones_take_the_asked_host() {
        let reply = Value::Array(vec![
            range(0, 10, "127.0.0.1", 7001),
            range(11, 20, "", 7002),
            range(21, 30, "127.0.0.1", 7001),
        ]);
        let nodes = parse_masters(reply, "127.0.0.9").unwrap();
        assert_eq!(
            nodes,
            [Node { host: "127.0.0.1".into(), port: 7001 }, Node { host: "127.0.0.9".into(), port: 7002 }]
        );
    }

    #[test]
    fn malformed_replies_are_typed_errors() {
        for reply in [Value::Nil, Value::Array(vec![]), Value::Array(vec![Value::Array(vec![Value::Int(0)])])] {
            assert!(matches!(parse_masters(reply, "h"), Err(RedisCacheError::Reply(_))));
        }
    }
}
