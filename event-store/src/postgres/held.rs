//! A connection of its own for a background worker (the group committer, the group loader):
//! opened on the worker's runtime, so that its socket wakes the worker directly, and kept while
//! work keeps coming (a pool connection costs a round trip each time it is returned).

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};

use crate::StoreError;

/// A held connection idle this long is closed, and the next use opens a new one.
const IDLE: Duration = Duration::from_secs(5);

/// A held connection idle this long is checked (a round trip) before it is used again: a
/// connection the server ended meanwhile is noticed before an append is sent on it, when
/// giving up is still truthful, not after. Under load it is never idle this long.
const CHECK_AFTER: Duration = Duration::from_millis(10);

/// One connection, opened with the pool's options when first needed.
pub(super) struct HeldConnection {
    options: PgConnectOptions,
    connect_timeout: Duration,
    held: Option<(PgConnection, Instant)>,
}

impl HeldConnection {
    /// A connection like the pool's (its settings, its time limit on connecting).
    pub(super) fn like(pool: &PgPool) -> Self {
        Self {
            options: pool.connect_options().as_ref().clone(),
            connect_timeout: pool.options().get_acquire_timeout(),
            held: None,
        }
    }

    /// The same, with these session settings on top.
    pub(super) fn with_settings(mut self, settings: &[(&str, &str)]) -> Self {
        self.options = self.options.options(settings.iter().copied());
        self
    }

    /// The connection, opened (again) if there is none or it sat idle.
    pub(super) async fn get(&mut self) -> Result<&mut PgConnection, StoreError> {
        let reusable = match self.held.take() {
            Some((conn, used)) if used.elapsed() <= CHECK_AFTER => Some(conn),
            Some((mut conn, used)) if used.elapsed() <= IDLE => match conn.ping().await {
                Ok(()) => Some(conn),
                Err(_) => None,
            },
            Some((conn, _)) => {
                // Idle long: not worth a check; its end is no concern of the next statement.
                let _ = conn.close().await;
                None
            }
            None => None,
        };
        let conn = match reusable {
            Some(conn) => conn,
            None => tokio::time::timeout(
                self.connect_timeout,
                PgConnection::connect_with(&self.options),
            )
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolTimedOut))??,
        };
        Ok(&mut self.held.insert((conn, Instant::now())).0)
    }

    /// Drops the connection (it may be the cause of a failure): the next use opens another.
    pub(super) fn discard(&mut self) {
        self.held = None;
    }
}
