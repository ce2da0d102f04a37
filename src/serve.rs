//! `supplyline serve` and `supplyline command-api`: open and migrate the store, then serve
//! HTTP until SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use command_api::{AppState, Authenticator, JwtConfig, Server, ServerLimits};
use event_store::EventStore;
use executors::{ExecutorSettings, Executors};

use crate::output::tell;

/// How often expired idempotency keys are removed.
const KEY_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How the served API behaves.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Snapshot every this many events of a stream.
    pub snapshot_every: u64,
    /// Answer 503 past this time.
    pub request_timeout: Duration,
    /// Requests per second per actor (0: no limit).
    pub rate_limit: u32,
    /// Connection timeouts and cap.
    pub limits: ServerLimits,
    /// How long a client's idempotency key stands for its first answer.
    pub idempotency_ttl: Duration,
}

/// The process's executors over `store`, shared by every part that issues commands.
pub fn executors(store: &EventStore, settings: &Settings) -> Executors {
    Executors::new(
        store.clone(),
        ExecutorSettings {
            snapshot_every: settings.snapshot_every,
            ..ExecutorSettings::default()
        },
    )
}

/// Serves the command API (and the operations endpoints, and the routes `beside` it, such as
/// GraphQL) on `listen`, issuing commands through the process's `executors`; `started` is
/// called with the address once it listens.
pub async fn command_api(
    executors: Executors,
    jwt: &JwtConfig,
    listen: &str,
    settings: Settings,
    beside: Option<axum::Router>,
    started: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let store = executors.store().clone();
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let auth = Authenticator::new(jwt).context("invalid JWT configuration")?;
    let state = AppState::with_executors(executors, auth)
        .with_rate_limit(settings.rate_limit)
        .with_idempotency_ttl(settings.idempotency_ttl);
    let sweeper = tokio::spawn(sweep_expired_keys(store));
    let router = match beside {
        Some(beside) => command_api::router_beside(state, settings.request_timeout, beside),
        None => command_api::router(state, settings.request_timeout),
    };
    let server = Server::bind(listen, router)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?
        .with_limits(settings.limits);
    tracing::info!(address = %server.local_addr()?, "command API listening");
    started(server.local_addr()?);
    let served = server
        .run_until_stopped(command_api::shutdown_signal())
        .await
        .context("the server failed");
    sweeper.abort();
    served
}

/// Tells whoever started the server where everything is, and how to get a token.
pub fn print_addresses(address: SocketAddr, database: &str, everything: bool) {
    let base = format!("http://{address}");
    tell!("supplyline is listening on {base} (store: {database})");
    tell!("  commands   POST {base}/v1/...   (OpenAPI 3.1: {base}/openapi.json)");
    if everything {
        tell!("  GraphQL    POST {base}/graphql   (GraphiQL: open {base}/graphql in a browser)");
        tell!("  live       ws://{address}/graphql/ws   (graphql-transport-ws)");
    }
    tell!("  operations {base}/health  {base}/ready  {base}/metrics");
    tell!(
        "  a token    supplyline token --sub admin-1 --role admin   (send it as \
         `Authorization: Bearer <token>`)"
    );
}

/// Removes expired idempotency keys now and then (in short batches, so no transaction holds
/// the log's readers back).
async fn sweep_expired_keys(store: EventStore) {
    let mut every = tokio::time::interval(KEY_SWEEP_EVERY);
    loop {
        every.tick().await;
        match store.remove_expired_keys(1000).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed expired idempotency keys"),
            Err(error) => tracing::warn!(%error, "cannot remove expired idempotency keys"),
        }
    }
}
