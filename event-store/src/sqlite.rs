//! The SQLite backend: the embedded default, one file under `./data`, WAL mode.
//!
//! SQLite serialises writers, so the rowid order is commit order and readers follow `position`
//! alone. In this process appends go through a single write connection (no busy-waiting
//! between our own writers); reads use a separate pool. Wake-ups are in-process only.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use tokio::sync::watch;

use crate::backend::{Backend, IdempotentOutcome, LogHead};
use crate::chain::chain_events;
use crate::convert::{audit_cursor, parse_hash, to_i64, to_u64};
use crate::migrations::{self, migrator};
use crate::wakeup::Wakeups;
use crate::{AppendRequest, Appended, Position, RecordedEvent, Snapshot, StoreError, StreamId};

/// The log in SQLite.
pub struct SqliteBackend {
    writer: SqlitePool,
    reader: SqlitePool,
    wakeups: Arc<Wakeups>,
}

impl SqliteBackend {
    /// Opens (creating if needed, with its folder) the database named by a `sqlite://` URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable on power loss too: nothing acknowledged is ever lost.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let filename = options.get_filename().to_owned();
        let in_memory = filename.as_os_str().is_empty() || filename == Path::new(":memory:");
        if !in_memory
            && let Some(folder) = filename.parent()
            && !folder.as_os_str().is_empty()
        {
            std::fs::create_dir_all(folder).map_err(|e| {
                StoreError::Config(format!("cannot create {}: {e}", folder.display()))
            })?;
        }
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        // An in-memory database exists per connection: read through the writer then.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.read_only(true))
                .await?
        };
        Ok(Self {
            writer,
            reader,
            wakeups: Arc::new(Wakeups::new()),
        })
    }

    /// The write pool, for the crates that keep their own tables in the same database.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = migrator(migrations::SQLITE)
            .await
            .map_err(|e| StoreError::Config(format!("migrations: {e}")))?;
        migrator
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::Config(format!("migrations: {e}")))?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1 FROM events LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        Ok(())
    }

    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::NothingToAppend);
        }
        // IMMEDIATE: take the write lock before reading the stream's version, so another
        // process writing meanwhile makes us wait (busy timeout) instead of failing mid-way.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(claim) = &request.idempotency
            && let Some(outcome) = outcome_in(&mut tx, &claim.key).await?
        {
            if outcome.fingerprint != claim.fingerprint {
                return Err(StoreError::IdempotencyKeyReused);
            }
            return Ok(outcome.appended);
        }
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT max(sequence) FROM events WHERE aggregate_type = ? AND aggregate_id = ?",
        )
        .bind(&request.stream.aggregate_type)
        .bind(&request.stream.aggregate_id)
        .fetch_one(&mut *tx)
        .await?;
        if to_u64(current.unwrap_or(0))? != request.expected_version {
            return Err(StoreError::Conflict {
                expected_version: request.expected_version,
            });
        }
        let chained = chain_events(&request)?;
        let recorded_at = timestamp(Utc::now());
        let mut position = 0;
        for event in &chained.events {
            position = sqlx::query_scalar(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                     event_version, payload, metadata, recorded_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING position",
            )
            .bind(&request.stream.aggregate_type)
            .bind(&request.stream.aggregate_id)
            .bind(to_i64(event.sequence)?)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(serde_json::to_string(&event.payload)?)
            .bind(serde_json::to_string(&event.metadata)?)
            .bind(&recorded_at)
            .fetch_one(&mut *tx)
            .await?;
        }
        let appended = Appended {
            version: chained.version,
            position: Position::new(0, 0, to_u64(position)?),
            last_hash: chained.last_hash,
            replayed: false,
        };
        if let Some(claim) = &request.idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, \
                     version, position, last_hash, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&claim.key)
            .bind(&claim.fingerprint)
            .bind(&request.stream.aggregate_type)
            .bind(&request.stream.aggregate_id)
            .bind(to_i64(appended.version)?)
            .bind(position)
            .bind(appended.last_hash.to_string())
            .bind(&recorded_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.wakeups.wake();
        Ok(appended)
    }

    async fn idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        outcome_in(&mut conn, key).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENT} WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ? \
             ORDER BY sequence"
        ))
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .bind(to_i64(after_version)?)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(decode_event).collect()
    }

    async fn read_all(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENT} WHERE position > ? ORDER BY position LIMIT ?"
        ))
        .bind(to_i64(after.seq())?)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(decode_event).collect()
    }

    async fn read_streams_after(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (aggregate_type, aggregate_id, sequence) = audit_cursor(after)?;
        let rows = sqlx::query(&format!(
            "{SELECT_EVENT} WHERE (aggregate_type, aggregate_id, sequence) > (?, ?, ?) \
             ORDER BY aggregate_type, aggregate_id, sequence LIMIT ?"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(decode_event).collect()
    }

    async fn head(&self) -> Result<LogHead, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(LogHead {
            readable: last
                .map(|p| to_u64(p).map(|p| Position::new(0, 0, p)))
                .transpose()?,
            horizon_age_seconds: None,
        })
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT version, state, last_hash, position FROM snapshots \
             WHERE aggregate_type = ? AND aggregate_id = ?",
        )
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get("state")?;
        let last_hash: String = row.try_get("last_hash")?;
        Ok(Some(Snapshot {
            stream: stream.clone(),
            version: to_u64(row.try_get("version")?)?,
            state: serde_json::from_str(&state)?,
            last_hash: parse_hash(&last_hash)?,
            position: Position::new(0, 0, to_u64(row.try_get("position")?)?),
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO snapshots (aggregate_type, aggregate_id, version, state, last_hash, \
                 position, taken_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
                 version = excluded.version, state = excluded.state, \
                 last_hash = excluded.last_hash, position = excluded.position, \
                 taken_at = excluded.taken_at \
             WHERE snapshots.version < excluded.version",
        )
        .bind(&snapshot.stream.aggregate_type)
        .bind(&snapshot.stream.aggregate_id)
        .bind(to_i64(snapshot.version)?)
        .bind(serde_json::to_string(&snapshot.state)?)
        .bind(snapshot.last_hash.to_string())
        .bind(to_i64(snapshot.position.seq())?)
        .bind(timestamp(Utc::now()))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wakeups.subscribe()
    }
}

const SELECT_EVENT: &str = "SELECT aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata, position, recorded_at FROM events";

async fn outcome_in(
    conn: &mut sqlx::SqliteConnection,
    key: &str,
) -> Result<Option<IdempotentOutcome>, StoreError> {
    let row = sqlx::query(
        "SELECT fingerprint, aggregate_type, aggregate_id, version, position, last_hash \
         FROM idempotency_keys WHERE key = ?",
    )
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let last_hash: String = row.try_get("last_hash")?;
    Ok(Some(IdempotentOutcome {
        fingerprint: row.try_get("fingerprint")?,
        stream: StreamId::new(
            row.try_get::<String, _>("aggregate_type")?,
            row.try_get::<String, _>("aggregate_id")?,
        ),
        appended: Appended {
            version: to_u64(row.try_get("version")?)?,
            position: Position::new(0, 0, to_u64(row.try_get("position")?)?),
            last_hash: parse_hash(&last_hash)?,
            replayed: true,
        },
    }))
}

fn decode_event(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    let recorded_at: String = row.try_get("recorded_at")?;
    Ok(RecordedEvent {
        stream: StreamId::new(
            row.try_get::<String, _>("aggregate_type")?,
            row.try_get::<String, _>("aggregate_id")?,
        ),
        sequence: to_u64(row.try_get("sequence")?)?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: serde_json::from_str::<Value>(&payload)?,
        metadata: serde_json::from_str::<Value>(&metadata)?,
        position: Position::new(0, 0, to_u64(row.try_get("position")?)?),
        recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
            .map_err(|e| StoreError::Corrupt(format!("recorded_at `{recorded_at}`: {e}")))?
            .with_timezone(&Utc),
    })
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
