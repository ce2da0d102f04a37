//! `/v1/inspections`: inspectors audit farms (aggregate `inspection`). PLACEHOLDER: replaced by the resource's author.

use axum::Router;

use crate::AppState;

/// The inspections routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The inspections endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct Doc;
