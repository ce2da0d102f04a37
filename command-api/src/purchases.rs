//! `/v1/purchases`: restocking from suppliers through carriers (aggregate `purchase`). PLACEHOLDER: replaced by the resource's author.

use axum::Router;

use crate::AppState;

/// The purchases routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The purchases endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct Doc;
