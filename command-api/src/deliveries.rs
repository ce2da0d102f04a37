//! `/v1/deliveries`: distributors carry orders from the farm to the restaurant (aggregate
//! `delivery`).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use domain::delivery::{DeliveryCommand, ScheduleDelivery};
use event_schemas::DeliveryWindow;
use event_schemas::values::{
    ActorId, DeliveryId, GeoPoint, Latitude, Longitude, OrderId, ProofRef, Reason, RecipientName,
    Vehicle,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::execute::{Accepted, CommandAnswer, Effect, Request, execute, new_id};
use crate::json::CommandBody;
use crate::openapi::{CommandHeaders, CommandProblems};
use crate::path::ApiPath;
use crate::request::RequestMeta;
use crate::validate::{self, Fields};
use crate::wire::AddressBody;
use crate::{ApiError, AppState};

/// The delivery routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/deliveries", post(schedule))
        .route("/deliveries/{id}/assign", post(assign))
        .route("/deliveries/{id}/pickup", post(pick_up))
        .route("/deliveries/{id}/location", post(update_location))
        .route("/deliveries/{id}/complete", post(complete))
        .route("/deliveries/{id}/fail", post(fail))
}

/// The delivery endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(schedule, assign, pick_up, update_location, complete, fail))]
pub struct Doc;

/// A new delivery of an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"order_id": "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b", "pickup_address": {"line1": "1 Farm Road", "city": "Montreuil", "postal_code": "93100", "country": "FR"}, "dropoff_address": {"line1": "12 Market Street", "city": "Paris", "postal_code": "75011", "country": "FR"}, "window_start": "2026-05-04T08:00:00Z", "window_end": "2026-05-04T10:00:00Z"}))]
pub struct ScheduleDeliveryRequest {
    /// The new delivery's id; the server makes a UUIDv7 when absent.
    #[schema(format = Uuid)]
    id: Option<String>,
    /// The order to carry.
    #[schema(format = Uuid)]
    order_id: String,
    /// Where the driver picks the goods up.
    pickup_address: AddressBody,
    /// Where the driver delivers them.
    dropoff_address: AddressBody,
    /// The earliest time to deliver (RFC 3339).
    #[schema(format = DateTime)]
    window_start: String,
    /// The latest time to deliver (RFC 3339); must be after `window_start`.
    #[schema(format = DateTime)]
    window_end: String,
}

/// Taking a delivery.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"vehicle": "Van 12"}))]
pub struct AssignDriverRequest {
    /// The driver: a distributor may omit it or name only itself; an admin must name one.
    #[schema(min_length = 1, max_length = 200)]
    driver_id: Option<String>,
    /// The vehicle, e.g. a plate number.
    #[schema(min_length = 1, max_length = 100)]
    vehicle: Option<String>,
}

/// The goods were picked up (no fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct PickUpRequest {}

/// A position report of the driver.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lat": 48.8566, "lon": 2.3522, "recorded_at": "2026-05-04T08:30:00Z", "eta": "2026-05-04T09:00:00Z"}))]
pub struct UpdateLocationRequest {
    /// Latitude in decimal degrees.
    #[schema(minimum = -90.0, maximum = 90.0)]
    lat: f64,
    /// Longitude in decimal degrees.
    #[schema(minimum = -180.0, maximum = 180.0)]
    lon: f64,
    /// When the position was taken (RFC 3339); must be later than the last one reported.
    #[schema(format = DateTime)]
    recorded_at: String,
    /// The expected arrival (RFC 3339).
    #[schema(format = DateTime)]
    eta: Option<String>,
}

/// The hand-over of the goods.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"recipient_name": "Chef Marie", "proof_ref": "signature-0042", "delivered_at": "2026-05-04T09:05:00Z"}))]
pub struct CompleteDeliveryRequest {
    /// Who received them.
    #[schema(min_length = 1, max_length = 200)]
    recipient_name: String,
    /// A proof of delivery (a photo or signature id).
    #[schema(min_length = 1, max_length = 500)]
    proof_ref: Option<String>,
    /// When they were handed over (RFC 3339).
    #[schema(format = DateTime)]
    delivered_at: String,
}

/// Giving up on a delivery.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "The restaurant was closed"}))]
pub struct FailDeliveryRequest {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Schedule a delivery of an order (admin).
#[utoipa::path(post, operation_id = "scheduleDelivery",
    description = "Admins only; the delivery process schedules the deliveries of orders ready for pickup by itself. Answers 201 with the new delivery.", path = "/v1/deliveries", tag = "deliveries",
    request_body = ScheduleDeliveryRequest, params(CommandHeaders),
    responses((status = 201, description = "Scheduled", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn schedule(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ScheduleDeliveryRequest>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::new();
    let id = f.check_opt("id", body.id.as_deref(), validate::uuid);
    let order_id = f.check(
        "order_id",
        validate::uuid(&body.order_id).map(OrderId::from_uuid),
    );
    let pickup_address = body.pickup_address.check("pickup_address", &mut f);
    let dropoff_address = body.dropoff_address.check("dropoff_address", &mut f);
    let window_start = f.check("window_start", validate::time(&body.window_start));
    let window_end = f.check("window_end", validate::time(&body.window_end));
    let id = id.map(|id| id.unwrap_or_else(|| new_id(&caller, &meta, "delivery")));
    let command = f.finish(|| {
        Some(DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
            delivery_id: DeliveryId::from_uuid(id?),
            order_id: order_id?,
            pickup_address: Some(pickup_address?),
            dropoff_address: dropoff_address?,
            window: DeliveryWindow {
                start: window_start?,
                end: window_end?,
            },
        }))
    })?;
    let DeliveryCommand::ScheduleDelivery(schedule) = &command else {
        return Err(ApiError::Internal("schedule built another command".into()));
    };
    let id = schedule.delivery_id.to_string();
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.deliveries,
        &id,
        command,
        request,
        Effect::Creates,
    )
    .await
}

/// Take a delivery (a distributor assigns itself; an admin names the driver).
#[utoipa::path(post, operation_id = "assignDelivery",
    description = "A distributor assigns itself (an admin names the driver). Refused once the delivery has a driver.", path = "/v1/deliveries/{id}/assign", tag = "deliveries",
    request_body = AssignDriverRequest,
    params(("id" = String, Path, format = Uuid, description = "The delivery"), CommandHeaders),
    responses((status = 200, description = "Assigned", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn assign(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<AssignDriverRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, DeliveryId::from_uuid)?;
    let mut f = Fields::new();
    let driver_id = f.check_opt("driver_id", body.driver_id.as_deref(), ActorId::parse);
    let vehicle = f.check_opt("vehicle", body.vehicle.as_deref(), Vehicle::parse);
    let command = f.finish(|| {
        Some(DeliveryCommand::AssignDriver {
            driver_id: driver_id?,
            vehicle: vehicle?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.deliveries,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Pick the goods up; the order goes in transit (the assigned driver, admin).
#[utoipa::path(post, operation_id = "pickUpDelivery",
    description = "The assigned driver or an admin. The order goes IN_TRANSIT (by the delivery process).", path = "/v1/deliveries/{id}/pickup", tag = "deliveries",
    request_body = PickUpRequest,
    params(("id" = String, Path, format = Uuid, description = "The delivery"), CommandHeaders),
    responses((status = 200, description = "Picked up", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn pick_up(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body: _, json }: CommandBody<PickUpRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, DeliveryId::from_uuid)?;
    let command = DeliveryCommand::PickUp;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.deliveries,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Report the driver's position; one older than the last is refused (the assigned driver).
#[utoipa::path(post, operation_id = "updateDeliveryLocation",
    description = "The assigned driver. A position taken before the last one recorded is refused (409).", path = "/v1/deliveries/{id}/location", tag = "deliveries",
    request_body = UpdateLocationRequest,
    params(("id" = String, Path, format = Uuid, description = "The delivery"), CommandHeaders),
    responses((status = 200, description = "Recorded", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn update_location(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<UpdateLocationRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, DeliveryId::from_uuid)?;
    let mut f = Fields::new();
    let lat = f.check("lat", Latitude::new(body.lat));
    let lon = f.check("lon", Longitude::new(body.lon));
    let recorded_at = f.check("recorded_at", validate::time(&body.recorded_at));
    let eta = f.check_opt("eta", body.eta.as_deref(), validate::time);
    let command = f.finish(|| {
        Some(DeliveryCommand::UpdateLocation {
            location: GeoPoint {
                lat: lat?,
                lon: lon?,
            },
            recorded_at: recorded_at?,
            eta: eta?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.deliveries,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Hand the goods over; the order is delivered (the assigned driver, admin).
#[utoipa::path(post, operation_id = "completeDelivery",
    description = "The assigned driver or an admin. The order becomes DELIVERED and its stock reservations are committed (by the processes).", path = "/v1/deliveries/{id}/complete", tag = "deliveries",
    request_body = CompleteDeliveryRequest,
    params(("id" = String, Path, format = Uuid, description = "The delivery"), CommandHeaders),
    responses((status = 200, description = "Delivered", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn complete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<CompleteDeliveryRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, DeliveryId::from_uuid)?;
    let mut f = Fields::new();
    let recipient_name = f.check("recipient_name", RecipientName::parse(&body.recipient_name));
    let proof_ref = f.check_opt("proof_ref", body.proof_ref.as_deref(), ProofRef::parse);
    let delivered_at = f.check("delivered_at", validate::time(&body.delivered_at));
    let command = f.finish(|| {
        Some(DeliveryCommand::CompleteDelivery {
            recipient_name: recipient_name?,
            proof_ref: proof_ref?,
            delivered_at: delivered_at?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.deliveries,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Give up on a delivery (the assigned driver, admin).
#[utoipa::path(post, operation_id = "failDelivery",
    description = "The assigned driver or an admin, once picked up. The order waits at the farm again and gets a new delivery, at most three in all.", path = "/v1/deliveries/{id}/fail", tag = "deliveries",
    request_body = FailDeliveryRequest,
    params(("id" = String, Path, format = Uuid, description = "The delivery"), CommandHeaders),
    responses((status = 200, description = "Failed", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn fail(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<FailDeliveryRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, DeliveryId::from_uuid)?;
    let mut f = Fields::new();
    let reason = f.check("reason", Reason::parse(&body.reason));
    let command = f.finish(|| Some(DeliveryCommand::FailDelivery { reason: reason? }))?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.deliveries,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}
