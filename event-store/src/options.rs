//! How the store connects: pool size and the time limits that keep a blocked database from
//! holding a caller past its own deadline.

use std::time::Duration;

/// Connection settings for either backend.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Connections in the PostgreSQL pool (one more is kept for `LISTEN`).
    pub max_connections: u32,
    /// How long an operation waits for a free connection before the store counts as
    /// unavailable.
    pub acquire_timeout: Duration,
    /// How long one statement (or, on SQLite, the wait for the write lock) may take before the
    /// database gives up on it: keep it below the request timeout, so that a request answered
    /// "unavailable" was truly not applied. Zero: no limit (for audits and migrations).
    pub statement_timeout: Duration,
}

/// By default a statement may take this long.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}
