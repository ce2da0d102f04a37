//! What a command request carries besides its body: request and correlation ids,
//! `Idempotency-Key` and `If-Match`.

use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use event_store::CommitPoint;
use uuid::Uuid;

use crate::ApiError;

/// The request id header, set (or kept) by the request-id layer and echoed back.
pub const REQUEST_ID: &str = "x-request-id";
/// The correlation id header.
pub const CORRELATION_ID: &str = "x-correlation-id";
/// The idempotency key header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest idempotency key or request id accepted.
pub const MAX_KEY_LEN: usize = 200;

/// A command request's metadata headers, checked, and its commit point.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// `X-Request-Id` (made by the server when absent).
    pub request_id: String,
    /// `X-Correlation-Id`, or a new id.
    pub correlation_id: Uuid,
    /// `Idempotency-Key`, if sent.
    pub idempotency_key: Option<String>,
    /// `If-Match`, if sent: the stream version the command expects.
    pub if_match: Option<u64>,
    /// Reached when the command's append is sent: the request's deadline then waits for the
    /// append's true outcome instead of answering 503 (see [`crate::deadline`]).
    pub commit_point: CommitPoint,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut meta = Self::from_headers(&parts.headers)?;
        if let Some(commit_point) = parts.extensions.get::<CommitPoint>() {
            meta.commit_point = commit_point.clone();
        }
        Ok(meta)
    }
}

impl RequestMeta {
    /// Reads and checks the headers.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let text = |name: &str| -> Result<Option<&str>, ApiError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| ApiError::field(name, "must be visible ASCII"))
                })
                .transpose()
        };
        // The request-id layer has already replaced an invalid id; never refuse a request for it.
        let request_id = headers
            .get(REQUEST_ID)
            .and_then(|id| id.to_str().ok())
            .filter(|id| is_valid_request_id(id))
            .map_or_else(|| Uuid::now_v7().to_string(), str::to_owned);
        let correlation_id = match text(CORRELATION_ID)? {
            Some(id) => Uuid::parse_str(id.trim())
                .map_err(|_| ApiError::field(CORRELATION_ID, "must be a UUID"))?,
            None => Uuid::now_v7(),
        };
        let idempotency_key = text(IDEMPOTENCY_KEY)?
            .map(|key| checked_token(IDEMPOTENCY_KEY, key).map(str::to_owned))
            .transpose()?;
        let if_match = text("if-match")?.map(parse_if_match).transpose()?;
        Ok(Self {
            request_id,
            correlation_id,
            idempotency_key,
            if_match,
            commit_point: CommitPoint::new(),
        })
    }
}

/// Whether `id` may serve as a request id (echoed and logged): 1 to [`MAX_KEY_LEN`] visible
/// ASCII characters.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Middleware removing an `X-Request-Id` that is not a valid id (or is sent twice), so that the
/// request-id layer makes a fresh one: a client's id is echoed and logged only when it is
/// short, visible ASCII.
pub async fn drop_invalid_request_id(mut request: Request) -> Request {
    let ids = request.headers().get_all(REQUEST_ID);
    let mut ids = ids.iter();
    let valid = match (ids.next(), ids.next()) {
        (Some(id), None) => id.to_str().is_ok_and(is_valid_request_id),
        _ => false,
    };
    if !valid {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

fn checked_token<'a>(name: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_KEY_LEN {
        return Err(ApiError::field(
            name,
            format!("must have 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    if !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err(ApiError::field(name, "must be visible ASCII"));
    }
    Ok(value)
}

/// `"3"` (or `W/"3"`, or a bare `3`): the version the command expects.
fn parse_if_match(value: &str) -> Result<u64, ApiError> {
    let value = value.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    value
        .parse()
        .map_err(|_| ApiError::field("If-Match", "must be a stream version, e.g. \"3\""))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn meta(pairs: &[(&'static str, &str)]) -> Result<RequestMeta, ApiError> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        RequestMeta::from_headers(&headers)
    }

    #[test]
    fn if_match_takes_a_quoted_version() {
        assert_eq!(meta(&[("if-match", "\"3\"")]).unwrap().if_match, Some(3));
        assert_eq!(meta(&[("if-match", "W/\"4\"")]).unwrap().if_match, Some(4));
        assert!(meta(&[("if-match", "\"abc\"")]).is_err());
    }

    #[test]
    fn an_overlong_idempotency_key_is_refused() {
        assert!(meta(&[("idempotency-key", &"k".repeat(201))]).is_err());
        assert!(meta(&[("idempotency-key", &"k".repeat(200))]).is_ok());
    }

    #[test]
    fn only_short_visible_ascii_is_a_request_id() {
        assert!(is_valid_request_id("req-42"));
        assert!(is_valid_request_id(&"r".repeat(MAX_KEY_LEN)));
        for invalid in ["", "with space", "tab\tin", "caf\u{e9}", &"r".repeat(201)] {
            assert!(!is_valid_request_id(invalid), "{invalid:?}");
        }
    }

    #[test]
    fn an_invalid_request_id_makes_a_fresh_one_rather_than_a_400() {
        let meta = meta(&[("x-request-id", &"r".repeat(5000))]).unwrap();
        assert!(Uuid::parse_str(&meta.request_id).is_ok());
    }

    #[test]
    fn a_correlation_id_must_be_a_uuid() {
        assert!(meta(&[("x-correlation-id", "nope")]).is_err());
    }
}
