//! `projection_status`: one row per projection with its checkpoint (the position its live
//! tables include, written in the same transaction as their rows), its state and last error,
//! and the progress of a rebuild under way.

use chrono::Utc;
use event_store::Position;

use crate::ProjectionError;
use crate::changes::write_changes;
use crate::db::{BeginWrite, ReadDb, SETUP_LOCK_CLASS, on_db};
use crate::projection::Projection;
use crate::table::{Row, Tables, table_row};
use crate::time::to_text;

const STATUS_TABLE: &str = "CREATE TABLE IF NOT EXISTS projection_status (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    position TEXT NOT NULL,
    applied BIGINT NOT NULL,
    last_event_at TEXT,
    updated_at TEXT NOT NULL,
    state TEXT NOT NULL,
    last_error TEXT,
    error_position TEXT,
    error_event TEXT,
    failing_since TEXT,
    attempts BIGINT NOT NULL,
    rebuilt_at TEXT,
    build_id TEXT,
    build_heartbeat TEXT,
    build_generation BIGINT,
    build_version BIGINT,
    build_position TEXT,
    build_applied BIGINT,
    build_total BIGINT,
    build_started_at TEXT
)";

table_row! {
/// A projection's row of `projection_status`.
pub struct StatusRow in "projection_status" key(name) {
    /// The projection.
    pub name: String,
    /// The schema version of its live tables.
    pub version: i64,
    /// The generation of its live tables (raised by each rebuild).
    pub generation: i64,
    /// The position its live tables include (a position token).
    pub position: String,
    /// Events of the log up to `position`.
    pub applied: i64,
    /// When the event at `position` was recorded.
    pub last_event_at: Option<String>,
    /// When the row last changed.
    pub updated_at: String,
    /// `running`, `failing` or `stopped`, as its live instance last said.
    pub state: String,
    /// The last error, kept after recovery.
    pub last_error: Option<String>,
    /// The position of the event it fails on, while failing.
    pub error_position: Option<String>,
    /// The event it fails on, while failing.
    pub error_event: Option<String>,
    /// Since when it fails.
    pub failing_since: Option<String>,
    /// Failed attempts in a row.
    pub attempts: i64,
    /// When it was last rebuilt.
    pub rebuilt_at: Option<String>,
    /// The rebuild under way, if any.
    pub build_id: Option<String>,
    /// When that rebuild last made progress.
    pub build_heartbeat: Option<String>,
    /// The generation it builds.
    pub build_generation: Option<i64>,
    /// The schema version it builds.
    pub build_version: Option<i64>,
    /// The position it reached.
    pub build_position: Option<String>,
    /// Events it applied.
    pub build_applied: Option<i64>,
    /// Events in the log when it started.
    pub build_total: Option<i64>,
    /// When it started.
    pub build_started_at: Option<String>,
}
}

impl StatusRow {
    /// The checkpoint as a position.
    pub fn checkpoint(&self) -> Result<Position, ProjectionError> {
        Position::from_token(&self.position)
            .map_err(|e| ProjectionError::Corrupt(format!("{}: {e}", self.name)))
    }
}

/// Creates the status table and, for each projection without a row, its live tables
/// (generation 1) and its row at the start of the log. Safe to run from several processes at
/// once.
pub async fn set_up(db: &ReadDb, projections: &[&dyn Projection]) -> Result<(), ProjectionError> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        if matches!(db, ReadDb::Postgres(_)) {
            sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
                .bind(SETUP_LOCK_CLASS)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(STATUS_TABLE).execute(&mut *tx).await?;
        for projection in projections {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT version FROM projection_status WHERE name = $1")
                    .bind(projection.name())
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_some() {
                continue;
            }
            for table in projection.tables() {
                sqlx::query(&format!("DROP TABLE IF EXISTS {}", table.name))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&table.create_sql(table.name, 1))
                    .execute(&mut *tx)
                    .await?;
                for index in table.index_sql(table.name, 1) {
                    sqlx::query(&index).execute(&mut *tx).await?;
                }
            }
            sqlx::query(
                "INSERT INTO projection_status (name, version, generation, position, applied, \
                     updated_at, state, attempts) \
                 VALUES ($1, $2, 1, $3, 0, $4, 'stopped', 0)",
            )
            .bind(projection.name())
            .bind(projection.version())
            .bind(Position::START.token())
            .bind(to_text(Utc::now()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

/// Every projection's status row, by name.
pub async fn all(db: &ReadDb) -> Result<Vec<StatusRow>, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM projection_status ORDER BY name",
        StatusRow::TABLE.column_list()
    );
    Ok(on_db!(db, pool => sqlx::query_as::<_, StatusRow>(&sql).fetch_all(pool).await)?)
}

/// One projection's status row.
pub async fn one(db: &ReadDb, name: &str) -> Result<StatusRow, ProjectionError> {
    let sql = format!(
        "SELECT {} FROM projection_status WHERE name = $1",
        StatusRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, StatusRow>(&sql).bind(name).fetch_optional(pool).await)?
        .ok_or_else(|| ProjectionError::Unknown(name.to_owned()))
}

/// Where a batch starts: the checkpoint it read and the generation of the tables it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The live tables' generation.
    pub generation: i64,
    /// The position they include.
    pub position: Position,
    /// Events up to it.
    pub applied: i64,
}

/// A batch ready to commit: its changes, and where it leaves the checkpoint.
#[derive(Debug)]
pub struct BatchCommit<'a> {
    /// The projection.
    pub name: &'a str,
    /// The checkpoint the batch was read after.
    pub from: Checkpoint,
    /// The position of its last event.
    pub to: Position,
    /// How many events it held.
    pub events: i64,
    /// When its last event was recorded.
    pub last_event_at: Option<String>,
    /// Its rows.
    pub changes: &'a crate::changes::Changes,
}

/// Commits a batch: moves the checkpoint from `from` to `to` and writes the rows, in one
/// transaction. The checkpoint moves first, and only if it is still where the batch read it
/// (same generation, same position): otherwise nothing is written and `Ok(false)` says the
/// tables moved under the batch (a rebuild swapped them, or another instance applied it).
/// `still_leased` runs last, before commit, so a batch of an instance that lost its lease
/// never commits.
pub async fn commit_batch<F>(
    db: &ReadDb,
    batch: BatchCommit<'_>,
    still_leased: F,
) -> Result<bool, ProjectionError>
where
    F: AsyncFnOnce() -> Result<(), ProjectionError>,
{
    let now = to_text(Utc::now());
    let moved_sql = "UPDATE projection_status SET position = $1, applied = $2, \
             last_event_at = COALESCE($3, last_event_at), updated_at = $4, state = 'running', \
             error_position = NULL, error_event = NULL, failing_since = NULL, attempts = 0 \
         WHERE name = $5 AND generation = $6 AND position = $7";
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let moved = sqlx::query(moved_sql)
            .bind(batch.to.token())
            .bind(batch.from.applied + batch.events)
            .bind(batch.last_event_at.as_deref())
            .bind(&now)
            .bind(batch.name)
            .bind(batch.from.generation)
            .bind(batch.from.position.token())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        write_changes(&mut tx, batch.changes, Tables::Live).await?;
        still_leased().await?;
        tx.commit().await?;
        Ok(true)
    })
}

/// The checkpoint of `name`'s live tables.
pub async fn checkpoint(db: &ReadDb, name: &str) -> Result<(Checkpoint, i64), ProjectionError> {
    let row = one(db, name).await?;
    Ok((
        Checkpoint {
            generation: row.generation,
            position: row.checkpoint()?,
            applied: row.applied,
        },
        row.version,
    ))
}

/// Records that `name` fails on `event` at `position`, without moving its checkpoint.
pub async fn record_failure(
    db: &ReadDb,
    name: &str,
    error: &str,
    position: Option<Position>,
    event: Option<&str>,
) -> Result<(), ProjectionError> {
    let now = to_text(Utc::now());
    let sql = "UPDATE projection_status SET state = 'failing', last_error = $1, \
             error_position = $2, error_event = $3, failing_since = COALESCE(failing_since, $4), \
             attempts = attempts + 1, updated_at = $4 \
         WHERE name = $5";
    on_db!(db, pool => sqlx::query(sql)
        .bind(error)
        .bind(position.map(|p| p.token()))
        .bind(event)
        .bind(&now)
        .bind(name)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Records that `name`'s live instance runs and is not failing (it took the lease, or the
/// cause of its failure is gone); the last error stays for the record.
pub async fn record_live(db: &ReadDb, name: &str) -> Result<(), ProjectionError> {
    let sql = "UPDATE projection_status SET state = 'running', error_position = NULL, \
                   error_event = NULL, failing_since = NULL, attempts = 0, updated_at = $1 \
               WHERE name = $2";
    on_db!(db, pool => sqlx::query(sql)
        .bind(to_text(Utc::now()))
        .bind(name)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Records `name`'s state (`running` on taking the lease, `stopped`) unless it is failing: a
/// failure stands, with its age, until a batch succeeds.
pub async fn record_state(db: &ReadDb, name: &str, state: &str) -> Result<(), ProjectionError> {
    let sql = "UPDATE projection_status SET state = $1, updated_at = $2 \
               WHERE name = $3 AND state <> 'failing'";
    on_db!(db, pool => sqlx::query(sql)
        .bind(state)
        .bind(to_text(Utc::now()))
        .bind(name)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}
