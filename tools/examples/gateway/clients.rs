//! The two upstream clients the gateway can keep per key: a plain reqwest
//! client, and async-openai's `Client<OpenAIConfig>`. Neither retries on its
//! own (async-openai's built-in retries are taken out): the gateway's store
//! owns retries (one retry owner, within budgets).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::CreateChatCompletionRequest;
use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue};
use futures_util::stream::{Stream, StreamExt};
use ttlkit::client_store::{parse_retry_after, ApiKey, Outcome};

/// A response body the gateway relays.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What one attempt came to.
pub enum Sent {
    /// The upstream answered with `status`.
    Answer { status: u16, retry_after: Option<Duration>, content_type: Option<HeaderValue>, body: Relay },
    /// No answer: refused, cut or timed out.
    NoAnswer(String),
}

/// An answer's body: whole, or streamed on (the lease rides along).
pub enum Relay {
    Full(Bytes),
    Stream(BodyStream),
}

impl Sent {
    /// The breaker's view of it.
    pub fn outcome(&self) -> Outcome {
        match self {
            Sent::Answer { status, retry_after, .. } => Outcome::from_http_status(*status, *retry_after),
            Sent::NoAnswer(_) => Outcome::CONNECTION_FAILED,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("the key cannot be sent as a header")]
    BadKeyHeader,
    #[error("could not build an upstream client: {0}")]
    ClientBuild(String),
}

/// An upstream client kept per key.
pub trait UpstreamClient: Send + Sync + Sized + 'static {
    /// `reqwest` or `openai`.
    const KIND: &'static str;

    /// A client that sends `key` to the upstream at `base` (`http://host:port`).
    fn create(key: &ApiKey, base: &str) -> Result<Self, GatewayError>;

    /// Sends one chat completion request (`stream`: the body asks for SSE).
    fn send(&self, body: Bytes, stream: bool) -> impl Future<Output = Sent> + Send + '_;
}

/// A reqwest client with the key as a default header.
pub struct PlainClient {
    http: reqwest::Client,
    url: String,
}

impl UpstreamClient for PlainClient {
    const KIND: &'static str = "reqwest";

    fn create(key: &ApiKey, base: &str) -> Result<Self, GatewayError> {
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
        Ok(PlainClient { http, url: format!("{}/v1/chat/completions", base.trim_end_matches('/')) })
    }

    async fn send(&self, body: Bytes, stream: bool) -> Sent {
        let sent = self.http.post(&self.url).header(CONTENT_TYPE, "application/json").body(body).send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Sent::NoAnswer(e.to_string()),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = if stream && status == 200 {
            Relay::Stream(Box::pin(response.bytes_stream().map(|c| c.map_err(std::io::Error::other))))
        } else {
            match response.bytes().await {
                Ok(bytes) => Relay::Full(bytes),
                Err(e) => return Sent::NoAnswer(format!("answer cut off: {e}")),
            }
        };
        Sent::Answer { status, retry_after, content_type, body }
    }
}

/// async-openai's client, its base URL on the configured upstream.
impl UpstreamClient for async_openai::Client<OpenAIConfig> {
    const KIND: &'static str = "openai";

    fn create(key: &ApiKey, base: &str) -> Result<Self, GatewayError> {
        let config = OpenAIConfig::new()
            .with_api_base(format!("{}/v1", base.trim_end_matches('/')))
            .with_api_key(key.expose_secret());
        // Its default transport retries 429s and 5xx itself (three times,
        // with backoff): a second retry owner multiplying the store's
        // attempts and blind to its budgets. The bare transport has none.
        Ok(async_openai::Client::with_config(config).with_http_service(ReqwestService::default()))
    }

    async fn send(&self, body: Bytes, stream: bool) -> Sent {
        let request: CreateChatCompletionRequest = match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return answer(400, error_json(&format!("bad request: {e}"))),
        };
        if stream {
            return match self.chat().create_stream(request).await {
                Ok(chunks) => {
                    let events = chunks
                        .map(|chunk| match chunk {
                            Ok(c) => serde_json::to_string(&c)
                                .map(|json| Bytes::from(format!("data: {json}\n\n")))
                                .map_err(std::io::Error::other),
                            Err(e) => Err(std::io::Error::other(e.to_string())),
                        })
                        .chain(futures_util::stream::once(async { Ok(Bytes::from("data: [DONE]\n\n")) }));
                    let sse = HeaderValue::from_static("text/event-stream");
                    Sent::Answer {
                        status: 200,
                        retry_after: None,
                        content_type: Some(sse),
                        body: Relay::Stream(Box::pin(events)),
                    }
                }
                Err(e) => failed(e),
            };
        }
        match self.chat().create(request).await {
            Ok(done) => match serde_json::to_vec(&done) {
                Ok(json) => answer(200, Bytes::from(json)),
                Err(e) => Sent::NoAnswer(e.to_string()),
            },
            Err(e) => failed(e),
        }
    }
}

fn answer(status: u16, body: Bytes) -> Sent {
    let json = HeaderValue::from_static("application/json");
    Sent::Answer { status, retry_after: None, content_type: Some(json), body: Relay::Full(body) }
}

pub fn error_json(message: &str) -> Bytes {
    Bytes::from(serde_json::json!({"error": {"message": message, "type": "gateway_error"}}).to_string())
}

/// async-openai keeps the status of an error answer (not its headers, so
/// no `Retry-After`); anything else is no answer.
fn failed(e: OpenAIError) -> Sent {
    match e {
        OpenAIError::ApiError(api) => answer(api.status_code.as_u16(), error_json(&api.api_error.message)),
        other => Sent::NoAnswer(other.to_string()),
    }
}
