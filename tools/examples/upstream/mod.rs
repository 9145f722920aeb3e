//! A stand-in for an OpenAI-compatible API that fails on command, shared by
//! `examples/fake_upstream.rs`, `examples/llm_gateway.rs` (its fault demo)
//! and the HTTP tests. It listens on 127.0.0.1 only.
//!
//! `POST /v1/chat/completions` checks for a `Bearer` key, counts the
//! request, and answers as its [`Fault`] says: a canned completion echoing
//! the last user message (streamed as server-sent events when the body asks
//! `"stream": true`), an error status with an optional `Retry-After`, a slow
//! answer, a stream held open until released, or a dropped connection. The
//! fault comes from the request's `x-fake-fault` header if it has one, else
//! from the server's [`Plan`] (set at start, by `POST /control` with
//! `{"plan": "500@0.5@42"}`, or in process).
//!
//! `GET /stats` says how many TCP connections it accepted and how many
//! completions it served, by outcome.

#![allow(dead_code)] // each user takes the parts it needs

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;

/// How the upstream answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 200 with a completion (or a stream of 3 chunks).
    Ok,
    /// This status, with `Retry-After: <secs>` when given.
    Status { code: u16, retry_after: Option<u64> },
    /// 200, after this many milliseconds.
    Slow { millis: u64 },
    /// A stream that sends its first chunk, then waits for
    /// [`Upstream::release_held`] before the rest.
    Hold,
    /// The connection is cut before a complete answer.
    Drop,
}

impl FromStr for Fault {
    type Err = String;

    /// `ok`, `500`, `429:7` (with `Retry-After: 7`), `slow:250`, `hold`, `drop`.
    fn from_str(s: &str) -> Result<Fault, String> {
        let (head, arg) = s.split_once(':').map_or((s, None), |(h, a)| (h, Some(a)));
        let number = |a: Option<&str>| a.map(|a| a.parse::<u64>().map_err(|e| format!("{s}: {e}"))).transpose();
        match head {
            "ok" => Ok(Fault::Ok),
            "hold" => Ok(Fault::Hold),
            "drop" => Ok(Fault::Drop),
            "slow" => Ok(Fault::Slow { millis: number(arg)?.unwrap_or(100) }),
            code => {
                let code = code.parse::<u16>().map_err(|_| format!("unknown fault {s:?}"))?;
                Ok(Fault::Status { code, retry_after: number(arg)? })
            }
        }
    }
}

/// Which fault each request gets when it names none: `fault` with
/// probability `share` (a seeded sequence, so a run is repeatable), else
/// [`Fault::Ok`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub fault: Fault,
    pub share: f64,
    pub seed: u64,
}

impl Plan {
    pub const HEALTHY: Plan = Plan { fault: Fault::Ok, share: 0.0, seed: 0 };

    /// Every request gets `fault`.
    pub fn always(fault: Fault) -> Plan {
        Plan { fault, share: 1.0, seed: 0 }
    }
}

impl FromStr for Plan {
    type Err = String;

    /// `<fault>` (always), or `<fault>@<share>[@<seed>]`: `500@0.5@42`.
    fn from_str(s: &str) -> Result<Plan, String> {
        let mut parts = s.split('@');
        let fault = parts.next().unwrap_or("ok").parse()?;
        let share = parts.next().map_or(Ok(1.0), |p| p.parse::<f64>().map_err(|e| format!("{s}: {e}")))?;
        let seed = parts.next().map_or(Ok(0), |p| p.parse::<u64>().map_err(|e| format!("{s}: {e}")))?;
        Ok(Plan { fault, share, seed })
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    failed: AtomicU64,
    peers: Mutex<HashSet<SocketAddr>>,
    authorizations: Mutex<Vec<String>>,
}

struct Shared {
    counters: Counters,
    plan: Mutex<(Plan, u64)>,
    /// Bumped by each release: a held stream waits for it to pass the
    /// value it saw when it started.
    releases: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The planned fault for the next request (a SplitMix64 draw against the share).
    fn next_planned(&self) -> Fault {
        let mut guard = lock(&self.plan);
        let (plan, state) = &mut *guard;
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let draw = (z ^ (z >> 31)) as f64 / u64::MAX as f64;
        if draw < plan.share {
            plan.fault
        } else {
            Fault::Ok
        }
    }
}

/// A running fake upstream.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Serves on `addr` (127.0.0.1:0 for any free port) with `plan`.
    pub async fn start(addr: SocketAddr, plan: Plan) -> std::io::Result<Upstream> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            plan: Mutex::new((plan, plan.seed)),
            releases: watch::Sender::new(0),
        });
        let on_accept = Arc::clone(&shared);
        let listener = listener.tap_io(move |tcp| {
            let _ = tcp.set_nodelay(true);
            on_accept.counters.connections.fetch_add(1, SeqCst);
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/stats", get(stats))
            .route("/control", post(control))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        Ok(Upstream { base: format!("http://{addr}"), shared, task })
    }

    /// Serves on a free port of 127.0.0.1.
    pub async fn local(plan: Plan) -> Upstream {
        Upstream::start(SocketAddr::from(([127, 0, 0, 1], 0)), plan).await.expect("bind 127.0.0.1:0")
    }

    /// `<base>/v1/chat/completions`.
    pub fn completions_url(&self) -> String {
        format!("{}/v1/chat/completions", self.base)
    }

    /// Switches the plan (its draws restart from its seed).
    pub fn set_plan(&self, plan: Plan) {
        *lock(&self.shared.plan) = (plan, plan.seed);
    }

    /// Lets every held stream finish.
    pub fn release_held(&self) {
        self.shared.releases.send_modify(|n| *n += 1);
    }

    /// Completion requests received (all outcomes).
    pub fn requests(&self) -> u64 {
        self.shared.counters.requests.load(SeqCst)
    }

    /// Completion requests answered with a fault (an error status or a cut).
    pub fn failed(&self) -> u64 {
        self.shared.counters.failed.load(SeqCst)
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.shared.counters.connections.load(SeqCst)
    }

    /// The `Authorization` header of each completion request, in order.
    pub fn authorizations(&self) -> Vec<String> {
        lock(&self.shared.counters.authorizations).clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if auth.strip_prefix("Bearer ").is_none_or(str::is_empty) {
        let error = json!({"error": {"message": "missing bearer key", "type": "invalid_request_error"}});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    let c = &shared.counters;
    let n = c.requests.fetch_add(1, SeqCst) + 1;
    lock(&c.peers).insert(peer);
    lock(&c.authorizations).push(auth);
    let named = headers.get("x-fake-fault").and_then(|v| v.to_str().ok()).map(str::parse::<Fault>);
    let fault = match named {
        Some(Ok(fault)) => fault,
        Some(Err(e)) => return (StatusCode::BAD_REQUEST, e).into_response(),
        None => shared.next_planned(),
    };
    if matches!(fault, Fault::Status { .. } | Fault::Drop) {
        c.failed.fetch_add(1, SeqCst);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("fake-model").to_owned();
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let streamed = request["stream"].as_bool().unwrap_or(false);
    match fault {
        Fault::Status { code, retry_after } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let error = json!({"error": {"message": format!("fake upstream: {code}"), "type": "server_error"}});
            let mut response = (status, Json(error)).into_response();
            if let Some(secs) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, secs.into());
            }
            response
        }
        Fault::Drop => {
            // A body that fails at once: hyper cuts the connection.
            let cut = stream::once(async { Err::<Bytes, _>(std::io::Error::other("fake upstream: dropped")) });
            Body::from_stream(cut).into_response()
        }
        Fault::Slow { millis } => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            completion(n, &model, &last, streamed, None)
        }
        Fault::Hold => completion(n, &model, &last, true, Some(shared)),
        Fault::Ok => completion(n, &model, &last, streamed, None),
    }
}

/// The answer: one JSON completion, or three SSE chunks and `[DONE]`
/// (waiting after the first for `held`, when given).
fn completion(n: u64, model: &str, last: &str, streamed: bool, held: Option<Arc<Shared>>) -> Response {
    let id = format!("chatcmpl-fake-{n}");
    if !streamed {
        let words = last.split_whitespace().count();
        let body = json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("echo: {last}")}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": words, "completion_tokens": 2, "total_tokens": words + 2}
        });
        return Json(body).into_response();
    }
    let chunk = |content: Option<String>, finish: Option<&str>| {
        let delta = match content {
            Some(c) => json!({"role": "assistant", "content": c}),
            None => json!({}),
        };
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        Bytes::from(format!("data: {c}\n\n"))
    };
    let first = chunk(Some("echo: ".into()), None);
    let rest = vec![chunk(Some(last.to_owned()), None), chunk(None, Some("stop")), Bytes::from("data: [DONE]\n\n")];
    let release = held.map(|shared| {
        let mut seen = shared.releases.subscribe();
        let at = *seen.borrow_and_update();
        (seen, at)
    });
    let wait = async move {
        if let Some((mut seen, at)) = release {
            let _ = seen.wait_for(|n| *n > at).await;
        }
        stream::iter(rest)
    };
    let body = stream::once(async move { first }).chain(stream::once(wait).flatten()).map(Ok::<_, Infallible>);
    ([(CONTENT_TYPE, "text/event-stream")], Body::from_stream(body)).into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let c = &shared.counters;
    Json(json!({
        "connections_accepted": c.connections.load(SeqCst),
        "requests": c.requests.load(SeqCst),
        "failed": c.failed.load(SeqCst),
        "connections_that_sent_requests": lock(&c.peers).len(),
    }))
}

/// `{"plan": "500@0.5@42"}` switches the plan.
async fn control(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    match body["plan"].as_str().map(str::parse::<Plan>) {
        Some(Ok(plan)) => {
            *lock(&shared.plan) = (plan, plan.seed);
            (StatusCode::OK, format!("plan {plan:?}\n")).into_response()
        }
        Some(Err(e)) => (StatusCode::BAD_REQUEST, e).into_response(),
        None => (StatusCode::BAD_REQUEST, "expected {\"plan\": \"<fault>[@share[@seed]]\"}").into_response(),
    }
}
