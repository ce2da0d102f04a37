//! Assembles the router (routes, limits, timeouts, request ids, tracing, metrics) and serves it
//! until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::middleware;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use uuid::Uuid;

use crate::json::BODY_LIMIT;
use crate::request::{CORRELATION_ID, REQUEST_ID, drop_invalid_request_id};
use crate::{
    ApiError, AppState, deliveries, inspections, metrics, operations, orders, purchases,
    stock_items,
};

/// How long a request may take before it is answered 503.
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
    let routes = Router::new()
        .nest("/v1", command_routes())
        .merge(operations::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    with_layers(routes, request_timeout)
}

/// Wraps `routes` in the layers every request goes through.
pub fn with_layers(routes: Router, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    routes
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError::Timeout
                }))
                .timeout(request_timeout),
        )
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

/// A bound listener and the router it will serve: `bind`, then `port`, then
/// `run_until_stopped` (tests bind port 0).
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// Binds `address` (e.g. `127.0.0.1:0`).
    pub async fn bind(address: &str, router: Router) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(address).await?,
            router,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        // Answers are small: send them at once rather than wait to fill a segment.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
