//! The SQLite backend: the embedded default, one file under `./data`, WAL mode.
//!
//! SQLite serialises writers, so the rowid order is commit order and readers follow `position`
//! alone. In this process appends go through a single write connection (no busy-waiting
//! between our own writers); reads use a separate pool. Wake-ups are in-process only.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::watch;

use crate::backend::{Backend, ContradictedHead, Database, LogHead, StreamLock};
use crate::chain::{Chained, chain_events};
use crate::convert::{audit_cursor, parse_hash, to_i64, to_u64};
use crate::group_commit::{GroupCommitStats, GroupCommitter};
use crate::migrations::{self, migrator};
use crate::wakeup::Wakeups;
use crate::{
    AppendRequest, Appended, CommitPoint, DEFAULT_STATEMENT_TIMEOUT, IdempotencyClaim,
    IdempotentOutcome, KeyOutcome, LogFilter, Position, RawEvent, RecordedEvent, Snapshot,
    StoreError, StoreOptions, StreamId,
};

mod group;

/// The log in SQLite.
pub struct SqliteBackend {
    writer: SqlitePool,
    reader: SqlitePool,
    log_file: Option<PathBuf>,
    wakeups: Arc<Wakeups>,
    /// Where appends queue for the next group commit on the write connection.
    committer: GroupCommitter,
}

impl SqliteBackend {
    /// Opens (creating if needed, with its folder) the database named by a `sqlite://` URL.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Opens the database with these time limits: `statement_timeout` bounds the wait for
    /// the write lock, `acquire_timeout` the wait for the (single) write connection.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable on power loss too: nothing acknowledged is ever lost.
            .synchronous(SqliteSynchronous::Full)
            // Zero means "no limit" for statements; waiting for the write lock keeps a bound.
            .busy_timeout(if options.statement_timeout.is_zero() {
                DEFAULT_STATEMENT_TIMEOUT
            } else {
                options.statement_timeout
            })
            .foreign_keys(true)
            // A multi-row statement inside a transaction keeps a statement journal: in memory,
            // not a temporary file created and deleted for every group.
            .pragma("temp_store", "memory");
        let filename = connect.get_filename().to_owned();
        let in_memory = filename.as_os_str().is_empty() || filename == Path::new(":memory:");
        if !in_memory
            && let Some(folder) = filename.parent()
            && !folder.as_os_str().is_empty()
        {
            std::fs::create_dir_all(folder).map_err(|e| {
                StoreError::Config(format!("cannot create {}: {e}", folder.display()))
            })?;
        }
        // A connection to a local file cannot go stale as a network one can: no ping before
        // each use (a round trip to the connection's thread, for every group).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await?;
        // An in-memory database exists per connection: read through the writer then.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect.read_only(true))
                .await?
        };
        let wakeups = Arc::new(Wakeups::new());
        // One writer: SQLite has one write connection.
        let committer = GroupCommitter::start(vec![group::SqliteGroupWriter {
            writer: writer.clone(),
            wakeups: wakeups.clone(),
        }])?;
        Ok(Self {
            writer,
            reader,
            log_file: (!in_memory).then_some(filename),
            wakeups,
            committer,
        })
    }
}

/// Writes the append in `tx` (which holds the write lock) and commits.
async fn append_in(
    mut tx: Transaction<'_, Sqlite>,
    request: &AppendRequest,
    chained: &Chained,
    commit: &CommitPoint,
    wakeups: &Wakeups,
) -> Result<Appended, StoreError> {
    let appended = write_append(&mut tx, request, chained).await?;
    commit.reach();
    tx.commit().await?;
    wakeups.wake();
    Ok(appended)
}

/// Checks the key (when the request has one) and the stream's head, inserts the events and
/// records the key's outcome on `tx`, which holds the write lock; commits nothing.
async fn write_append(
    tx: &mut SqliteConnection,
    request: &AppendRequest,
    chained: &Chained,
) -> Result<Appended, StoreError> {
    if request.events.is_empty() {
        return Err(StoreError::NothingToAppend);
    }
    if let Some(claim) = &request.idempotency
        && let Some(outcome) = outcome_in(tx, &claim.key).await?
    {
        return first_answer(claim, outcome);
    }
    // The head must be the version *and* the hash the events were decided on.
    let head: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT sequence, json_extract(metadata, '$.hash') FROM events \
         WHERE aggregate_type = ? AND aggregate_id = ? ORDER BY sequence DESC LIMIT 1",
    )
    .bind(&request.stream.aggregate_type)
    .bind(&request.stream.aggregate_id)
    .fetch_optional(&mut *tx)
    .await?;
    if !at_head(request, head)? {
        return Err(StoreError::Conflict {
            expected_version: request.expected_version,
        });
    }
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
        .bind(event.payload.get())
        .bind(event.metadata.get())
        .bind(&recorded_at)
        .fetch_one(&mut *tx)
        .await?;
    }
    settle_append(tx, request, chained, position).await
}

/// What an append whose last event is at `position` did, stored as its key's answer when it
/// has a key.
async fn settle_append(
    tx: &mut SqliteConnection,
    request: &AppendRequest,
    chained: &Chained,
    position: i64,
) -> Result<Appended, StoreError> {
    let appended = Appended {
        version: chained.version,
        position: Position::new(0, 0, to_u64(position)?),
        last_hash: chained.last_hash,
        replayed: false,
    };
    if let Some(claim) = &request.idempotency {
        store_outcome(tx, claim, &request.stream, &KeyOutcome::Appended(appended)).await?;
    }
    Ok(appended)
}

/// The answer of an append whose key already stands for `outcome`.
fn first_answer(
    claim: &IdempotencyClaim,
    outcome: IdempotentOutcome,
) -> Result<Appended, StoreError> {
    if outcome.fingerprint != claim.fingerprint {
        return Err(StoreError::IdempotencyKeyReused);
    }
    match outcome.outcome {
        KeyOutcome::Appended(appended) => Ok(appended),
        other => Err(StoreError::Answered(Box::new(other))),
    }
}

/// Whether the stream's head (its last sequence and that event's hash, `None` for a new
/// stream) is the version *and* the hash the request's events were decided on.
fn at_head(
    request: &AppendRequest,
    head: Option<(i64, Option<String>)>,
) -> Result<bool, StoreError> {
    Ok(match head {
        None => request.expected_version == 0,
        Some((version, hash)) => {
            to_u64(version)? == request.expected_version
                && hash.as_deref() == Some(request.prev_hash.to_string().as_str())
        }
    })
}

/// Writes `outcome` as the answer of the claim's key (over an expired row of the same key).
async fn store_outcome(
    conn: &mut SqliteConnection,
    claim: &IdempotencyClaim,
    stream: &StreamId,
    outcome: &KeyOutcome,
) -> Result<(), StoreError> {
    let stored = outcome.stored()?;
    let now = Utc::now();
    let expires_at = claim
        .ttl
        .map(|ttl| ttl.min(crate::idempotency::MAX_TTL))
        .and_then(|ttl| chrono::Duration::from_std(ttl).ok())
        .and_then(|ttl| now.checked_add_signed(ttl))
        .map(timestamp);
    sqlx::query(
        "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id, outcome, \
             version, position, last_hash, detail, created_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             aggregate_type = excluded.aggregate_type, aggregate_id = excluded.aggregate_id, \
             outcome = excluded.outcome, version = excluded.version, \
             position = excluded.position, last_hash = excluded.last_hash, \
             detail = excluded.detail, created_at = excluded.created_at, \
             expires_at = excluded.expires_at",
    )
    .bind(&claim.key)
    .bind(&claim.fingerprint)
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .bind(stored.kind)
    .bind(stored.version)
    .bind(stored.position.map(|p| to_i64(p.seq())).transpose()?)
    .bind(stored.last_hash)
    .bind(stored.detail.map(|d| d.to_string()))
    .bind(timestamp(now))
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The write lock held for one append: SQLite has one writer, so holding its transaction keeps
/// every other append out.
struct SqliteStreamLock {
    tx: Transaction<'static, Sqlite>,
    wakeups: Arc<Wakeups>,
}

#[async_trait]
impl StreamLock for SqliteStreamLock {
    async fn load_snapshot(&mut self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        snapshot_on(&mut self.tx, stream).await
    }

    async fn read_stream(
        &mut self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        stream_on(&mut self.tx, stream, after_version).await
    }

    async fn append(
        self: Box<Self>,
        request: AppendRequest,
        commit: &CommitPoint,
    ) -> Result<Appended, StoreError> {
        let chained = chain_events(&request)?;
        append_in(self.tx, &request, &chained, commit, &self.wakeups).await
    }
}

/// The lock of an in-memory database: taken only for the append itself.
struct DeferredLock {
    writer: SqlitePool,
    wakeups: Arc<Wakeups>,
}

#[async_trait]
impl StreamLock for DeferredLock {
    async fn load_snapshot(&mut self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.writer.acquire().await?;
        snapshot_on(&mut conn, stream).await
    }

    async fn read_stream(
        &mut self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.writer.acquire().await?;
        stream_on(&mut conn, stream, after_version).await
    }

    async fn append(
        self: Box<Self>,
        request: AppendRequest,
        commit: &CommitPoint,
    ) -> Result<Appended, StoreError> {
        let chained = chain_events(&request)?;
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        append_in(tx, &request, &chained, commit, &self.wakeups).await
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn database(&self) -> Database {
        Database::Sqlite {
            log_file: self.log_file.clone(),
        }
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

    async fn append(
        &self,
        request: AppendRequest,
        commit: &CommitPoint,
    ) -> Result<Appended, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::NothingToAppend);
        }
        self.committer.append(request, commit).await
    }

    fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        Some(self.committer.stats())
    }

    async fn lock_stream(&self, _: &StreamId) -> Result<Box<dyn StreamLock>, StoreError> {
        if self.log_file.is_none() {
            // In memory, the writer is also the only reader: holding it would keep the
            // command from loading. One connection serialises appends anyway.
            return Ok(Box::new(DeferredLock {
                writer: self.writer.clone(),
                wakeups: self.wakeups.clone(),
            }));
        }
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Box::new(SqliteStreamLock {
            tx,
            wakeups: self.wakeups.clone(),
        }))
    }

    async fn record_outcome(
        &self,
        claim: &IdempotencyClaim,
        stream: &StreamId,
        outcome: &KeyOutcome,
    ) -> Result<Option<IdempotentOutcome>, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(first) = outcome_in(&mut tx, &claim.key).await? {
            return Ok(Some(first));
        }
        store_outcome(&mut tx, claim, stream, outcome).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn remove_expired_keys(&self, limit: u32) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys \
                 WHERE expires_at <= ? LIMIT ?)",
        )
        .bind(timestamp(Utc::now()))
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await?
        .rows_affected())
    }

    async fn contradicted_heads(
        &self,
        stream: Option<&StreamId>,
        limit: u32,
    ) -> Result<Vec<ContradictedHead>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.aggregate_type, w.aggregate_id, w.version, w.witness, \
                 json_extract(e.metadata, '$.hash') AS found \
             FROM (SELECT aggregate_type, aggregate_id, version, last_hash, 'snapshot' AS witness \
                     FROM snapshots \
                   UNION ALL \
                   SELECT aggregate_type, aggregate_id, version, last_hash, 'idempotency key' \
                     FROM idempotency_keys \
                     WHERE outcome IN ('appended', 'unchanged') AND version > 0) AS w \
             LEFT JOIN events e ON e.aggregate_type = w.aggregate_type \
                 AND e.aggregate_id = w.aggregate_id AND e.sequence = w.version \
             WHERE (e.metadata IS NULL \
                    OR json_extract(e.metadata, '$.hash') IS NOT w.last_hash) \
               AND (?1 IS NULL OR (w.aggregate_type = ?1 AND w.aggregate_id = ?2)) \
             ORDER BY w.aggregate_type, w.aggregate_id, w.version \
             LIMIT ?3",
        )
        .bind(stream.map(|s| s.aggregate_type.as_str()))
        .bind(stream.map(|s| s.aggregate_id.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ContradictedHead {
                    stream: StreamId::new(
                        row.try_get::<String, _>("aggregate_type")?,
                        row.try_get::<String, _>("aggregate_id")?,
                    ),
                    version: to_u64(row.try_get("version")?)?,
                    witness: row.try_get("witness")?,
                    found: row.try_get::<Option<String>, _>("found")?.is_some(),
                })
            })
            .collect()
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
        let mut conn = self.reader.acquire().await?;
        stream_on(&mut conn, stream, after_version).await
    }

    async fn read_all(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.read_all_as(after, limit).await
    }

    async fn read_all_raw(&self, after: Position, limit: u32) -> Result<Vec<RawEvent>, StoreError> {
        self.read_all_as(after, limit).await
    }

    fn stream_all(
        &self,
        after: Position,
        limit: u32,
        metadata: bool,
    ) -> BoxStream<'_, Result<RecordedEvent, StoreError>> {
        let after = match to_i64(after.seq()) {
            Ok(after) => after,
            Err(error) => return Box::pin(futures_util::stream::once(async { Err(error) })),
        };
        let sql = if metadata {
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
             metadata, position, recorded_at FROM events WHERE position > ? ORDER BY position \
             LIMIT ?"
        } else {
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
             'null' AS metadata, position, recorded_at FROM events WHERE position > ? \
             ORDER BY position LIMIT ?"
        };
        let rows = sqlx::query(sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch(&self.reader)
            .map(|row| decode_event(&row?));
        Box::pin(rows)
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

    async fn read_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(SELECT_EVENT);
        query.push(" WHERE true");
        push_filter(&mut query, filter, after)?;
        query
            .push(" ORDER BY position LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.reader).await?;
        rows.iter().map(decode_event).collect()
    }

    async fn count_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        cap: u64,
    ) -> Result<u64, StoreError> {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT count(*) FROM (SELECT 1 FROM events WHERE true");
        push_filter(&mut query, filter, after)?;
        query.push(" LIMIT ").push_bind(to_i64(cap)?).push(")");
        let count: i64 = query.build_query_scalar().fetch_one(&self.reader).await?;
        to_u64(count)
    }

    async fn count_after(&self, after: Position, cap: u64) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE position > ? LIMIT ?)",
        )
        .bind(to_i64(after.seq())?)
        .bind(to_i64(cap)?)
        .fetch_one(&self.reader)
        .await?;
        to_u64(count)
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        snapshot_on(&mut conn, stream).await
    }

    async fn load_to_decide(
        &self,
        stream: &StreamId,
    ) -> Result<(Option<Snapshot>, Vec<RawEvent>), StoreError> {
        // Events appended between the two reads come along, which is as good.
        let mut conn = self.reader.acquire().await?;
        let snapshot = snapshot_on(&mut conn, stream).await?;
        let after = snapshot.as_ref().map_or(0, |s| s.version);
        let events = stream_on(&mut conn, stream, after).await?;
        Ok((snapshot, events))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        save_snapshot_on(&self.writer, snapshot).await
    }

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        // One transaction, so one sync, for the batch; each only where the log holds its
        // version's event with its hash.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        for snapshot in snapshots {
            let stands: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_type = ? \
                     AND aggregate_id = ? AND sequence = ? \
                     AND json_extract(metadata, '$.hash') = ?)",
            )
            .bind(&snapshot.stream.aggregate_type)
            .bind(&snapshot.stream.aggregate_id)
            .bind(to_i64(snapshot.version)?)
            .bind(snapshot.last_hash.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if stands {
                save_snapshot_on(&mut *tx, snapshot).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wakeups.subscribe()
    }
}

/// Stores a snapshot on `conn` unless a newer one is stored already.
async fn save_snapshot_on<'c>(
    conn: impl sqlx::SqliteExecutor<'c>,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
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
    .execute(conn)
    .await?;
    Ok(())
}

const SELECT_EVENT: &str = "SELECT aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata, position, recorded_at FROM events";

/// The live (not expired) outcome of `key`, read on `conn`.
async fn outcome_in(
    conn: &mut SqliteConnection,
    key: &str,
) -> Result<Option<IdempotentOutcome>, StoreError> {
    let row = sqlx::query(
        "SELECT fingerprint, aggregate_type, aggregate_id, outcome, version, position, \
             last_hash, detail \
         FROM idempotency_keys WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
    )
    .bind(key)
    .bind(timestamp(Utc::now()))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let kind: String = row.try_get("outcome")?;
    let last_hash: Option<String> = row.try_get("last_hash")?;
    let detail = row
        .try_get::<Option<String>, _>("detail")?
        .map(|d| serde_json::from_str::<Value>(&d))
        .transpose()?;
    let position = row
        .try_get::<Option<i64>, _>("position")?
        .map(|p| to_u64(p).map(|p| Position::new(0, 0, p)))
        .transpose()?;
    Ok(Some(IdempotentOutcome {
        fingerprint: row.try_get("fingerprint")?,
        stream: StreamId::new(
            row.try_get::<String, _>("aggregate_type")?,
            row.try_get::<String, _>("aggregate_id")?,
        ),
        outcome: KeyOutcome::from_stored(
            &kind,
            row.try_get("version")?,
            position,
            last_hash.as_deref(),
            detail,
        )?,
    }))
}

/// The stream's events after `after_version`, as stored, read on `conn`.
async fn stream_on<J: DeserializeOwned>(
    conn: &mut SqliteConnection,
    stream: &StreamId,
    after_version: u64,
) -> Result<Vec<RecordedEvent<J>>, StoreError> {
    let rows = sqlx::query(&format!(
        "{SELECT_EVENT} WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ? \
         ORDER BY sequence"
    ))
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .bind(to_i64(after_version)?)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(decode_event).collect()
}

/// The stream's snapshot, read on `conn`.
async fn snapshot_on(
    conn: &mut SqliteConnection,
    stream: &StreamId,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT version, state, last_hash, position FROM snapshots \
         WHERE aggregate_type = ? AND aggregate_id = ?",
    )
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .fetch_optional(&mut *conn)
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

impl SqliteBackend {
    /// Up to `limit` events of the global log after `after`, their JSON decoded as `J`.
    async fn read_all_as<J: DeserializeOwned>(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent<J>>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_EVENT} WHERE position > ? ORDER BY position LIMIT ?"
        ))
        .bind(to_i64(after.seq())?)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(decode_event).collect()
    }
}

fn decode_event<J: DeserializeOwned>(row: &SqliteRow) -> Result<RecordedEvent<J>, StoreError> {
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
        payload: serde_json::from_str::<J>(&payload)?,
        metadata: serde_json::from_str::<J>(&metadata)?,
        position: Position::new(0, 0, to_u64(row.try_get("position")?)?),
        recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
            .map_err(|e| StoreError::Corrupt(format!("recorded_at `{recorded_at}`: {e}")))?
            .with_timezone(&Utc),
    })
}

/// Narrows a query over `events` to the events after `after` that `filter` matches (`AND
/// ...` for each field it sets). Each field has its index (migration 0003): the same
/// expressions here, or the index is not used.
fn push_filter(
    query: &mut QueryBuilder<'_, Sqlite>,
    filter: &LogFilter,
    after: Position,
) -> Result<(), StoreError> {
    query
        .push(" AND position > ")
        .push_bind(to_i64(after.seq())?);
    if !filter.aggregate_types.is_empty() {
        query.push(" AND aggregate_type IN (");
        let mut types = query.separated(", ");
        for aggregate_type in &filter.aggregate_types {
            types.push_bind(aggregate_type.clone());
        }
        types.push_unseparated(")");
    }
    if let Some(id) = &filter.aggregate_id {
        query.push(" AND aggregate_id = ").push_bind(id.clone());
    }
    if let Some(event_type) = &filter.event_type {
        query
            .push(" AND event_type = ")
            .push_bind(event_type.clone());
    }
    if let Some(actor) = &filter.actor {
        query
            .push(" AND json_extract(metadata, '$.actor.sub') = ")
            .push_bind(actor.clone());
    }
    if let Some(from) = filter.from {
        query
            .push(" AND recorded_at >= ")
            .push_bind(timestamp(from));
    }
    if let Some(to) = filter.to {
        query.push(" AND recorded_at < ").push_bind(timestamp(to));
    }
    Ok(())
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
