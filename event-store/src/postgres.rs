//! The PostgreSQL backend: the production store, shared by every process and machine.
//!
//! Global order: each row stores its writing transaction's id (`xid8`); readers take only rows
//! whose transaction is below the oldest one still running, ordered by (epoch, tx, position).
//! Appends of different streams run fully concurrently (no global lock); the price is that a
//! long transaction anywhere in the cluster holds readers back until it ends, which
//! [`LogHead::horizon_age_seconds`] shows next to the lag.
//!
//! Wake-ups: never `NOTIFY` inside the append (a pending notification takes a cluster-wide lock
//! at commit that serialises every such commit). After a commit the appender pokes a local task
//! that sends at most one `NOTIFY` every few milliseconds; readers also poll, so a lost
//! notification only delays them.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::{Stream, TryStreamExt};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use tokio::sync::{Notify, OnceCell, watch};
use tokio::task::JoinHandle;

use crate::backend::{Backend, IdempotentOutcome, LogHead};
use crate::chain::chain_events;
use crate::convert::{audit_cursor, parse_hash, to_i32, to_i64, to_u32, to_u64};
use crate::error::UNIQUE_VIOLATION;
use crate::migrations::{self, migrator};
use crate::wakeup::Wakeups;
use crate::{
    AppendRequest, Appended, IdempotencyClaim, Position, RecordedEvent, Snapshot, StoreError,
    StreamId,
};

/// A query selecting events' columns in the order [`decode_event`] reads them, then `$rest`.
macro_rules! select_event {
    ($rest:literal) => {
        concat!(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
             metadata, epoch, tx::text::bigint AS tx_id, position, recorded_at FROM events ",
            $rest
        )
    };
}

/// The channel appends are announced on.
const CHANNEL: &str = "supplyline_log";

/// How long the notifier gathers appends before sending one `NOTIFY`.
const NOTIFY_COALESCE: Duration = Duration::from_millis(10);

/// What a test hook tells an append to do once its rows are written, before commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeCommit {
    /// Commit as usual.
    Commit,
    /// Roll the transaction back (the append fails).
    Rollback,
}

/// A hook awaited inside every append's transaction just before commit: lets tests hold
/// transactions open and roll some back, exercising the real append path.
pub type BeforeCommitHook = Arc<dyn Fn() -> BoxFuture<'static, BeforeCommit> + Send + Sync>;

/// Pool settings for the PostgreSQL backend.
#[derive(Debug, Clone, Copy)]
pub struct PostgresOptions {
    /// Connections in the pool (one more is kept for `LISTEN`).
    pub max_connections: u32,
    /// How long a query waits for a free connection before the store counts as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The log in PostgreSQL.
pub struct PostgresBackend {
    pool: PgPool,
    epoch: OnceCell<u32>,
    wakeups: Arc<Wakeups>,
    announce: Arc<Notify>,
    before_commit: Option<BeforeCommitHook>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PostgresBackend {
    /// Connects lazily (a database that is down makes operations unavailable, not the start
    /// fail) and starts the notifier and listener tasks. Needs a Tokio runtime.
    pub fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1) + 1)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        let wakeups = Arc::new(Wakeups::new());
        let announce = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(announce_appends(pool.clone(), announce.clone())),
            tokio::spawn(listen_for_appends(pool.clone(), wakeups.clone())),
        ];
        Self {
            pool,
            epoch: OnceCell::new(),
            wakeups,
            announce,
            before_commit: None,
            tasks,
        }
    }

    /// Installs a hook awaited inside every append's transaction before commit (tests).
    pub fn with_before_commit(mut self, hook: BeforeCommitHook) -> Self {
        self.before_commit = Some(hook);
        self
    }

    /// The pool, for the crates that keep their own tables in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn epoch(&self) -> Result<u32, StoreError> {
        self.epoch
            .get_or_try_init(|| async {
                let epoch: i32 = sqlx::query_scalar("SELECT epoch FROM log_epoch")
                    .fetch_one(&self.pool)
                    .await?;
                u32::try_from(epoch).map_err(|_| StoreError::Corrupt("negative epoch".into()))
            })
            .await
            .copied()
    }

    async fn append_in(
        &self,
        conn: &mut PgConnection,
        request: &AppendRequest,
        epoch: u32,
    ) -> Result<Appended, StoreError> {
        let chained = chain_events(request)?;
        let version = chained.version;
        let last_hash = chained.last_hash;
        let expected = to_i64(request.expected_version)?;
        let rows = match <[_; 1]>::try_from(chained.events) {
            // The common case, one event: a plain row, no arrays to build and take apart.
            Ok([event]) => {
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                         event_version, payload, metadata, epoch) \
                     SELECT $1, $2, $4, $5, $6, $7, $8, $3 \
                     WHERE $9::bigint = 0 OR EXISTS (SELECT 1 FROM events \
                         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $9) \
                     RETURNING tx::text::bigint AS tx_id, position",
                )
                .bind(&request.stream.aggregate_type)
                .bind(&request.stream.aggregate_id)
                .bind(to_i32(epoch)?)
                .bind(to_i64(event.sequence)?)
                .bind(event.event_type)
                .bind(event.event_version)
                .bind(event.payload)
                .bind(event.metadata)
                .bind(expected)
                .fetch_all(&mut *conn)
                .await
            }
            Err(events) => {
                let count = events.len();
                let (mut sequences, mut types, mut versions, mut payloads, mut metadata) = (
                    Vec::with_capacity(count),
                    Vec::with_capacity(count),
                    Vec::with_capacity(count),
                    Vec::with_capacity(count),
                    Vec::with_capacity(count),
                );
                for event in events {
                    sequences.push(to_i64(event.sequence)?);
                    types.push(event.event_type);
                    versions.push(event.event_version);
                    payloads.push(event.payload);
                    metadata.push(event.metadata);
                }
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                         event_version, payload, metadata, epoch) \
                     SELECT $1, $2, s, t, v, p, m, $3 \
                     FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::jsonb[], \
                         $8::jsonb[]) WITH ORDINALITY AS u(s, t, v, p, m, n) \
                     WHERE $9::bigint = 0 OR EXISTS (SELECT 1 FROM events \
                         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $9) \
                     ORDER BY n \
                     RETURNING tx::text::bigint AS tx_id, position",
                )
                .bind(&request.stream.aggregate_type)
                .bind(&request.stream.aggregate_id)
                .bind(to_i32(epoch)?)
                .bind(&sequences)
                .bind(&types)
                .bind(&versions)
                .bind(&payloads)
                .bind(&metadata)
                .bind(expected)
                .fetch_all(&mut *conn)
                .await
            }
        }
        .map_err(|e| conflict_or(e, request.expected_version))?;
        let conflict = StoreError::Conflict {
            expected_version: request.expected_version,
        };
        let mut last: Option<(i64, i64)> = None;
        for row in &rows {
            let tx: i64 = row.try_get("tx_id")?;
            let position: i64 = row.try_get("position")?;
            if last.is_none_or(|(_, p)| position > p) {
                last = Some((tx, position));
            }
        }
        let (tx, position) = last.ok_or(conflict)?;
        Ok(Appended {
            version,
            position: Position::new(epoch, to_u64(tx)?, to_u64(position)?),
            last_hash,
            replayed: false,
        })
    }

    async fn append_claiming(
        &self,
        request: &AppendRequest,
        claim: Option<&IdempotencyClaim>,
        epoch: u32,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(claim) = claim {
            // Claimed first: an identical concurrent request waits here for this one to end.
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (key, fingerprint, aggregate_type, aggregate_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&claim.key)
            .bind(&claim.fingerprint)
            .bind(&request.stream.aggregate_type)
            .bind(&request.stream.aggregate_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !claimed {
                tx.rollback().await?;
                return self.replay(claim).await;
            }
        }
        let appended = self.append_in(&mut tx, request, epoch).await?;
        if let Some(claim) = claim {
            sqlx::query(
                "UPDATE idempotency_keys SET version = $2, epoch = $3, tx = $4, position = $5, \
                 last_hash = $6 WHERE key = $1",
            )
            .bind(&claim.key)
            .bind(to_i64(appended.version)?)
            .bind(to_i32(appended.position.epoch())?)
            .bind(to_i64(appended.position.tx())?)
            .bind(to_i64(appended.position.seq())?)
            .bind(appended.last_hash.to_string())
            .execute(&mut *tx)
            .await?;
        }
        if let Some(hook) = &self.before_commit
            && hook().await == BeforeCommit::Rollback
        {
            tx.rollback().await?;
            return Err(StoreError::Database(sqlx::Error::Protocol(
                "rolled back by the before-commit hook".into(),
            )));
        }
        tx.commit().await?;
        Ok(appended)
    }

    async fn replay(&self, claim: &IdempotencyClaim) -> Result<Appended, StoreError> {
        let outcome = self
            .idempotent_outcome(&claim.key)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an idempotency key vanished".into()))?;
        if outcome.fingerprint != claim.fingerprint {
            return Err(StoreError::IdempotencyKeyReused);
        }
        Ok(outcome.appended)
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = migrator(migrations::POSTGRES)
            .await
            .map_err(|e| StoreError::Config(format!("migrations: {e}")))?;
        migrator.run(&self.pool).await.map_err(migrate_error)?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        // A real round trip, not the cached epoch: readiness must notice an outage.
        sqlx::query("SELECT epoch FROM log_epoch")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        if request.events.is_empty() {
            return Err(StoreError::NothingToAppend);
        }
        let epoch = self.epoch().await?;
        let appended = match (&request.idempotency, &self.before_commit) {
            // One statement, one round trip: the INSERT is atomic on its own.
            (None, None) => {
                let mut conn = self.pool.acquire().await?;
                self.append_in(&mut conn, &request, epoch).await?
            }
            (claim, _) => {
                self.append_claiming(&request, claim.as_ref(), epoch)
                    .await?
            }
        };
        if !appended.replayed {
            self.wakeups.wake();
            self.announce.notify_one();
        }
        Ok(appended)
    }

    async fn idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, StoreError> {
        let row = sqlx::query(
            "SELECT fingerprint, aggregate_type, aggregate_id, version, epoch, tx, position, \
             last_hash FROM idempotency_keys WHERE key = $1 AND version IS NOT NULL",
        )
        .bind(key)
        .fetch_optional(&self.pool)
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
                position: Position::new(
                    to_u32(row.try_get("epoch")?)?,
                    to_u64(row.try_get("tx")?)?,
                    to_u64(row.try_get("position")?)?,
                ),
                last_hash: parse_hash(&last_hash)?,
                replayed: true,
            },
        }))
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(select_event!(
            "WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
             ORDER BY sequence"
        ))
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .bind(to_i64(after_version)?)
        .fetch(&self.pool);
        decode_all(rows).await
    }

    async fn read_all(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let epoch = self.epoch().await?;
        let rows = sqlx::query(select_event!(
            "WHERE (epoch, tx, position) > ($1, $2::text::xid8, $3) \
               AND (epoch < $4 OR tx < pg_snapshot_xmin(pg_current_snapshot())) \
             ORDER BY epoch, tx, position LIMIT $5"
        ))
        .bind(to_i32(after.epoch())?)
        .bind(after.tx().to_string())
        .bind(to_i64(after.seq())?)
        .bind(to_i32(epoch)?)
        .bind(i64::from(limit))
        .fetch(&self.pool);
        decode_all(rows).await
    }

    async fn read_streams_after(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (aggregate_type, aggregate_id, sequence) = audit_cursor(after)?;
        let rows = sqlx::query(select_event!(
            "WHERE (aggregate_type, aggregate_id, sequence) > ($1, $2, $3) \
             ORDER BY aggregate_type, aggregate_id, sequence LIMIT $4"
        ))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence)
        .bind(i64::from(limit))
        .fetch(&self.pool);
        decode_all(rows).await
    }

    async fn head(&self) -> Result<LogHead, StoreError> {
        let epoch = self.epoch().await?;
        let readable = sqlx::query(
            "SELECT epoch, tx::text::bigint AS tx_id, position FROM events \
             WHERE epoch < $1 OR tx < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY epoch DESC, tx DESC, position DESC LIMIT 1",
        )
        .bind(to_i32(epoch)?)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| -> Result<Position, StoreError> {
            Ok(Position::new(
                to_u32(row.try_get("epoch")?)?,
                to_u64(row.try_get("tx_id")?)?,
                to_u64(row.try_get("position")?)?,
            ))
        })
        .transpose()?;
        let horizon_age_seconds: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM (now() - min(xact_start)))::float8 \
             FROM pg_stat_activity WHERE backend_xid IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(LogHead {
            readable,
            horizon_age_seconds,
        })
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT version, state, last_hash, epoch, tx, position FROM snapshots \
             WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let last_hash: String = row.try_get("last_hash")?;
        Ok(Some(Snapshot {
            stream: stream.clone(),
            version: to_u64(row.try_get("version")?)?,
            state: row.try_get("state")?,
            last_hash: parse_hash(&last_hash)?,
            position: Position::new(
                to_u32(row.try_get("epoch")?)?,
                to_u64(row.try_get("tx")?)?,
                to_u64(row.try_get("position")?)?,
            ),
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO snapshots (aggregate_type, aggregate_id, version, state, last_hash, \
                 epoch, tx, position) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
                 version = EXCLUDED.version, state = EXCLUDED.state, \
                 last_hash = EXCLUDED.last_hash, epoch = EXCLUDED.epoch, tx = EXCLUDED.tx, \
                 position = EXCLUDED.position, taken_at = now() \
             WHERE snapshots.version < EXCLUDED.version",
        )
        .bind(&snapshot.stream.aggregate_type)
        .bind(&snapshot.stream.aggregate_id)
        .bind(to_i64(snapshot.version)?)
        .bind(&snapshot.state)
        .bind(snapshot.last_hash.to_string())
        .bind(to_i32(snapshot.position.epoch())?)
        .bind(to_i64(snapshot.position.tx())?)
        .bind(to_i64(snapshot.position.seq())?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wakeups.subscribe()
    }
}

/// Decodes rows as they arrive, so decoding overlaps the transfer of the next rows.
async fn decode_all(
    rows: impl Stream<Item = Result<PgRow, sqlx::Error>>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut rows = std::pin::pin!(rows);
    let mut events = Vec::new();
    while let Some(row) = rows.try_next().await? {
        events.push(decode_event(&row)?);
    }
    Ok(events)
}

fn decode_event(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    // By index, in `select_event!`'s order: a name lookup per column per row is measurable.
    Ok(RecordedEvent {
        stream: StreamId::new(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?),
        sequence: to_u64(row.try_get(2)?)?,
        event_type: row.try_get(3)?,
        event_version: row.try_get(4)?,
        payload: row.try_get::<Value, _>(5)?,
        metadata: row.try_get::<Value, _>(6)?,
        position: Position::new(
            to_u32(row.try_get(7)?)?,
            to_u64(row.try_get(8)?)?,
            to_u64(row.try_get(9)?)?,
        ),
        recorded_at: row.try_get::<DateTime<Utc>, _>(10)?,
    })
}

/// A unique violation on the events' key is a concurrent append at the same version.
fn conflict_or(error: sqlx::Error, expected_version: u64) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.code().as_deref() == Some(UNIQUE_VIOLATION)
        && db.constraint() == Some("events_pkey")
    {
        return StoreError::Conflict { expected_version };
    }
    error.into()
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(e) => e.into(),
        other => StoreError::Config(format!("migrations: {other}")),
    }
}

/// Sends one `NOTIFY` per burst of appends.
async fn announce_appends(pool: PgPool, announce: Arc<Notify>) {
    loop {
        announce.notified().await;
        tokio::time::sleep(NOTIFY_COALESCE).await;
        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::debug!(%error, "could not announce appends; readers will poll");
        }
    }
}

/// Turns other processes' `NOTIFY`s into local wake-ups, reconnecting as needed.
async fn listen_for_appends(pool: PgPool, wakeups: Arc<Wakeups>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(CHANNEL).await.is_ok() {
                    // Anything may have happened while not listening.
                    wakeups.wake();
                    while listener.recv().await.is_ok() {
                        wakeups.wake();
                    }
                }
            }
            Err(error) => tracing::debug!(%error, "cannot listen for appends; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
