//! A small OpenAI-compatible proxy that keeps one upstream client per
//! caller API key in a `ClientStore` (see `gateway/mod.rs`): a plain
//! reqwest client or async-openai's `Client<OpenAIConfig>` (`--client`),
//! created once per key, leased to each request (a streamed answer holds
//! its lease to the last byte), and released only once it left the store
//! and no request uses it. Optionally each key is rate limited, has a
//! circuit breaker, and retries within budgets; `GET /metrics` serves the
//! store's series in the Prometheus text format.
//!
//! Try it against the stand-in upstream:
//!
//! ```sh
//! cargo run --example fake_upstream -- --listen 127.0.0.1:9090 &
//! cargo run --example llm_gateway -- --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9090 --protect &
//! curl -s localhost:8080/v1/chat/completions -H 'Authorization: Bearer sk-demo-1' \
//!      -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'
//! curl -s localhost:9090/control -H 'Content-Type: application/json' -d '{"plan":"500@0.5@42"}'
//! curl -s localhost:8080/stats; curl -s localhost:8080/metrics
//! ```
//!
//! Or run the whole fault demo in one process (no ports to pick, mock time,
//! repeatable): `cargo run --example llm_gateway -- --fault-demo`.

#[path = "gateway/mod.rs"]
mod gateway;
#[path = "upstream/mod.rs"]
mod upstream;

use std::net::SocketAddr;
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use clap::{Parser, ValueEnum};
use gateway::clients::{PlainClient, UpstreamClient};
use gateway::{demo, Config};
use ttlkit::client_store::Quota;
use ttlkit::BackendKind;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClientKind {
    /// A reqwest client per key (sees the upstream's Retry-After).
    Reqwest,
    /// async-openai's Client<OpenAIConfig> per key.
    Openai,
}

/// An OpenAI-compatible proxy with one upstream client per API key.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The upstream's base URL (the gateway appends /v1/chat/completions).
    #[arg(long, env = "UPSTREAM_BASE_URL", required_unless_present = "fault_demo")]
    upstream: Option<String>,
    /// The client kept per key.
    #[arg(long, value_enum, default_value = "reqwest")]
    client: ClientKind,
    /// The cache backend holding the clients: mutex, moka or sharded.
    #[arg(long, env = "GATEWAY_BACKEND", default_value = "mutex")]
    backend: BackendKind,
    /// A client unused this many seconds leaves the store.
    #[arg(long, default_value_t = 3600)]
    idle_secs: u64,
    /// A client leaves this many seconds after creation, however busy.
    #[arg(long, default_value_t = 86_400)]
    max_lifetime_secs: u64,
    /// At most this many clients (one per key) are kept.
    #[arg(long, default_value_t = 10_000)]
    max_clients: u64,
    /// Attempts per request, the first included.
    #[arg(long, default_value_t = 3)]
    attempts: u32,
    /// Each key's circuit breaker and the retry budgets (see gateway::Config::protected).
    #[arg(long)]
    protect: bool,
    /// Requests per second per key (burst the same); none by default.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Run the fault demo in process and print its numbers.
    #[arg(long)]
    fault_demo: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let prometheus = gateway::prometheus();
    if args.fault_demo {
        let runs = match args.client {
            ClientKind::Reqwest => fault_demo::<PlainClient>(prometheus).await,
            ClientKind::Openai => fault_demo::<async_openai::Client<OpenAIConfig>>(prometheus).await,
        };
        println!("{}", demo::table(&runs));
        for run in &runs {
            println!("{}: {}", run.label, run.stats);
        }
        if let Some(scrape) = runs.last().and_then(|r| r.metrics.as_deref()) {
            println!("\nGET /metrics (the protected store's series):\n{}", demo::sample(scrape, "protected"));
        }
        return Ok(());
    }
    let mut config = Config::new(args.upstream.unwrap_or_default());
    config.backend = args.backend;
    config.idle = Duration::from_secs(args.idle_secs);
    config.max_lifetime = Duration::from_secs(args.max_lifetime_secs);
    config.max_clients = args.max_clients;
    config.attempts = args.attempts;
    if args.protect {
        config = config.protected();
    }
    if let Some(rate) = args.rate_limit {
        config.rate_limit = Some(Quota::per_second(rate, rate)?);
    }
    match args.client {
        ClientKind::Reqwest => serve::<PlainClient>(args.listen, config, prometheus).await,
        ClientKind::Openai => serve::<async_openai::Client<OpenAIConfig>>(args.listen, config, prometheus).await,
    }
}

async fn fault_demo<U: UpstreamClient>(
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Vec<demo::Run> {
    let mut runs = Vec::new();
    for (guard, name) in demo::Guard::ALL.into_iter().zip(["retries_only", "breaker", "budget", "protected"]) {
        runs.push(demo::run::<U>(guard, name, prometheus.clone(), 1).await);
    }
    runs
}

async fn serve<U: UpstreamClient>(
    listen: SocketAddr,
    config: Config,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> Result<(), Box<dyn std::error::Error>> {
    let upstream = config.upstream.clone();
    let (router, app) = gateway::router::<U>(config, prometheus)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!(
        "llm gateway on http://{} -> {upstream} ({} client, backend {})",
        listener.local_addr()?,
        U::KIND,
        app.store.backend_name()
    );
    axum::serve(listener, router).await?;
    Ok(())
}
