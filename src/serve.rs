//! `supplyline serve` and `supplyline command-api`: open and migrate the store, then serve
//! HTTP until SIGTERM.

use std::time::Duration;

use anyhow::Context;
use command_api::{AppState, Authenticator, JwtConfig, Server};
use event_store::EventStore;

/// Serves the command API (and the operations endpoints) on `listen`.
pub async fn command_api(
    store: EventStore,
    jwt: &JwtConfig,
    listen: &str,
    snapshot_every: u64,
    request_timeout: Duration,
) -> anyhow::Result<()> {
    store
        .migrate()
        .await
        .context("cannot migrate the event store")?;
    let auth = Authenticator::new(jwt).context("invalid JWT configuration")?;
    let state = AppState::new(store, auth, snapshot_every);
    let router = command_api::router(state, request_timeout);
    let server = Server::bind(listen, router)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %server.local_addr()?, "command API listening");
    server
        .run_until_stopped(command_api::shutdown_signal())
        .await
        .context("the server failed")
}
