//! `/v1/orders`: restaurants order from farmers (aggregate `order`). PLACEHOLDER: replaced by the resource's author.

use axum::Router;

use crate::AppState;

/// The orders routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The orders endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct Doc;
