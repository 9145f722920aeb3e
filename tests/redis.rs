//! The Redis backend and the two-tier cache against a real `redis-server`.
//!
//! Needs the `redis` feature and a server: `REDIS_URL=redis://127.0.0.1:PORT
//! cargo test --features redis --test redis`. Without `REDIS_URL` every test
//! that needs a server prints a note and returns (the restart test also
//! needs `redis-server` on `PATH`: it runs a server of its own).
//!
//! Redis keeps time for real, so these are real-time variants of the
//! conformance rules, with timeouts of a few hundred milliseconds. A
//! scenario whose preconditions the machine was too slow to meet (measured
//! with `Instant`, never assumed) is retried rather than failed; no test
//! asserts that something is fast.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

#[path = "redis/common.rs"]
mod common;
#[path = "redis/down.rs"]
mod down;
#[path = "redis/loads.rs"]
mod loads;
#[path = "redis/processes.rs"]
mod processes;
#[path = "redis/realtime.rs"]
mod realtime;
#[path = "redis/restart.rs"]
mod restart;
#[path = "redis/tiered.rs"]
mod tiered;
