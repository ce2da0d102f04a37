//! The JSON body of a command: content type enforced, size limited, parse errors reported with
//! the field they concern.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ApiError;
use crate::problem::FieldError;

mod unique_keys;

/// The largest command body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A command's body, parsed as `T`, with the JSON it was parsed from (for the idempotency
/// fingerprint).
#[derive(Debug, Clone)]
pub struct CommandBody<T> {
    /// The parsed body.
    pub body: T,
    /// The body as JSON.
    pub json: Value,
}

impl<S, T> FromRequest<S> for CommandBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit: BODY_LIMIT }
                } else {
                    ApiError::BadRequest {
                        detail: format!("the body could not be read: {rejection}"),
                        errors: Vec::new(),
                    }
                }
            })?;
        parse(&bytes)
    }
}

/// Parses a JSON body into `T`, naming the field of the first error. An object that repeats a
/// key is refused rather than read as its last occurrence.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<CommandBody<T>, ApiError> {
    let json = unique_keys::from_slice(bytes).map_err(|invalid| match invalid {
        unique_keys::Invalid::Syntax(e) => ApiError::BadRequest {
            detail: format!("the body is not valid JSON: {e}"),
            errors: Vec::new(),
        },
        unique_keys::Invalid::DuplicateKey(field) => ApiError::BadRequest {
            detail: format!("invalid field `{field}`: appears more than once"),
            errors: vec![FieldError::new(field, "appears more than once")],
        },
    })?;
    if !json.is_object() {
        return Err(ApiError::BadRequest {
            detail: "the body must be a JSON object".into(),
            errors: Vec::new(),
        });
    }
    let body = serde_path_to_error::deserialize(&json).map_err(|error| {
        let field = error.path().to_string();
        let message = error.inner().to_string();
        let field = if field == "." { String::new() } else { field };
        // A missing field is reported by serde on the object itself: name the field.
        let (field, message) = match message.strip_prefix("missing field `") {
            Some(rest) => {
                let name = rest.split('`').next().unwrap_or_default();
                let path = if field.is_empty() {
                    name.to_owned()
                } else {
                    format!("{field}.{name}")
                };
                (path, "is required".to_owned())
            }
            None => (field, message),
        };
        ApiError::BadRequest {
            detail: format!("invalid field `{field}`: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    })?;
    Ok(CommandBody { body, json })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        quantity: u64,
        lines: Vec<Line>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        quantity: u64,
    }

    fn field_of(json: &str) -> String {
        match parse::<Body>(json.as_bytes()) {
            Err(ApiError::BadRequest { errors, .. }) => errors[0].field.clone(),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_wrongly_typed_nested_field_is_named() {
        assert_eq!(
            field_of(r#"{"quantity":1,"lines":[{"quantity":"x"}]}"#),
            "lines[0].quantity"
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(field_of(r#"{"lines":[]}"#), "quantity");
    }

    #[test]
    fn a_key_repeated_at_the_top_level_is_refused_and_named() {
        assert_eq!(
            field_of(r#"{"quantity":1,"quantity":1000000,"lines":[]}"#),
            "quantity"
        );
    }

    #[test]
    fn a_key_repeated_in_a_nested_object_is_refused_and_named() {
        assert_eq!(
            field_of(r#"{"quantity":1,"lines":[{"quantity":2},{"quantity":3,"quantity":4}]}"#),
            "lines[1].quantity"
        );
        // Also where the typed body would never look.
        match parse::<Value>(br#"{"a":{"b":[{"c":1}, {"d":{"e":1,"e":1}}]}}"#) {
            Err(ApiError::BadRequest { errors, .. }) => assert_eq!(errors[0].field, "a.b[1].d.e"),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn the_same_key_in_two_different_objects_is_accepted() {
        let parsed =
            parse::<Body>(br#"{"quantity":1,"lines":[{"quantity":2},{"quantity":3}]}"#).unwrap();
        assert_eq!(parsed.body.quantity, 1);
        assert_eq!(parsed.body.lines.len(), 2);
        assert_eq!(parsed.json["lines"][1]["quantity"], 3);
    }

    #[test]
    fn malformed_json_and_non_objects_are_refused() {
        assert!(matches!(
            parse::<Body>(b"{"),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse::<Body>(b"[]"),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
