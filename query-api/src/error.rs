//! Why a query is refused, mapped once to a GraphQL error with an extension code.

use async_graphql::ErrorExtensions;

/// A refused or failed query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// No valid token came with the request.
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    /// The caller's role or relation to the data forbids it.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// An argument is invalid (a cursor, a filter value).
    #[error("invalid argument: {0}")]
    BadInput(String),
    /// The read models had not applied the position asked for within the wait.
    #[error("the read models have not reached that position within {0:?}; retry")]
    NotYetConsistent(std::time::Duration),
    /// The read models (or the log) could not be read; the cause goes to the logs only.
    #[error("the read models are unavailable; retry")]
    Unavailable,
}

impl QueryError {
    /// The `extensions.code` clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::NotYetConsistent(_) => "NOT_YET_CONSISTENT",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

impl ErrorExtensions for QueryError {
    fn extend(&self) -> async_graphql::Error {
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| e.set("code", code))
    }
}

/// A refusal as the GraphQL error clients see, with its code.
pub(crate) fn refused(error: QueryError) -> async_graphql::Error {
    error.extend()
}

/// A read-model (or log) failure as the GraphQL error clients see; the cause is logged, not
/// shown.
pub(crate) fn unavailable(error: impl std::fmt::Display) -> async_graphql::Error {
    tracing::warn!(%error, "a query could not read the read models");
    QueryError::Unavailable.extend()
}
