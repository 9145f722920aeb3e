//! A stand-in for an OpenAI-compatible API, for trying `llm_gateway` with no
//! real provider, that fails on command (see `upstream/mod.rs`):
//!
//! * `POST /v1/chat/completions` answers with a canned completion echoing
//!   the last user message (streamed with `"stream": true`), or with the
//!   fault named by the request's `x-fake-fault` header (`500`, `429:7`,
//!   `slow:250`, `hold`, `drop`), or by the plan;
//! * `POST /control` with `{"plan": "500@0.5@42"}` makes half the requests
//!   (a seeded draw) answer 500 from then on; `{"plan": "ok"}` heals it;
//! * `GET /stats` says how many TCP connections it accepted and how many
//!   requests it served and failed.
//!
//! Run: `cargo run --example fake_upstream -- --listen 127.0.0.1:9090 --plan 500@0.5@42`

#[path = "upstream/mod.rs"]
mod upstream;

use std::net::SocketAddr;

use clap::Parser;
use upstream::{Plan, Upstream};

/// A fake OpenAI-compatible upstream that counts connections and fails on command.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (keep it on 127.0.0.1).
    #[arg(long, env = "FAKE_UPSTREAM_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// The fault plan: `<fault>[@<share>[@<seed>]]`, e.g. `ok`, `500@0.5@42`, `429:7@0.1`.
    #[arg(long, default_value = "ok")]
    plan: Plan,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let upstream = Upstream::start(args.listen, args.plan).await?;
    eprintln!("fake upstream listening on {} (plan {:?})", upstream.base, args.plan);
    tokio::signal::ctrl_c().await?;
    eprintln!("fake upstream: {} requests, {} failed", upstream.requests(), upstream.failed());
    Ok(())
}
