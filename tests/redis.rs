//! The Redis backend and the two-tier cache against a real `redis-server`.
//!
//! Needs the `redis` feature and a server: `REDIS_URL=redis://127.0.0.1:PORT
//! cargo test --features redis --test redis` for one server, or
//! `REDIS_CLUSTER_URLS=redis://127.0.0.1:P1,redis://127.0.0.1:P2,...` for a
//! Redis Cluster (which wins when both are set: a run covers one
//! deployment). Without either, every test that needs a server prints a note
//! and returns. The fault tests run servers of their own (`redis-server` and
//! `redis-cli` on `PATH`): a restarted server and one without client
//! tracking in the single-server run, a cluster whose slot migrates and
//! whose master fails over in the cluster run.
//!
//! The conformance suite's cases that need no mock clock run here on
//! `RedisCache` and `TieredCache` (`redis/suite.rs`). Redis keeps time for
//! real, so the rest are real-time variants of the conformance rules, with
//! timeouts of a few hundred milliseconds. A
//! scenario whose preconditions the machine was too slow to meet (measured
//! with `Instant`, never assumed) is retried rather than failed; no test
//! asserts that something is fast.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

// The conformance suite's cases: only those with no `Need` run here (see
// `redis/suite.rs`); the rest are dead code in this binary.
#[allow(dead_code)]
#[path = "conformance/bad_input.rs"]
mod bad_input;
#[allow(dead_code)]
#[path = "conformance/cases.rs"]
mod cases;
#[allow(dead_code)]
#[path = "conformance/entry.rs"]
mod entry;
#[allow(dead_code)]
#[path = "conformance/expiry_kinds.rs"]
mod expiry_kinds;
#[allow(dead_code)]
#[path = "conformance/inspection.rs"]
mod inspection;
#[path = "conformance/list.rs"]
mod list;
#[allow(dead_code)]
#[path = "conformance/loads.rs"]
mod loads;
#[allow(dead_code)]
#[path = "conformance/oversized.rs"]
mod oversized;
#[allow(dead_code)]
#[path = "conformance/per_entry.rs"]
mod per_entry;
#[allow(dead_code)]
#[path = "conformance/refresh.rs"]
mod refresh;
#[allow(dead_code)]
#[path = "conformance/reloader.rs"]
mod reloader;
#[allow(dead_code)]
#[path = "conformance/resize.rs"]
mod resize;
#[allow(dead_code)]
#[path = "conformance/sweeping.rs"]
mod sweeping;

#[path = "redis/cluster_faults.rs"]
mod cluster_faults;
#[path = "redis/common.rs"]
mod common;
#[path = "redis/down.rs"]
mod down;
#[path = "redis/load_lock.rs"]
mod load_lock;
#[path = "redis/processes.rs"]
mod processes;
#[path = "redis/realtime.rs"]
mod realtime;
#[path = "support/removal_log.rs"]
mod removal_log;
#[path = "redis/restart.rs"]
mod restart;
#[path = "redis/spawn.rs"]
mod spawn;
#[path = "redis/staleness.rs"]
mod staleness;
#[path = "redis/suite.rs"]
mod suite;
#[path = "support/target.rs"]
mod target;
#[path = "redis/tiered.rs"]
mod tiered;
