//! A stand-in for an OpenAI-compatible API, for trying `llm_gateway` with no
//! real provider: `POST /v1/chat/completions` answers with a canned chat
//! completion that echoes the last user message, after checking for a
//! `Bearer` key; `GET /stats` says how many TCP connections it accepted and
//! how many requests it served (so you can see the gateway reuse its
//! connections).
//!
//! Run: `cargo run --example fake_upstream -- --listen 127.0.0.1:9090`

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};

/// A fake OpenAI-compatible upstream that counts connections.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "FAKE_UPSTREAM_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    /// The client sockets that sent chat completions.
    completion_peers: Mutex<HashSet<SocketAddr>>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let counters = Arc::new(Counters::default());
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let on_accept = Arc::clone(&counters);
    let listener = listener.tap_io(move |tcp| {
        let n = on_accept.connections.fetch_add(1, Relaxed) + 1;
        let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        eprintln!("fake upstream: connection #{n} from {peer}");
    });
    let app =
        Router::new().route("/v1/chat/completions", post(completions)).route("/stats", get(stats)).with_state(counters);
    eprintln!("fake upstream listening on http://{addr}");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

async fn completions(
    State(counters): State<Arc<Counters>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(request): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let has_key = matches!(bearer, Some(key) if !key.is_empty());
    if !has_key {
        let error = json!({"error": {"message": "missing bearer key", "type": "invalid_request_error"}});
        return (StatusCode::UNAUTHORIZED, Json(error));
    }
    let n = counters.requests.fetch_add(1, Relaxed) + 1;
    if let Ok(mut peers) = counters.completion_peers.lock() {
        peers.insert(peer);
    }
    let model = request["model"].as_str().unwrap_or("fake-model").to_owned();
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let body = json!({
        "id": format!("chatcmpl-fake-{n}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("echo: {last}")},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": last.split_whitespace().count(), "completion_tokens": 2, "total_tokens": last.split_whitespace().count() + 2}
    });
    (StatusCode::OK, Json(body))
}

async fn stats(State(counters): State<Arc<Counters>>) -> Json<Value> {
    Json(json!({
        "connections_accepted": counters.connections.load(Relaxed),
        "requests": counters.requests.load(Relaxed),
        "connections_that_sent_requests": counters.completion_peers.lock().map(|p| p.len()).unwrap_or(0),
    }))
}
