//! The Redis backend and the two-tier cache against a real `redis-server`.
//!
//! Needs the `redis` feature and a server: `REDIS_URL=redis://127.0.0.1:PORT
//! cargo test --features redis --test redis`. Without `REDIS_URL` every test
//! that needs a server prints a note and returns (the restart test also
//! needs `redis-server` on `PATH`: it runs a server of its own).
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
#[path = "conformance/resize.rs"]
mod resize;
#[allow(dead_code)]
#[path = "conformance/sweeping.rs"]
mod sweeping;

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
#[path = "redis/suite.rs"]
mod suite;
#[path = "support/target.rs"]
mod target;
#[path = "redis/tiered.rs"]
mod tiered;
