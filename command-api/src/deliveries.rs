//! `/v1/deliveries`: distributors carry orders (aggregate `delivery`). PLACEHOLDER: replaced by the resource's author.

use axum::Router;

use crate::AppState;

/// The deliveries routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The deliveries endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct Doc;
