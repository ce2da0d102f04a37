//! `/v1/purchases`: farmers restock their stock items from suppliers through carriers
//! (aggregate `purchase`).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use domain::purchase::PurchaseCommand;
use event_schemas::values::{
    CarrierId, PurchaseId, Reason, StockItemId, SupplierId, SupplierOrderRef, TrackingRef,
    VoucherCode,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::execute::{Accepted, CommandAnswer, Effect, Request, execute, new_id};
use crate::json::CommandBody;
use crate::openapi::{CommandHeaders, CommandProblems};
use crate::path::ApiPath;
use crate::request::RequestMeta;
use crate::validate::{self, Fields, cents, positive_quantity};
use crate::{ApiError, AppState};

/// The purchase routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/purchases", post(create))
        .route(
            "/purchases/{id}/supplier-order",
            post(request_supplier_order),
        )
        .route("/purchases/{id}/carrier-reservation", post(reserve_carrier))
        .route("/purchases/{id}/receive", post(receive_goods))
        .route("/purchases/{id}/cancel", post(cancel))
}

/// The purchase endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create, request_supplier_order, reserve_carrier, receive_goods, cancel))]
pub struct Doc;

/// A new purchase restocking a stock item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stock_item_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "supplier_id": "seed-co", "quantity": 40, "unit_cost_cents": 120, "voucher_code": "SPRING10"}))]
pub struct CreatePurchaseRequest {
    /// The new purchase's id; the server makes a UUIDv7 when absent.
    #[schema(format = Uuid)]
    id: Option<String>,
    /// The stock item to restock; the caller must own it (or be an admin).
    #[schema(format = Uuid)]
    stock_item_id: String,
    /// The supplier bought from.
    #[schema(min_length = 1, max_length = 100)]
    supplier_id: String,
    /// How many units, in the stock item's unit.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    quantity: i64,
    /// What one unit costs, in cents.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    unit_cost_cents: i64,
    /// A discount voucher, if any.
    #[schema(min_length = 1, max_length = 50)]
    voucher_code: Option<String>,
}

/// The order placed with the supplier.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"supplier_order_ref": "SO-881"}))]
pub struct RequestSupplierOrderRequest {
    /// The supplier's reference for the order.
    #[schema(min_length = 1, max_length = 100)]
    supplier_order_ref: String,
}

/// The carrier reserved to bring the goods.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"carrier_id": "fast-freight", "tracking_ref": "FF-20260504-17", "eta": "2026-05-06T14:00:00+02:00"}))]
pub struct ReserveCarrierRequest {
    /// The carrier.
    #[schema(min_length = 1, max_length = 100)]
    carrier_id: String,
    /// The carrier's tracking reference.
    #[schema(min_length = 1, max_length = 100)]
    tracking_ref: String,
    /// When the goods are expected (RFC 3339).
    #[schema(format = DateTime)]
    eta: String,
}

/// The goods' arrival.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity_received": 40}))]
pub struct ReceiveGoodsRequest {
    /// How many units arrived; they are added to the stock item.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    quantity_received: i64,
}

/// The abandonment of a purchase.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "The supplier is out of seed"}))]
pub struct CancelPurchaseRequest {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Start restocking a stock item (its owner, admin).
#[utoipa::path(post, operation_id = "createPurchase",
    description = "The stock item's owner, or an admin. Answers 201 with the new purchase.", path = "/v1/purchases", tag = "purchases",
    request_body = CreatePurchaseRequest, params(CommandHeaders),
    responses((status = 201, description = "Created", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<CreatePurchaseRequest>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::new();
    let id = f.check_opt("id", body.id.as_deref(), validate::uuid);
    let stock_item_id = f.check(
        "stock_item_id",
        validate::uuid(&body.stock_item_id).map(StockItemId::from_uuid),
    );
    let supplier_id = f.check("supplier_id", SupplierId::parse(&body.supplier_id));
    let quantity = f.check("quantity", positive_quantity(body.quantity));
    let unit_cost_cents = f.check("unit_cost_cents", cents(body.unit_cost_cents));
    let voucher_code = f.check_opt(
        "voucher_code",
        body.voucher_code.as_deref(),
        VoucherCode::parse,
    );
    let id = id
        .map(|id| PurchaseId::from_uuid(id.unwrap_or_else(|| new_id(&caller, &meta, "purchase"))));
    let (id, command) = f.finish(|| {
        let purchase_id = id?;
        let command = PurchaseCommand::CreatePurchase {
            purchase_id,
            stock_item_id: stock_item_id?,
            supplier_id: supplier_id?,
            quantity: quantity?,
            unit_cost_cents: unit_cost_cents?,
            voucher_code: voucher_code?,
        };
        Some((purchase_id, command))
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.purchases,
        &id.to_string(),
        command,
        request,
        Effect::Creates,
    )
    .await
}

/// Record the order placed with the supplier (owner, admin).
#[utoipa::path(post, operation_id = "requestSupplierOrder",
    description = "The stock item's owner, or an admin.", path = "/v1/purchases/{id}/supplier-order", tag = "purchases",
    request_body = RequestSupplierOrderRequest,
    params(("id" = String, Path, format = Uuid, description = "The purchase"), CommandHeaders),
    responses((status = 200, description = "Ordered", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn request_supplier_order(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<RequestSupplierOrderRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, PurchaseId::from_uuid)?;
    let mut f = Fields::new();
    let supplier_order_ref = f.check(
        "supplier_order_ref",
        SupplierOrderRef::parse(&body.supplier_order_ref),
    );
    let command = f.finish(|| {
        Some(PurchaseCommand::RequestSupplierOrder {
            supplier_order_ref: supplier_order_ref?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.purchases,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Record the carrier reserved to bring the goods (owner, admin).
#[utoipa::path(post, operation_id = "reserveCarrier",
    description = "The stock item's owner, or an admin, after the supplier order.", path = "/v1/purchases/{id}/carrier-reservation", tag = "purchases",
    request_body = ReserveCarrierRequest,
    params(("id" = String, Path, format = Uuid, description = "The purchase"), CommandHeaders),
    responses((status = 200, description = "Carrier reserved", body = CommandAnswer),
        CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn reserve_carrier(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ReserveCarrierRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, PurchaseId::from_uuid)?;
    let mut f = Fields::new();
    let carrier_id = f.check("carrier_id", CarrierId::parse(&body.carrier_id));
    let tracking_ref = f.check("tracking_ref", TrackingRef::parse(&body.tracking_ref));
    let eta = f.check("eta", validate::time(&body.eta));
    let command = f.finish(|| {
        Some(PurchaseCommand::ReserveCarrier {
            carrier_id: carrier_id?,
            tracking_ref: tracking_ref?,
            eta: eta?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.purchases,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Record the goods' arrival, which completes the purchase and adds the units to the stock
/// item (owner, admin).
#[utoipa::path(post, operation_id = "receiveGoods",
    description = "The stock item's owner, or an admin. The quantity received is added to the stock item (by the purchase process).", path = "/v1/purchases/{id}/receive", tag = "purchases",
    request_body = ReceiveGoodsRequest,
    params(("id" = String, Path, format = Uuid, description = "The purchase"), CommandHeaders),
    responses((status = 200, description = "Received and completed", body = CommandAnswer),
        CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn receive_goods(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ReceiveGoodsRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, PurchaseId::from_uuid)?;
    let mut f = Fields::new();
    let quantity_received = f.check(
        "quantity_received",
        positive_quantity(body.quantity_received),
    );
    let command = f.finish(|| {
        Some(PurchaseCommand::ReceiveGoods {
            quantity_received: quantity_received?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.purchases,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Abandon a purchase before its goods arrive (owner, admin).
#[utoipa::path(post, operation_id = "cancelPurchase",
    description = "The stock item's owner, or an admin; not once the goods are received.", path = "/v1/purchases/{id}/cancel", tag = "purchases",
    request_body = CancelPurchaseRequest,
    params(("id" = String, Path, format = Uuid, description = "The purchase"), CommandHeaders),
    responses((status = 200, description = "Cancelled", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<CancelPurchaseRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, PurchaseId::from_uuid)?;
    let mut f = Fields::new();
    let reason = f.check("reason", Reason::parse(&body.reason));
    let command = f.finish(|| Some(PurchaseCommand::CancelPurchase { reason: reason? }))?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.purchases,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}
