//! The command API's errors and the one place they become HTTP answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{Refusal, RefusalKind};
use event_store::{ExecuteError, StoreError};

use crate::problem::{FieldError, Problem};

/// Why a request was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body or a header is malformed or a field value invalid (400).
    #[error("{detail}")]
    BadRequest {
        /// What is wrong, in one sentence.
        detail: String,
        /// Each field in error.
        errors: Vec<FieldError>,
    },
    /// No bearer credentials (401, challenged with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(String),
    /// A bearer token was sent but does not verify (401, `error="invalid_token"`).
    #[error("{0}")]
    InvalidToken(String),
    /// The caller's role or relation to the aggregate forbids the command (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such aggregate (404).
    #[error("{0}")]
    NotFound(String),
    /// The command breaks a business rule, or concurrent writes won the race (409).
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` named another version than the stream's (412).
    #[error("the stream is at version {actual}, not {expected}")]
    PreconditionFailed {
        /// The version the client named.
        expected: u64,
        /// The stream's version.
        actual: u64,
    },
    /// The body is larger than allowed (413).
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not JSON (415).
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    /// The idempotency key was used with another body (422).
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// The caller sent too many requests (429).
    #[error("too many requests; slow down and retry shortly")]
    RateLimited,
    /// The event store cannot be reached (503).
    #[error("the event store is unavailable; retry shortly")]
    Unavailable,
    /// The request took too long, and nothing was applied (503).
    #[error("the request took too long and was not applied; retry shortly")]
    Timeout,
    /// The connection to the event store broke while the command was being written: it may or
    /// may not have been applied (504).
    #[error(
        "the connection to the event store broke while the command was being written, so \
         whether it was applied is unknown: read the aggregate, or retry with the same \
         Idempotency-Key to get its first answer"
    )]
    OutcomeUnknown,
    /// A bug or corrupt data: logged in full, shown to the client only as a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 for a single field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        Self::BadRequest {
            detail: format!("invalid field `{}`: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    /// The HTTP status of this error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::OutcomeUnknown => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "invalid-request",
            Self::Unauthorized(_) | Self::InvalidToken(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::PreconditionFailed { .. } => "version-mismatch",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::RateLimited => "rate-limited",
            Self::Unavailable => "store-unavailable",
            Self::Timeout => "timeout",
            Self::OutcomeUnknown => "outcome-unknown",
            Self::Internal(_) => "internal",
        }
    }

    /// The problem answer for this error.
    pub fn to_problem(&self) -> Problem {
        let detail = match self {
            Self::Internal(_) => "an internal error occurred; it was logged".to_owned(),
            other => other.to_string(),
        };
        let mut problem = Problem::new(self.status_code(), self.slug(), detail);
        if let Self::BadRequest { errors, .. } = self {
            problem.errors.clone_from(errors);
        }
        if matches!(self, Self::Unavailable | Self::Timeout | Self::RateLimited) {
            problem.retry_after = Some(1);
        }
        problem
    }

    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 section 3): an error code only when
    /// a token was sent.
    fn challenge(&self) -> Option<&'static str> {
        match self {
            Self::Unauthorized(_) => Some("Bearer"),
            Self::InvalidToken(_) => Some(r#"Bearer error="invalid_token""#),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let challenge = self.challenge();
        let mut response = self.to_problem().into_response();
        if let Some(challenge) = challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "event store unavailable");
                Self::Unavailable
            }
            StoreError::Conflict { .. } => {
                Self::Conflict("a concurrent write changed the aggregate; retry".into())
            }
            StoreError::OutcomeUnknown(cause) => {
                tracing::error!(%cause, "an append's outcome is unknown");
                Self::OutcomeUnknown
            }
            StoreError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            StoreError::InvalidPosition(e) => Self::field("position", e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl<E: Refusal> From<ExecuteError<E>> for ApiError {
    fn from(error: ExecuteError<E>) -> Self {
        match error {
            ExecuteError::Rejected(refusal) => {
                let detail = refusal.to_string();
                match refusal.kind() {
                    RefusalKind::NotFound => Self::NotFound(detail),
                    RefusalKind::Forbidden => Self::Forbidden(detail),
                    RefusalKind::Conflict => Self::Conflict(detail),
                    RefusalKind::Invalid => Self::BadRequest {
                        detail,
                        errors: Vec::new(),
                    },
                    RefusalKind::Unavailable => Self::Unavailable,
                }
            }
            ExecuteError::VersionMismatch { expected, actual } => {
                Self::PreconditionFailed { expected, actual }
            }
            ExecuteError::Contention { attempts } => Self::Conflict(format!(
                "the aggregate kept changing concurrently ({attempts} attempts); retry"
            )),
            ExecuteError::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            ExecuteError::Store(store) => store.into(),
        }
    }
}
