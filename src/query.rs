//! `supplyline query-api`: the GraphQL API alone (with `/health`, `/ready` and `/metrics`),
//! over the read models and the log of one store, for multi-process deployments.

use std::sync::Arc;

use anyhow::Context;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use command_api::{Authenticator, JwtConfig, Server};
use event_store::EventStore;

use crate::projector;
use crate::settings::HttpArgs;

/// Serves GraphQL on `listen` until SIGTERM.
pub async fn run(store: EventStore, jwt: &JwtConfig, http: &HttpArgs) -> anyhow::Result<()> {
    let listen = &http.listen;
    let auth = Arc::new(Authenticator::new(jwt).context("invalid JWT configuration")?);
    let db = projector::read_db(&store).await?;
    let metrics = command_api::prometheus();
    let ready_store = store.clone();
    let rate_limit = command_api::RateLimit::per_actor(http.rate_limit);
    let router = query_api::limited_router(query_api::build_schema(store, db), auth, rate_limit)
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(move || {
                let store = ready_store.clone();
                async move {
                    match store.ready().await {
                        Ok(()) => (StatusCode::OK, "ready".to_owned()).into_response(),
                        Err(error) => {
                            (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response()
                        }
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.render() }
            }),
        );
    // The command API's layers: body limit, deadline, metrics, tracing.
    let router = command_api::with_layers(router, http.request_timeout);
    let server = Server::bind(listen, router)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?
        .with_limits(http.limits());
    tracing::info!(address = %server.local_addr()?, "query API listening");
    server
        .run_until_stopped(command_api::shutdown_signal())
        .await
        .context("the query API failed")
}
