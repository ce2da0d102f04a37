//! The OpenAPI 3.1 document, generated from the handlers and request types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use crate::problem::Problem;

/// Every error answer a command endpoint can give (`application/problem+json`).
#[derive(IntoResponses)]
#[allow(dead_code)] // only its OpenAPI description is used
pub enum CommandProblems {
    /// Malformed JSON, invalid field values or headers.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// Missing, invalid or expired token.
    #[response(status = 401, content_type = "application/problem+json", headers(
        ("WWW-Authenticate" = String,
            description = "`Bearer`, with `error=\"invalid_token\"` when the token sent is bad")
    ))]
    Unauthorized(Problem),
    /// The caller's role or relation to the aggregate forbids the command.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such aggregate.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// A business rule refuses the command in the aggregate's state, or a concurrent write won.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// `If-Match` names another version than the stream's.
    #[response(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Problem),
    /// The body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// The body is not JSON.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// The idempotency key was used with another body.
    #[response(status = 422, content_type = "application/problem+json")]
    IdempotencyKeyReused(Problem),
    /// Too many requests from this caller; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// The event store is unavailable, or the request took too long: the command was not
    /// applied; see `Retry-After`.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
    /// The connection to the event store broke while the command was being written: whether
    /// it was applied is unknown (retry with the same `Idempotency-Key` to learn its outcome).
    #[response(status = 504, content_type = "application/problem+json")]
    OutcomeUnknown(Problem),
}

/// The command API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "supplyline command API",
        description = "Commands of the farm-to-table supply chain. Every command answers \
            `{id, version, position}`; errors are RFC 9457 problem details.",
    ),
    paths(
        crate::operations::health,
        crate::operations::ready,
        crate::operations::metrics,
        crate::operations::openapi,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "stock", description = "Stock items (aggregate `stock`)"),
        (name = "orders", description = "Orders (aggregate `order`)"),
        (name = "deliveries", description = "Deliveries (aggregate `delivery`)"),
        (name = "inspections", description = "Inspections (aggregate `inspection`)"),
        (name = "purchases", description = "Purchases (aggregate `purchase`)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The whole document: the operations above plus each resource's own paths.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::stock_items::Doc::openapi());
    doc.merge(crate::orders::Doc::openapi());
    doc.merge(crate::deliveries::Doc::openapi());
    doc.merge(crate::inspections::Doc::openapi());
    doc.merge(crate::purchases::Doc::openapi());
    doc
}

/// The document as served: [`document`] with the text rules of every free-text field.
pub fn document_json() -> serde_json::Value {
    let mut json = serde_json::to_value(document()).unwrap_or_default();
    crate::wire::document_text_rules(&mut json);
    json
}

/// Declares the bearer JWT scheme the command endpoints require.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The optional headers of every command.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its OpenAPI description is used
pub struct CommandHeaders {
    /// Makes retries safe: the key stands for its first answer (whatever it was) for 24 hours
    /// by default; the same key and body give that answer again and append nothing; the same
    /// key with another body or `If-Match` is refused (422).
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 200)]
    idempotency_key: Option<String>,
    /// Apply only if the stream is at this version, e.g. `"3"` (else 412).
    #[param(rename = "If-Match")]
    if_match: Option<String>,
    /// The request id, echoed back: 1 to 200 visible ASCII characters; the server makes a
    /// fresh one when it is absent or not such (an invalid id is replaced, never refused).
    #[param(rename = "X-Request-Id")]
    x_request_id: Option<String>,
    /// The correlation id (a UUID) recorded on every event the request causes.
    #[param(rename = "X-Correlation-Id", format = Uuid)]
    x_correlation_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use serde_json::Value;

    use super::document_json;

    /// Every operation of the served document, as `(method path, operation)`.
    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut all = Vec::new();
        for (path, methods) in doc["paths"].as_object().into_iter().flatten() {
            for (method, operation) in methods.as_object().into_iter().flatten() {
                all.push((format!("{method} {path}"), operation));
            }
        }
        all
    }

    #[test]
    fn operation_ids_are_unique_camel_case_verb_and_resource() {
        let doc = document_json();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (route, operation) in operations(&doc) {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{route} has no operationId"));
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{route}: `{id}` is not camelCase"
            );
            // A verb alone (`schedule`, `cancel`) makes clashing generated methods.
            assert!(
                id.chars().any(|c| c.is_ascii_uppercase()),
                "{route}: `{id}` is a bare verb"
            );
            if let Some(other) = seen.insert(id.to_owned(), route.clone()) {
                panic!("`{id}` names both {other} and {route}");
            }
        }
        assert!(seen.len() >= 30, "only {} operations", seen.len());
    }

    #[test]
    fn every_operation_is_tagged_and_described_and_every_body_has_an_example() {
        let doc = document_json();
        let tags: HashSet<&str> = doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        for (route, operation) in operations(&doc) {
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            assert!(tags.contains(tag), "{route}: tag `{tag}` is not declared");
            for field in ["summary", "description"] {
                assert!(
                    operation[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{route} has no {field}"
                );
            }
            if let Some(body) = operation.get("requestBody") {
                let schema = &body["content"]["application/json"]["schema"];
                let name = schema["$ref"]
                    .as_str()
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or_else(|| panic!("{route}: the body is not a named schema"));
                let example = &doc["components"]["schemas"][name]["example"];
                assert!(example.is_object(), "{route}: {name} has no example");
            }
        }
        for (name, schema) in doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert!(
                schema["description"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "schema {name} has no description"
            );
        }
    }
}
