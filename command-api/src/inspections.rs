//! `/v1/inspections`: inspectors audit farms (aggregate `inspection`).

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use domain::inspection::InspectionCommand;
use event_schemas::values::{
    ActorId, Description, InspectionId, Notes, Resolution, Score, Severity, StockItemId,
    ViolationCode, ViolationId,
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
use crate::wire::{self, SEVERITIES};
use crate::{ApiError, AppState};

/// The inspection routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/inspections", post(schedule))
        .route("/inspections/{id}/start", post(start))
        .route("/inspections/{id}/violations", post(record_violation))
        .route("/inspections/{id}/complete", post(complete))
        .route(
            "/inspections/{id}/violations/{violation_id}/resolve",
            post(resolve_violation),
        )
}

/// The inspection endpoints' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(schedule, start, record_violation, complete, resolve_violation))]
pub struct Doc;

/// A new inspection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"farmer_id": "farmer-ana", "inspector_id": "inspector-lee", "scheduled_for": "2026-05-04T09:00:00Z"}))]
pub struct ScheduleInspectionRequest {
    /// The new inspection's id; the server makes a UUIDv7 when absent.
    #[schema(format = Uuid)]
    id: Option<String>,
    /// The farmer whose farm is inspected.
    #[schema(min_length = 1, max_length = 200)]
    farmer_id: String,
    /// The inspector assigned; an inspector may only name itself.
    #[schema(min_length = 1, max_length = 200)]
    inspector_id: String,
    /// When the inspection is planned for (RFC 3339).
    #[schema(format = DateTime)]
    scheduled_for: String,
}

/// The start of an inspection: an empty object.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct StartInspectionRequest {}

/// A violation found.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "HYG-12", "severity": "critical", "description": "Crates stored on the bare floor", "stock_item_ids": ["0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c"]}))]
pub struct RecordViolationRequest {
    /// The code of the rule violated, e.g. `HYG-12`.
    #[schema(min_length = 1, max_length = 50)]
    code: String,
    /// How serious it is; a critical violation quarantines the stock items it names.
    #[schema(schema_with = wire::severity_schema)]
    severity: String,
    /// What was found.
    #[schema(min_length = 1, max_length = 2000)]
    description: String,
    /// The stock items concerned.
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>)]
    stock_item_ids: Vec<String>,
}

/// The end of an inspection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"score": 92, "notes": "Clean washing station"}))]
pub struct CompleteInspectionRequest {
    /// The score given; below 70, or with a critical violation open, the inspection fails.
    #[schema(minimum = 0, maximum = 100)]
    score: i64,
    /// Notes, if any.
    #[schema(max_length = 2000)]
    notes: Option<String>,
}

/// The resolution of a violation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"resolution": "Pallets installed under every crate"}))]
pub struct ResolveViolationRequest {
    /// How it was resolved.
    #[schema(min_length = 1, max_length = 2000)]
    resolution: String,
}

fn score(n: i64) -> Result<Score, String> {
    let n = u8::try_from(n).map_err(|_| "score must be between 0 and 100".to_owned())?;
    Score::new(n).map_err(|e| e.to_string())
}

/// The id of the violation a request records (derived from its idempotency key, if any).
fn new_violation_id(caller: &Caller, meta: &RequestMeta, inspection: InspectionId) -> ViolationId {
    ViolationId::from_uuid(new_id(caller, meta, &format!("violation of {inspection}")))
}

/// Schedule an inspection of a farm (admin; an inspector for itself).
#[utoipa::path(post, operation_id = "scheduleInspection",
    description = "An inspector schedules itself, an admin anyone. Answers 201 with the new inspection.", path = "/v1/inspections", tag = "inspections",
    request_body = ScheduleInspectionRequest, params(CommandHeaders),
    responses((status = 201, description = "Scheduled", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn schedule(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ScheduleInspectionRequest>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::new();
    let id = f.check_opt("id", body.id.as_deref(), validate::uuid);
    let farmer_id = f.check("farmer_id", ActorId::parse(&body.farmer_id));
    let inspector_id = f.check("inspector_id", ActorId::parse(&body.inspector_id));
    let scheduled_for = f.check("scheduled_for", validate::time(&body.scheduled_for));
    let id = id.map(|id| {
        InspectionId::from_uuid(id.unwrap_or_else(|| new_id(&caller, &meta, "inspection")))
    });
    let (id, command) = f.finish(|| {
        let inspection_id = id?;
        let command = InspectionCommand::ScheduleInspection {
            inspection_id,
            farmer_id: farmer_id?,
            inspector_id: inspector_id?,
            scheduled_for: scheduled_for?,
        };
        Some((inspection_id, command))
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.inspections,
        &id.to_string(),
        command,
        request,
        Effect::Creates,
    )
    .await
}

/// Start an inspection (the assigned inspector, admin).
#[utoipa::path(post, operation_id = "startInspection",
    description = "The assigned inspector, once.", path = "/v1/inspections/{id}/start", tag = "inspections",
    request_body = StartInspectionRequest,
    params(("id" = String, Path, format = Uuid, description = "The inspection"), CommandHeaders),
    responses((status = 200, description = "Started", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn start(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body: _, json }: CommandBody<StartInspectionRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, InspectionId::from_uuid)?;
    let command = InspectionCommand::StartInspection;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.inspections,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Record a violation found; the answer carries the new `violation_id` (the assigned
/// inspector, admin).
#[utoipa::path(post, operation_id = "recordViolation",
    description = "The assigned inspector, while the inspection is in progress. A critical violation quarantines the named stock items of the inspected farm (by the inspection process).", path = "/v1/inspections/{id}/violations", tag = "inspections",
    request_body = RecordViolationRequest,
    params(("id" = String, Path, format = Uuid, description = "The inspection"), CommandHeaders),
    responses((status = 200, description = "Recorded; `violation_id` names the violation",
        body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn record_violation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<RecordViolationRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, InspectionId::from_uuid)?;
    let mut f = Fields::new();
    let code = f.check("code", ViolationCode::parse(&body.code));
    let severity = f.check(
        "severity",
        wire::one_of::<Severity>(&body.severity, SEVERITIES),
    );
    let description = f.check("description", Description::parse(&body.description));
    let stock_item_ids: Vec<Option<StockItemId>> = body
        .stock_item_ids
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            f.check(
                &format!("stock_item_ids[{i}]"),
                validate::uuid(raw).map(StockItemId::from_uuid),
            )
        })
        .collect();
    let violation_id = new_violation_id(&caller, &meta, id);
    let command = f.finish(|| {
        Some(InspectionCommand::RecordViolation {
            violation_id,
            code: code?,
            severity: severity?,
            description: description?,
            stock_item_ids: stock_item_ids.into_iter().collect::<Option<_>>()?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.inspections,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
    .map(|accepted| accepted.with_violation(violation_id.to_string()))
}

/// Complete an inspection with a score: passed, or failed below 70 or with a critical
/// violation open (the assigned inspector, admin).
#[utoipa::path(post, operation_id = "completeInspection",
    description = "The assigned inspector. FAILED when a critical violation is open or the score is under 70, PASSED otherwise; a pass releases the quarantines of the farm (by the inspection process).", path = "/v1/inspections/{id}/complete", tag = "inspections",
    request_body = CompleteInspectionRequest,
    params(("id" = String, Path, format = Uuid, description = "The inspection"), CommandHeaders),
    responses((status = 200, description = "Completed", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn complete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<CompleteInspectionRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, InspectionId::from_uuid)?;
    let mut f = Fields::new();
    let score = f.check("score", score(body.score));
    let notes = f.check_opt("notes", body.notes.as_deref(), Notes::parse);
    let command = f.finish(|| {
        Some(InspectionCommand::CompleteInspection {
            score: score?,
            notes: notes?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.inspections,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}

/// Resolve an open violation (any inspector, admin).
#[utoipa::path(post, operation_id = "resolveViolation",
    description = "Any inspector or an admin.", path = "/v1/inspections/{id}/violations/{violation_id}/resolve",
    tag = "inspections", request_body = ResolveViolationRequest,
    params(
        ("id" = String, Path, format = Uuid, description = "The inspection"),
        ("violation_id" = String, Path, format = Uuid, description = "The violation"),
        CommandHeaders
    ),
    responses((status = 200, description = "Resolved", body = CommandAnswer), CommandProblems),
    security(("bearer" = [])))]
pub(crate) async fn resolve_violation(
    State(state): State<AppState>,
    ApiPath((id, violation_id)): ApiPath<(String, String)>,
    caller: Caller,
    meta: RequestMeta,
    CommandBody { body, json }: CommandBody<ResolveViolationRequest>,
) -> Result<Accepted, ApiError> {
    let id = validate::path_id(&id, InspectionId::from_uuid)?;
    let violation_id = validate::uuid(&violation_id)
        .map(ViolationId::from_uuid)
        .map_err(|message| ApiError::field("violation_id", message))?;
    let mut f = Fields::new();
    let resolution = f.check("resolution", Resolution::parse(&body.resolution));
    let command = f.finish(|| {
        Some(InspectionCommand::ResolveViolation {
            violation_id,
            resolution: resolution?,
        })
    })?;
    let request = Request::new(&caller, &meta, &json, state.idempotency_ttl);
    execute(
        &state.executors.inspections,
        &id.to_string(),
        command,
        request,
        Effect::Changes,
    )
    .await
}
