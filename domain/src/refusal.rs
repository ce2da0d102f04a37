//! How the edges classify a domain refusal, so each maps it once (HTTP status, GraphQL code).

/// The kind of a domain error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// The aggregate does not exist (HTTP 404).
    NotFound,
    /// The actor's role or relation to the aggregate forbids the command (HTTP 403).
    Forbidden,
    /// The command breaks a business rule in the aggregate's current state (HTTP 409).
    Conflict,
    /// The command's values are inconsistent with each other (HTTP 400).
    Invalid,
    /// A service the decision needs could not answer (HTTP 503).
    Unavailable,
}

/// Implemented by every aggregate's error type.
pub trait Refusal: std::error::Error {
    /// What kind of refusal this is.
    fn kind(&self) -> RefusalKind;
}
