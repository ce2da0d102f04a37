//! `supplyline serve` and `supplyline command-api`: open and migrate the store, then serve
//! HTTP until SIGTERM.

use std::time::Duration;

use anyhow::Context;
use command_api::{AppState, Authenticator, JwtConfig, Server, ServerLimits};
use event_store::EventStore;

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
}

/// Serves the command API (and the operations endpoints) on `listen`.
pub async fn command_api(
    store: EventStore,
    jwt: &JwtConfig,
    listen: &str,
    settings: Settings,
) -> anyhow::Result<()> {
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let auth = Authenticator::new(jwt).context("invalid JWT configuration")?;
    let state =
        AppState::new(store, auth, settings.snapshot_every).with_rate_limit(settings.rate_limit);
    let router = command_api::router(state, settings.request_timeout);
    let server = Server::bind(listen, router)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?
        .with_limits(settings.limits);
    tracing::info!(address = %server.local_addr()?, "command API listening");
    server
        .run_until_stopped(command_api::shutdown_signal())
        .await
        .context("the server failed")
}
