//! Why the store refused or failed an operation.

use crate::{InvalidPosition, KeyOutcome};

/// An event-store failure, classified so callers can answer precisely (409, 422, 503...).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another append reached the stream first: it is no longer at the expected version.
    #[error("the stream is no longer at version {expected_version}: a concurrent write won")]
    Conflict {
        /// The version the append expected.
        expected_version: u64,
    },
    /// An append carried no events.
    #[error("an append needs at least one event")]
    NothingToAppend,
    /// The idempotency key was already used with a different request.
    #[error("the idempotency key was already used with a different request")]
    IdempotencyKeyReused,
    /// The idempotency key already stands for an answer that was not an append (a refusal,
    /// "nothing to do", a version mismatch): that answer is the answer.
    #[error("the idempotency key already stands for an earlier answer")]
    Answered(Box<KeyOutcome>),
    /// The database cannot be reached, is shutting down, or timed out; nothing was applied.
    #[error("the event store is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The connection broke after an append was sent: it may or may not have been applied.
    #[error("the connection to the event store broke during an append; its outcome is unknown")]
    OutcomeUnknown(#[source] sqlx::Error),
    /// Stored data could not be read back (a bug, or data altered outside the product).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A position token that is not one.
    #[error(transparent)]
    InvalidPosition(#[from] InvalidPosition),
    /// The store's configuration is unusable.
    #[error("event store configuration: {0}")]
    Config(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether the caller should tell its client to retry later (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// The same failure for another append of a group that failed as a whole: the same kind,
    /// the cause as text (`sqlx::Error` cannot be cloned, and was classified already).
    pub(crate) fn for_another(&self) -> Self {
        let cause = |e: &sqlx::Error| sqlx::Error::Protocol(e.to_string());
        match self {
            Self::Unavailable(e) => Self::Unavailable(cause(e)),
            Self::OutcomeUnknown(e) => Self::OutcomeUnknown(cause(e)),
            Self::Database(e) => Self::Database(cause(e)),
            Self::Corrupt(detail) => Self::Corrupt(detail.clone()),
            Self::Config(detail) => Self::Config(detail.clone()),
            Self::Conflict { expected_version } => Self::Conflict {
                expected_version: *expected_version,
            },
            other => Self::Corrupt(other.to_string()),
        }
    }
}

/// SQLSTATE of a unique violation.
pub(crate) const UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATE of a deadlock PostgreSQL broke by aborting this transaction.
pub(crate) const DEADLOCK_DETECTED: &str = "40P01";

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            Self::Unavailable(error)
        } else {
            Self::Database(error)
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(error.to_string())
    }
}

/// Whether an error means "the database is not there right now" rather than "this request is
/// wrong".
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            // A FATAL error ends the session: the server refused or dropped the connection
            // (shutting down, not accepting connections, database gone...).
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                && matches!(
                    pg.severity(),
                    sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
                )
            {
                return true;
            }
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // Class 08: connection exceptions; 57P0x: shutdown / cannot connect now;
            // 53300: too many connections.
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite: BUSY (5) and LOCKED (6) with their extended codes (low byte).
                return code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6));
            }
            // 57014: cancelled by the statement timeout; 55P03: the lock timeout: a blocked
            // statement gave up inside the database, so nothing it did was applied.
            code.starts_with("08")
                || matches!(
                    code,
                    "57P01" | "57P02" | "57P03" | "53300" | "57014" | "55P03"
                )
        }
        _ => false,
    }
}
