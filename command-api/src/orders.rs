//! `/v1/orders`: restaurants order from farmers (aggregate `order`).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use domain::order::{OrderCommand, PlaceOrder};
use event_schemas::OrderLine;
use event_schemas::values::{ActorId, Notes, OrderId, Reason, StockItemId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::execute::{Accepted, CommandAnswer, Effect, Request, execute, new_id};
use crate::json::CommandBody;
use crate::openapi::{CommandHeaders, CommandProblems};
use crate::path::ApiPath;
use crate::request::RequestMeta;
use crate::validate::{self, Fields, positive_quantity};
use crate::wire::AddressBody;
use crate::{ApiError, AppState};

/// The order routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/orders", post(place))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/preparing", post(mark_preparing))
        .route("/orders/{id}/ready-for-pickup", post(mark_ready_for_pickup))
}

/// The order endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(place, cancel, mark_preparing, mark_ready_for_pickup))]
pub struct Doc;

/// A new order, placed with one farmer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"farmer_id": "farmer-ana", "lines": [{"stock_item_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "quantity": 4}], "delivery_address": {"line1": "12 Market Street", "city": "Paris", "postal_code": "75011", "country": "FR"}, "requested_delivery_date": "2026-05-05", "notes": "Back door after 7"}))]
pub struct PlaceOrderRequest {
    /// The new order's id; the server makes a UUIDv7 when absent.
    #[schema(format = Uuid)]
    id: Option<String>,
    /// The restaurant the order is for: required when an admin places an order on a
    /// restaurant's behalf; a restaurant may omit it (it becomes the customer) or name only
    /// itself.
    #[schema(min_length = 1, max_length = 200)]
    customer_id: Option<String>,
    /// The farmer the order is placed with.
    #[schema(min_length = 1, max_length = 200)]
    farmer_id: String,
    /// What is ordered: 1 to 100 lines, each stock item at most once.
    #[schema(min_items = 1, max_items = 100)]
    lines: Vec<OrderLineBody>,
    /// Where to deliver.
    delivery_address: AddressBody,
    /// The day delivery is wanted (`YYYY-MM-DD`).
    #[schema(format = Date)]
    requested_delivery_date: Option<String>,
    /// Free notes for the farmer.
    #[schema(max_length = 2000)]
    notes: Option<String>,
}

/// One line of a new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stock_item_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c", "quantity": 4}))]
pub struct OrderLineBody {
    /// The stock item ordered (one of the farmer's).
    #[schema(format = Uuid)]
    stock_item_id: String,
    /// How many units, in the item's unit.
    #[schema(minimum = 1)]
    quantity: i64,
}

/// A cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "The menu changed"}))]
pub struct CancelOrderRequest {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Starting to prepare a confirmed order (no fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct MarkPreparingRequest {}

/// A prepared order waits for pickup (no fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct MarkReadyForPickupRequest {}

/// Place an order (restaurant: becomes its customer; admin: names `customer_id`).
///
/// The order is recorded `PENDING`; the order process then reserves its lines and confirms
/// or rejects it.
#[utoipa::path(post, operation_id = "placeOrder", path = "/v1/orders", tag = "orders",
    request_body = PlaceOrderRequest, params(CommandHeaders),
    responses((status = 201, description = "Placed", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn place(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<PlaceOrderRequest>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::new();
    let id = f.check_opt("id", body.id.as_deref(), validate::uuid);
    let customer_id = f.check_opt("customer_id", body.customer_id.as_deref(), ActorId::parse);
    let farmer_id = f.check("farmer_id", ActorId::parse(&body.farmer_id));
    let lines: Vec<Option<OrderLine>> = body
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let stock_item_id = f.check(
                &format!("lines[{i}].stock_item_id"),
                validate::uuid(&line.stock_item_id).map(StockItemId::from_uuid),
            );
            let quantity = f.check(
                &format!("lines[{i}].quantity"),
                positive_quantity(line.quantity),
            );
            Some(OrderLine {
                stock_item_id: stock_item_id?,
                quantity: quantity?,
            })
        })
        .collect();
    let delivery_address = body.delivery_address.check("delivery_address", &mut f);
    let requested_delivery_date = f.check_opt(
        "requested_delivery_date",
        body.requested_delivery_date.as_deref(),
        validate::date,
    );
    let notes = f.check_opt("notes", body.notes.as_deref(), Notes::parse);
    let id = id.map(|id| id.unwrap_or_else(|| new_id(&caller, &meta, "order")));
    let command = f.finish(|| {
        Some(OrderCommand::PlaceOrder(PlaceOrder {
            order_id: OrderId::from_uuid(id?),
            customer_id: customer_id?,
            farmer_id: farmer_id?,
            lines: lines.into_iter().collect::<Option<_>>()?,
            delivery_address: delivery_address?,
            requested_delivery_date: requested_delivery_date?,
            notes: notes?,
        }))
    })?;
    let OrderCommand::PlaceOrder(place) = &command else {
        return Err(ApiError::Internal("place built another command".into()));
    };
    let id = place.order_id.to_string();
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.orders,
        &id,
        command,
        request,
        Effect::Creates,
    )
    .await
}

/// Cancel an order before it is in transit (its customer, admin).
#[utoipa::path(post, operation_id = "cancelOrder",
    description = "Its customer or an admin, before it is in transit. Reservations are released (by the order process).", path = "/v1/orders/{id}/cancel", tag = "orders",
    request_body = CancelOrderRequest,
    params(("id" = String, Path, format = Uuid, description = "The order"), CommandHeaders),
    responses((status = 200, description = "Cancelled", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<CancelOrderRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, OrderId::from_uuid)?;
    let mut f = Fields::new();
    let reason = f.check("reason", Reason::parse(&body.reason));
    let command = f.finish(|| Some(OrderCommand::CancelOrder { reason: reason? }))?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.orders,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Start preparing a confirmed order (the order's farmer, admin).
#[utoipa::path(post, operation_id = "markOrderPreparing",
    description = "The farmer the order is placed with, or an admin; the order must be CONFIRMED.", path = "/v1/orders/{id}/preparing", tag = "orders",
    request_body = MarkPreparingRequest,
    params(("id" = String, Path, format = Uuid, description = "The order"), CommandHeaders),
    responses((status = 200, description = "Preparing", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn mark_preparing(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body: _, json }: CommandBody<MarkPreparingRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, OrderId::from_uuid)?;
    let command = OrderCommand::MarkPreparing;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.orders,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Say a prepared order waits for pickup (the order's farmer, admin).
#[utoipa::path(post, operation_id = "markOrderReadyForPickup",
    description = "The farmer the order is placed with, or an admin; the order must be PREPARING. A delivery is then scheduled (by the delivery process).", path = "/v1/orders/{id}/ready-for-pickup", tag = "orders",
    request_body = MarkReadyForPickupRequest,
    params(("id" = String, Path, format = Uuid, description = "The order"), CommandHeaders),
    responses((status = 200, description = "Ready for pickup", body = CommandAnswer),
        CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn mark_ready_for_pickup(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body: _, json }: CommandBody<MarkReadyForPickupRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, OrderId::from_uuid)?;
    let command = OrderCommand::MarkReadyForPickup;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.orders,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}
