//! `/v1/stock-items`: farmers list lots of produce and manage them (aggregate `stock`).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use domain::stock::{RegisterStockItem, StockCommand};
use event_schemas::values::{
    ActorId, Category, Certification, InspectionId, ProductName, PurchaseId, QualityGrade,
    QuantityDelta, Reason, StockItemId, Unit,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::execute::{Accepted, CommandAnswer, Effect, Request, execute, new_id};
use crate::json::CommandBody;
use crate::openapi::{CommandHeaders, CommandProblems};
use crate::path::ApiPath;
use crate::request::RequestMeta;
use crate::validate::{self, Fields, cents, positive_quantity, quantity};
use crate::wire::{self, CATEGORIES, GRADES, UNITS};
use crate::{ApiError, AppState};

/// The stock item routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stock-items", post(register))
        .route("/stock-items/{id}/receive", post(receive))
        .route("/stock-items/{id}/adjust", post(adjust))
        .route("/stock-items/{id}/price", post(change_price))
        .route("/stock-items/{id}/quarantine", post(quarantine))
        .route(
            "/stock-items/{id}/release-quarantine",
            post(release_quarantine),
        )
}

/// The stock item endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    receive,
    adjust,
    change_price,
    quarantine,
    release_quarantine
))]
pub struct Doc;

/// A new stock item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_name": "Heirloom tomatoes", "category": "vegetables", "unit": "kg", "unit_price_cents": 450, "quality_grade": "A", "harvest_date": "2026-04-29", "certifications": ["organic"], "low_stock_threshold": 5, "initial_quantity": 120}))]
pub struct RegisterStockItemRequest {
    /// The new item's id; the server makes a UUIDv7 when absent.
    #[schema(format = Uuid)]
    id: Option<String>,
    /// The owning farmer: required when an admin registers, else the caller itself.
    #[schema(min_length = 1, max_length = 200)]
    farmer_id: Option<String>,
    /// What it is called.
    #[schema(min_length = 1, max_length = 200)]
    product_name: String,
    /// What kind of produce.
    #[schema(schema_with = wire::category_schema)]
    category: String,
    /// The unit quantities count in.
    #[schema(schema_with = wire::unit_schema)]
    unit: String,
    /// The price of one unit, in cents.
    #[schema(minimum = 0)]
    unit_price_cents: i64,
    /// The quality grade.
    #[schema(schema_with = wire::grade_schema)]
    quality_grade: String,
    /// When it was harvested (`YYYY-MM-DD`).
    #[schema(format = Date)]
    harvest_date: Option<String>,
    /// Certifications it holds (each 1 to 100 characters).
    #[serde(default)]
    #[schema(inline, value_type = Vec<String>)]
    certifications: Vec<String>,
    /// Available at or below this is low stock.
    #[schema(minimum = 0)]
    low_stock_threshold: i64,
    /// Units on hand to start with.
    #[schema(minimum = 0)]
    initial_quantity: i64,
}

/// Units received.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": 30}))]
pub struct ReceiveStockRequest {
    /// How many units arrived.
    #[schema(minimum = 1)]
    quantity: i64,
    /// The purchase they came from.
    #[schema(format = Uuid)]
    purchase_id: Option<String>,
}

/// A correction of on hand.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"delta": -3, "reason": "Bruised in storage"}))]
pub struct AdjustStockRequest {
    /// The signed change, not zero; on hand never goes below what is reserved.
    #[schema(minimum = -1_000_000_000_000_i64, maximum = 1_000_000_000_000_i64)]
    delta: i64,
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// A new unit price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"unit_price_cents": 480}))]
pub struct ChangePriceRequest {
    /// The new price of one unit, in cents.
    #[schema(minimum = 0)]
    unit_price_cents: i64,
}

/// A quarantine.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Mould found on the crates"}))]
pub struct QuarantineRequest {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
    /// The inspection that found the problem.
    #[schema(format = Uuid)]
    inspection_id: Option<String>,
}

/// The end of a quarantine.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Retested clean"}))]
pub struct ReleaseQuarantineRequest {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Register a stock item (farmer: becomes its owner; admin: names `farmer_id`).
#[utoipa::path(post, operation_id = "registerStockItem",
    description = "A farmer registers its own item; an admin names the farmer. Answers 201 with the new item.", path = "/v1/stock-items", tag = "stock",
    request_body = RegisterStockItemRequest, params(CommandHeaders),
    responses((status = 201, description = "Registered", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn register(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<RegisterStockItemRequest>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::new();
    let id = f.check_opt("id", body.id.as_deref(), validate::uuid);
    let farmer_id = f.check_opt("farmer_id", body.farmer_id.as_deref(), ActorId::parse);
    let product_name = f.check("product_name", ProductName::parse(&body.product_name));
    let category = f.check(
        "category",
        wire::one_of::<Category>(&body.category, CATEGORIES),
    );
    let unit = f.check("unit", wire::one_of::<Unit>(&body.unit, UNITS));
    let unit_price_cents = f.check("unit_price_cents", cents(body.unit_price_cents));
    let quality_grade = f.check(
        "quality_grade",
        wire::one_of::<QualityGrade>(&body.quality_grade, GRADES),
    );
    let harvest_date = f.check_opt("harvest_date", body.harvest_date.as_deref(), validate::date);
    let certifications: Vec<Option<Certification>> = body
        .certifications
        .iter()
        .enumerate()
        .map(|(i, c)| f.check(&format!("certifications[{i}]"), Certification::parse(c)))
        .collect();
    let low_stock_threshold = f.check("low_stock_threshold", quantity(body.low_stock_threshold));
    let initial_quantity = f.check("initial_quantity", quantity(body.initial_quantity));
    let id = id.map(|id| id.unwrap_or_else(|| new_id(&caller, &meta, "stock")));
    let command = f.finish(|| {
        Some(StockCommand::RegisterStockItem(RegisterStockItem {
            stock_item_id: StockItemId::from_uuid(id?),
            farmer_id: farmer_id?,
            product_name: product_name?,
            category: category?,
            unit: unit?,
            unit_price_cents: unit_price_cents?,
            quality_grade: quality_grade?,
            harvest_date: harvest_date?,
            certifications: certifications.into_iter().collect::<Option<_>>()?,
            low_stock_threshold: low_stock_threshold?,
            initial_quantity: initial_quantity?,
        }))
    })?;
    let StockCommand::RegisterStockItem(register) = &command else {
        return Err(ApiError::Internal("register built another command".into()));
    };
    let id = register.stock_item_id.to_string();
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.stock,
        &id,
        command,
        request,
        Effect::Creates,
    )
    .await
}

/// Add units that arrived (owner, admin).
#[utoipa::path(post, operation_id = "receiveStock",
    description = "The owner or an admin.", path = "/v1/stock-items/{id}/receive", tag = "stock",
    request_body = ReceiveStockRequest,
    params(("id" = String, Path, format = Uuid, description = "The stock item"), CommandHeaders),
    responses((status = 200, description = "Received", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn receive(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ReceiveStockRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, StockItemId::from_uuid)?;
    let mut f = Fields::new();
    let quantity = f.check("quantity", positive_quantity(body.quantity));
    let purchase_id = f.check_opt("purchase_id", body.purchase_id.as_deref(), |raw| {
        validate::uuid(raw).map(PurchaseId::from_uuid)
    });
    let command = f.finish(|| {
        Some(StockCommand::ReceiveStock {
            quantity: quantity?,
            purchase_id: purchase_id?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.stock,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Correct on hand; never below what is reserved (owner, admin).
#[utoipa::path(post, operation_id = "adjustStock",
    description = "The owner or an admin; on hand never goes below what is reserved.", path = "/v1/stock-items/{id}/adjust", tag = "stock",
    request_body = AdjustStockRequest,
    params(("id" = String, Path, format = Uuid, description = "The stock item"), CommandHeaders),
    responses((status = 200, description = "Adjusted", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn adjust(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<AdjustStockRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, StockItemId::from_uuid)?;
    let mut f = Fields::new();
    let delta = f.check("delta", QuantityDelta::new(body.delta));
    let reason = f.check("reason", Reason::parse(&body.reason));
    let command = f.finish(|| {
        Some(StockCommand::AdjustStock {
            delta: delta?,
            reason: reason?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.stock,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Set a new unit price (owner, admin).
#[utoipa::path(post, operation_id = "changePrice",
    description = "The owner or an admin; confirmed orders keep the price they were confirmed at.", path = "/v1/stock-items/{id}/price", tag = "stock",
    request_body = ChangePriceRequest,
    params(("id" = String, Path, format = Uuid, description = "The stock item"), CommandHeaders),
    responses((status = 200, description = "Price set", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn change_price(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ChangePriceRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, StockItemId::from_uuid)?;
    let mut f = Fields::new();
    let unit_price_cents = f.check("unit_price_cents", cents(body.unit_price_cents));
    let command = f.finish(|| {
        Some(StockCommand::ChangePrice {
            unit_price_cents: unit_price_cents?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.stock,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Block new reservations (inspector, admin).
#[utoipa::path(post, operation_id = "quarantineStock",
    description = "An inspector or an admin; a quarantined item takes no new reservations.", path = "/v1/stock-items/{id}/quarantine", tag = "stock",
    request_body = QuarantineRequest,
    params(("id" = String, Path, format = Uuid, description = "The stock item"), CommandHeaders),
    responses((status = 200, description = "Quarantined", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn quarantine(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<QuarantineRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, StockItemId::from_uuid)?;
    let mut f = Fields::new();
    let reason = f.check("reason", Reason::parse(&body.reason));
    let inspection_id = f.check_opt("inspection_id", body.inspection_id.as_deref(), |raw| {
        validate::uuid(raw).map(InspectionId::from_uuid)
    });
    let command = f.finish(|| {
        Some(StockCommand::QuarantineStock {
            reason: reason?,
            inspection_id: inspection_id?,
            // A client's quarantine names the item itself; only the inspection process
            // asks on behalf of an inspected farm.
            inspected_farmer_id: None,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.stock,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Lift a quarantine (inspector, admin).
#[utoipa::path(post, operation_id = "releaseQuarantine",
    description = "An inspector or an admin.", path = "/v1/stock-items/{id}/release-quarantine", tag = "stock",
    request_body = ReleaseQuarantineRequest,
    params(("id" = String, Path, format = Uuid, description = "The stock item"), CommandHeaders),
    responses((status = 200, description = "Released", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn release_quarantine(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ReleaseQuarantineRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, StockItemId::from_uuid)?;
    let mut f = Fields::new();
    let reason = f.check("reason", Reason::parse(&body.reason));
    let command = f.finish(|| {
        Some(StockCommand::ReleaseQuarantine {
            reason: reason?,
            inspection_id: None,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.stock,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}
