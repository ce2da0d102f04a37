//! supplyline's HTTP write side: every command endpoint of the contract (API.md "Command API")
//! over axum, with JWT authentication, field-level validation, idempotency keys, `If-Match`,
//! problem+json errors, metrics and an OpenAPI 3.1 document.
//!
//! A handler extracts (caller, headers, body), converts the body into a domain command,
//! makes one call to the aggregate's executor (load -> decide -> append, retried on a
//! concurrent write) and answers `{id, version, position}`. Ownership is decided by the
//! aggregate from its own events; errors become HTTP statuses in one place ([`ApiError`]).

mod app;
mod auth;
mod deadline;
mod deliveries;
mod error;
mod execute;
mod inspections;
mod json;
mod metrics;
mod openapi;
mod operations;
mod orders;
mod path;
mod problem;
mod purchases;
mod rate_limit;
mod request;
mod server;
mod state;
mod stock_items;
mod validate;
mod verified_tokens;
mod wire;

pub use app::{
    DEFAULT_REQUEST_TIMEOUT, command_routes, router, router_beside, routes, with_layers,
};
pub use auth::{
    AuthConfigError, Authenticator, Caller, Claims, DEFAULT_JWT_LEEWAY, JwtConfig, JwtKey,
    MIN_SECRET_BYTES, is_reserved, mint_token,
};
pub use error::ApiError;
pub use execute::CommandAnswer;
pub use metrics::prometheus;
pub use openapi::{ApiDoc, document as openapi_document};
pub use problem::{FieldError, Problem};
pub use rate_limit::{DEFAULT_PER_ACTOR_PER_SECOND, RateLimit};
pub use server::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Server,
    ServerLimits, shutdown_signal,
};
pub use state::{AppState, DEFAULT_IDEMPOTENCY_TTL};
