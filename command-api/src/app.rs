//! Assembles the router: routes, limits, timeouts, request ids, tracing, metrics.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware;
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::json::BODY_LIMIT;
use crate::request::{CORRELATION_ID, REQUEST_ID, drop_invalid_request_id};
use crate::{
    ApiError, AppState, deadline, deliveries, inspections, metrics, operations, orders, purchases,
    stock_items,
};

/// How long a request may take before it is answered 503 (unless its append was sent: then
/// its outcome is the answer).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The command routes under `/v1`, without state or layers (for composing with other parts).
pub fn command_routes() -> Router<AppState> {
    Router::new()
        .merge(stock_items::routes())
        .merge(orders::routes())
        .merge(deliveries::routes())
        .merge(inspections::routes())
        .merge(purchases::routes())
}

/// The whole command API: `/v1/...` commands and the operations endpoints, with every layer.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    with_layers(routes(state), request_timeout)
}

/// The command API with `beside` (GraphQL) merged in, every route behind the same layers: body
/// limit, deadline, metrics, tracing.
pub fn router_beside(state: AppState, request_timeout: Duration, beside: Router) -> Router {
    with_layers(routes(state).merge(beside), request_timeout)
}

/// The command API's routes without the layers, to merge others beside them (GraphQL) before
/// [`with_layers`] wraps them all.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .nest("/v1", command_routes())
        .merge(operations::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Wraps `routes` in the layers every request goes through.
pub fn with_layers(routes: Router, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    routes
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            request_timeout,
            deadline::enforce,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let header = |name: &str| {
                    request
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = %header(REQUEST_ID),
                    correlation_id = %header(CORRELATION_ID),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeUuidV7))
        .layer(middleware::map_request(drop_invalid_request_id))
}

/// Request ids are UUIDv7 (time-ordered, like event ids).
#[derive(Clone, Copy)]
struct MakeUuidV7;

impl MakeRequestId for MakeUuidV7 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        Uuid::now_v7().to_string().parse().ok().map(RequestId::new)
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

async fn method_not_allowed() -> impl IntoResponse {
    let problem = crate::problem::Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method",
    );
    problem.into_response()
}
