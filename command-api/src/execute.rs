//! Runs a command through its aggregate's executor and shapes the answer
//! (`{id, version, position}`), the one path every command endpoint takes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use cqrs_es::Aggregate;
use domain::{Issued, Refusal};
use event_store::{CommandContext, Executor, IdempotencyClaim, canonical_json};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::request::RequestMeta;
use crate::{ApiError, metrics};

/// The answer to an accepted command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CommandAnswer {
    /// The aggregate's id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The aggregate's stream version after the command.
    pub version: u64,
    /// The global log position of the command's last event: pass it to the query API
    /// (`consistency: {atLeast}`) to read your own write.
    pub position: String,
    /// The violation recorded (only when recording a violation).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub violation_id: Option<String>,
}

/// An accepted command: `201 Created` for a new aggregate, `200 OK` otherwise, with the
/// stream version as `ETag` (usable in `If-Match`).
#[derive(Debug)]
pub struct Accepted {
    status: StatusCode,
    answer: CommandAnswer,
}

impl Accepted {
    /// Adds the violation id to the answer.
    pub fn with_violation(mut self, violation_id: String) -> Self {
        self.answer.violation_id = Some(violation_id);
        self
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        let etag = HeaderValue::from_str(&format!("\"{}\"", self.answer.version)).ok();
        let mut response = (self.status, Json(self.answer)).into_response();
        if let Some(etag) = etag {
            response.headers_mut().insert(header::ETAG, etag);
        }
        response
    }
}

/// Who asked, with which headers and body: what every command run needs besides the command.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// The checked headers.
    pub meta: &'a RequestMeta,
    /// The body as sent (for the idempotency fingerprint).
    pub body: &'a Value,
    /// How long its idempotency key stands for the first answer.
    pub ttl: std::time::Duration,
}

impl<'a> Request<'a> {
    /// The request of `caller` with headers `meta` and body `body`, its key kept for `ttl`.
    pub fn new(
        caller: &'a Caller,
        meta: &'a RequestMeta,
        body: &'a Value,
        ttl: std::time::Duration,
    ) -> Self {
        Self {
            caller,
            meta,
            body,
            ttl,
        }
    }
}

/// A domain command's name, recorded in its events' metadata.
pub trait NamedCommand {
    /// The name, e.g. `ReceiveStock`.
    fn name(&self) -> &'static str;
}

macro_rules! named_commands {
    ($($command:ty),+) => {
        $(impl NamedCommand for $command {
            fn name(&self) -> &'static str {
                <$command>::name(self)
            }
        })+
    };
}

named_commands!(
    domain::stock::StockCommand,
    domain::order::OrderCommand,
    domain::delivery::DeliveryCommand,
    domain::inspection::InspectionCommand,
    domain::purchase::PurchaseCommand
);

/// The namespace of the aggregate ids derived from idempotency keys (UUIDv5).
const DERIVED_IDS: Uuid = uuid::uuid!("5f0b8a3e-2c71-4d9a-9e44-0b6f1c2d7a18");

/// The id of something new the client did not name (an aggregate, a violation): derived from
/// the caller, `scope` (what is named) and its `Idempotency-Key` when it sent one, so a retry
/// names the same thing and gets the first answer; otherwise a new UUIDv7.
pub fn new_id(caller: &Caller, meta: &RequestMeta, scope: &str) -> Uuid {
    match &meta.idempotency_key {
        Some(key) => Uuid::new_v5(
            &DERIVED_IDS,
            format!("{}\n{scope}\n{key}", caller.0.sub).as_bytes(),
        ),
        None => Uuid::now_v7(),
    }
}

/// Whether a command creates its aggregate (answered `201`) or changes it (`200`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A create endpoint.
    Creates,
    /// Any other command.
    Changes,
}

/// Executes `command` on aggregate `aggregate_id`.
pub async fn execute<A, C>(
    executor: &Executor<A>,
    aggregate_id: &str,
    command: C,
    request: Request<'_>,
    effect: Effect,
) -> Result<Accepted, ApiError>
where
    A: Aggregate<Command = Issued<C>> + serde::Serialize + serde::de::DeserializeOwned + 'static,
    A::Error: Refusal + serde::Serialize + serde::de::DeserializeOwned,
    C: Clone + NamedCommand,
{
    let name = command.name();
    let actor = request.caller.0.clone();
    let idempotency = request
        .meta
        .idempotency_key
        .as_ref()
        .map(|key| IdempotencyClaim {
            // Keys are per caller: two clients choosing the same key never collide.
            key: format!("{}\n{key}", actor.sub),
            fingerprint: fingerprint(
                A::TYPE,
                aggregate_id,
                name,
                request.meta.if_match,
                request.body,
            ),
            ttl: Some(request.ttl),
        });
    let context = CommandContext {
        actor: actor.clone(),
        command: name.to_owned(),
        request_id: request.meta.request_id.clone(),
        correlation_id: request.meta.correlation_id,
        causation_id: request.meta.correlation_id,
        idempotency,
        expected_version: request.meta.if_match,
        commit_point: request.meta.commit_point.clone(),
    };
    let issued = Issued::new(actor, Utc::now(), command);
    let executed = match executor.execute(aggregate_id, issued, &context).await {
        Ok(executed) => executed,
        Err(error) => {
            if matches!(error, event_store::ExecuteError::Contention { .. }) {
                metrics::record_conflict(A::TYPE);
            }
            return Err(error.into());
        }
    };
    metrics::record_retries(A::TYPE, executed.attempts.saturating_sub(1));
    Ok(Accepted {
        status: match effect {
            Effect::Creates => StatusCode::CREATED,
            Effect::Changes => StatusCode::OK,
        },
        answer: CommandAnswer {
            id: aggregate_id.to_owned(),
            version: executed.version,
            position: executed.position.map(|p| p.token()).unwrap_or_default(),
            violation_id: None,
        },
    })
}

/// A digest of what a request asks (its target, command, `If-Match` and body): the same key
/// with another digest is refused (422).
fn fingerprint(
    aggregate_type: &str,
    aggregate_id: &str,
    command: &str,
    if_match: Option<u64>,
    body: &Value,
) -> String {
    let if_match = if_match.map(|v| v.to_string()).unwrap_or_default();
    let mut hasher = Sha256::new();
    for part in [aggregate_type, aggregate_id, command, &if_match] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.update(canonical_json(body));
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fingerprint;

    #[test]
    fn the_fingerprint_ignores_key_order_but_not_values_targets_or_if_match() {
        let body = json!({"a": 1, "b": 2});
        let a = fingerprint("stock", "1", "ReceiveStock", None, &body);
        let b = fingerprint("stock", "1", "ReceiveStock", None, &json!({"b": 2, "a": 1}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("stock", "1", "ReceiveStock", None, &json!({"a": 1, "b": 3}))
        );
        assert_ne!(a, fingerprint("stock", "2", "ReceiveStock", None, &body));
        assert_ne!(a, fingerprint("stock", "1", "ReceiveStock", Some(3), &body));
        assert_ne!(
            fingerprint("stock", "1", "ReceiveStock", Some(3), &body),
            fingerprint("stock", "1", "ReceiveStock", Some(4), &body)
        );
    }
}
