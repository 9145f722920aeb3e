//! A small OpenAI-compatible proxy that keeps one upstream HTTP client per
//! caller API key in a [`ClientStore`]: each key's client (and so its pool
//! of TLS/TCP connections) is created once, reused by every request with
//! that key, and released after an idle hour, after 24 h however busy, or
//! when 10,000 other keys crowd it out.
//!
//! * `POST /v1/chat/completions` with `Authorization: Bearer <key>`: the
//!   body is forwarded to `<upstream>/v1/chat/completions` with that key,
//!   and the upstream's answer is relayed.
//! * `GET /stats`: the store's counters as JSON (no key material in it).
//!
//! Try it against the stand-in upstream:
//!
//! ```sh
//! cargo run --example fake_upstream -- --listen 127.0.0.1:9090 &
//! cargo run --example llm_gateway -- --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9090 &
//! curl -s localhost:8080/v1/chat/completions -H 'Authorization: Bearer sk-demo-1' \
//!      -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'
//! curl -s localhost:8080/stats
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde_json::json;
use ttlkit::client_store::{ApiKey, ClientStore, StoreSettings};
use ttlkit::BackendKind;

/// An OpenAI-compatible proxy with one upstream client per API key.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The upstream's base URL, e.g. https://api.openai.com (the gateway
    /// appends /v1/chat/completions).
    #[arg(long, env = "UPSTREAM_BASE_URL")]
    upstream: String,
    /// The cache backend holding the clients: mutex, moka or sharded
    /// (ttlkit::BackendKind).
    #[arg(long, env = "GATEWAY_BACKEND", default_value = "mutex")]
    backend: BackendKind,
    /// A client unused this many seconds is released.
    #[arg(long, default_value_t = 3600)]
    idle_secs: u64,
    /// A client is released this many seconds after creation, however busy.
    #[arg(long, default_value_t = 86_400)]
    max_lifetime_secs: u64,
    /// At most this many clients (one per key) are kept.
    #[arg(long, default_value_t = 10_000)]
    max_clients: u64,
}

/// What the store holds per key: an HTTP client that sends that key.
struct UpstreamClient {
    http: reqwest::Client,
}

impl UpstreamClient {
    fn new(key: &ApiKey) -> Result<UpstreamClient, GatewayError> {
        let mut auth = HeaderValue::from_str(&key.bearer()).map_err(|_| GatewayError::BadKeyHeader)?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| GatewayError::ClientBuild(e.to_string()))?;
        Ok(UpstreamClient { http })
    }
}

#[derive(Debug, thiserror::Error)]
enum GatewayError {
    #[error("the key cannot be sent as a header")]
    BadKeyHeader,
    #[error("could not build an upstream client: {0}")]
    ClientBuild(String),
}

struct App {
    store: ClientStore<UpstreamClient>,
    completions_url: String,
    requests: AtomicU64,
    upstream_errors: AtomicU64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let store = ClientStore::builder()
        .idle_timeout(Duration::from_secs(args.idle_secs))
        .max_lifetime(Duration::from_secs(args.max_lifetime_secs))
        .max_clients(args.max_clients)
        .on_leave(|fingerprint, _client, cause| {
            // Dropping the last Arc closes the client's pooled connections.
            eprintln!("gateway: client {fingerprint} released ({cause})");
        })
        .build_backend(args.backend)?;
    let app = Arc::new(App {
        store,
        completions_url: format!("{}/v1/chat/completions", args.upstream.trim_end_matches('/')),
        requests: AtomicU64::new(0),
        upstream_errors: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/stats", get(stats))
        .with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!(
        "llm gateway on http://{} -> {} (backend {})",
        listener.local_addr()?,
        app.completions_url,
        app.store.backend_name()
    );
    axum::serve(listener, router).await?;
    Ok(())
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message, "type": "gateway_error"}}))).into_response()
}

async fn completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    app.requests.fetch_add(1, Relaxed);
    let Some(auth) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return error(StatusCode::UNAUTHORIZED, "missing Authorization: Bearer <key>");
    };
    let key = match ApiKey::from_bearer(auth) {
        Ok(key) => key,
        Err(e) => return error(StatusCode::UNAUTHORIZED, &e.to_string()),
    };
    let client = match app.store.get_or_create_async(&key, |key| async move { UpstreamClient::new(&key) }).await {
        Ok(client) => client,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let sent = client.http.post(&app.completions_url).header(CONTENT_TYPE, "application/json").body(body).send().await;
    let upstream = match sent {
        Ok(response) => response,
        Err(e) => {
            app.upstream_errors.fetch_add(1, Relaxed);
            eprintln!("gateway: upstream request for {} failed: {e}", app.store.fingerprint(&key));
            return error(StatusCode::BAD_GATEWAY, "upstream request failed");
        }
    };
    let status = StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = upstream.headers().get(CONTENT_TYPE).cloned();
    match upstream.bytes().await {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            if let Some(ct) = content_type {
                response.headers_mut().insert(CONTENT_TYPE, ct);
            }
            response
        }
        Err(_) => {
            app.upstream_errors.fetch_add(1, Relaxed);
            error(StatusCode::BAD_GATEWAY, "upstream response was cut off")
        }
    }
}

async fn stats(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let s = app.store.stats();
    let StoreSettings { idle_timeout, max_lifetime, max_clients, sweep_interval, .. } = app.store.settings();
    Json(json!({
        "backend": app.store.backend_name(),
        "requests": app.requests.load(Relaxed),
        "upstream_errors": app.upstream_errors.load(Relaxed),
        "clients": {
            "held": s.held,
            "created": s.created,
            "reused": s.reused,
            "creation_failures": s.creation_failures,
            "expired": s.expired,
            "evicted": s.evicted,
            "removed": s.removed,
        },
        "settings": {
            "idle_timeout_secs": idle_timeout.as_secs(),
            "max_lifetime_secs": max_lifetime.map(|d| d.as_secs()),
            "max_clients": max_clients,
            "sweep_interval_secs": sweep_interval.map(|d| d.as_secs()),
        },
    }))
}
