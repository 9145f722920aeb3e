//! A real HTTP server on 127.0.0.1:0 that counts the TCP connections it
//! accepts and records the `Authorization` header of every request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;

#[derive(Clone, Default)]
struct Seen {
    connections: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
}

/// A running stand-in for an LLM API.
pub struct Upstream {
    /// `http://127.0.0.1:PORT/v1/chat/completions`.
    pub url: String,
    seen: Seen,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Binds 127.0.0.1:0 and serves `POST /v1/chat/completions`, answering
    /// with the `Authorization` value it received (so a client can check
    /// which key went out).
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let seen = Seen::default();
        let connections = Arc::clone(&seen.connections);
        // Called once per accepted TCP connection.
        let listener = listener.tap_io(move |_tcp| {
            connections.fetch_add(1, Ordering::SeqCst);
        });
        let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(seen.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { url: format!("http://{addr}/v1/chat/completions"), seen, task }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of each request, in arrival order.
    pub fn authorizations(&self) -> Vec<String> {
        self.seen.authorizations.lock().expect("lock").clone()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn completions(State(seen): State<Seen>, headers: HeaderMap) -> String {
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("<none>").to_owned();
    seen.authorizations.lock().expect("lock").push(auth.clone());
    auth
}
