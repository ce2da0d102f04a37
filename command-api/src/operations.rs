//! Operations endpoints: liveness, readiness, metrics and the OpenAPI document.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::{ApiError, AppState};

/// `/health`, `/ready`, `/metrics`, `/openapi.json`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The process is up.
#[utoipa::path(get, operation_id = "getHealth",
    description = "Liveness: answers while the process runs, whatever the store.", path = "/health", tag = "operations",
    responses((status = 200, description = "The process is up")))]
async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The store is reachable and migrated.
#[utoipa::path(get, operation_id = "getReadiness",
    description = "Readiness: the event store answers and its migrations are applied; 503 otherwise.", path = "/ready", tag = "operations", responses(
    (status = 200, description = "Ready to take commands"),
    (status = 503, description = "The store is unreachable or not migrated",
        body = crate::problem::Problem, content_type = "application/problem+json"),
))]
async fn ready(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store.ready().await.map_err(|error| {
        tracing::warn!(%error, "not ready");
        ApiError::Unavailable
    })?;
    Ok(Json(
        json!({ "status": "ready", "store": state.store.backend_name() }),
    ))
}

/// Prometheus metrics.
#[utoipa::path(get, operation_id = "getMetrics",
    description = "Prometheus metrics in text format: requests by route and status, latencies, conflicts, projector positions and lag.", path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, operation_id = "getOpenApiDocument",
    description = "This OpenAPI 3.1 document, from which clients are generated.", path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document")))]
async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document_json())
}
