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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, Postgres, QueryBuilder, Row, Transaction};
use tokio::sync::{Notify, OnceCell, watch};
use tokio::task::JoinHandle;

use crate::backend::{Backend, ContradictedHead, Database, LogHead, StreamLock};
use crate::chain::{Chained, chain_events};
use crate::convert::{audit_cursor, parse_hash, to_i32, to_i64, to_u32, to_u64};
use crate::error::{DEADLOCK_DETECTED, UNIQUE_VIOLATION};
use crate::group_commit::{GroupCommitStats, GroupCommitter};
use crate::migrations::{self, migrator};
use crate::wakeup::Wakeups;
use crate::{
    AppendRequest, Appended, CommitPoint, IdempotencyClaim, IdempotentOutcome, KeyOutcome,
    LogFilter, Position, RawEvent, RecordedEvent, Snapshot, StoreError, StoreOptions, StoredJson,
    StreamId,
};

mod group;
mod held;
mod keys;
mod loads;

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

/// Session settings of the group committer's and loader's connections, whose statements
/// only ever look rows up by key: their plans are cached (planning a group's statement costs
/// more than running it), and a plan made while the log was new and nearly empty must not scan
/// whole tables once it is not, before any `ANALYZE` replaces it.
const LOOKUPS_ONLY: &[(&str, &str)] = &[("enable_seqscan", "off")];

/// Groups in flight at once, each on a connection of its own. One: on the 2-core machine
/// the benchmarks run on, two or four in flight made smaller groups, which cost PostgreSQL
/// more per append (HTTP commands at 64 clients: 23.4k/s with one, 15.9k/s and 19.3k/s with
/// two and four), and `bench store` at 64 writers gained less than a tenth.
const COMMITTERS: usize = 1;

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

/// The PostgreSQL advisory-lock namespace of streams: an append holds its stream's lock for
/// the rest of its transaction (keys are a hash of the stream, in this class only).
const STREAM_LOCK_CLASS: &[u8] = b"supplyline stream lock\0";

/// The log in PostgreSQL.
pub struct PostgresBackend {
    pool: PgPool,
    /// The database's connect options without the append path's time limits, for the crates
    /// that keep their tables beside the log.
    options: PgConnectOptions,
    epoch: Arc<OnceCell<u32>>,
    signals: Signals,
    /// Where appends queue for the next group commit.
    committer: GroupCommitter,
    /// Where cold loads queue for the next group load.
    loader: loads::GroupLoader,
    tasks: Vec<JoinHandle<()>>,
}

/// What an append does after its commit, and the test hook it awaits before it.
#[derive(Clone)]
struct Signals {
    wakeups: Arc<Wakeups>,
    announce: Arc<Notify>,
    before_commit: Option<BeforeCommitHook>,
}

impl Signals {
    /// Runs the test hook, if any: `Err` when it asks for a rollback.
    async fn before_commit(&self) -> Result<(), StoreError> {
        if let Some(hook) = &self.before_commit
            && hook().await == BeforeCommit::Rollback
        {
            return Err(StoreError::Database(sqlx::Error::Protocol(
                "rolled back by the before-commit hook".into(),
            )));
        }
        Ok(())
    }

    /// Wakes this process's readers and has other processes' woken.
    fn appended(&self) {
        self.wakeups.wake();
        self.announce.notify_one();
    }
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
    pub fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        // A blocked statement fails inside the database, so a caller that gives up on it can
        // truthfully say it was not applied (see `CommitPoint`). Zero: no limit (audits).
        let timeout = options.statement_timeout.as_millis().to_string();
        let base = crate::loopback::postgres_options(url)?;
        let connect = base.clone().options([
            ("statement_timeout", timeout.as_str()),
            ("lock_timeout", timeout.as_str()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1) + 1)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        let mut backend = Self::from_pool(pool)?;
        backend.options = base;
        Ok(backend)
    }

    /// Wraps an existing pool (and starts the group committer's and loader's threads).
    pub fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        let options = pool.connect_options().as_ref().clone();
        let wakeups = Arc::new(Wakeups::new());
        let announce = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(announce_appends(pool.clone(), announce.clone())),
            tokio::spawn(listen_for_appends(pool.clone(), wakeups.clone())),
        ];
        let epoch = Arc::new(OnceCell::new());
        let signals = Signals {
            wakeups,
            announce,
            before_commit: None,
        };
        let writers = (0..COMMITTERS)
            .map(|_| group::PgGroupWriter::new(&pool, epoch.clone(), signals.clone()))
            .collect();
        let committer = GroupCommitter::start(writers)?;
        let loader = loads::GroupLoader::start(&pool)?;
        Ok(Self {
            pool,
            options,
            epoch,
            signals,
            committer,
            loader,
            tasks,
        })
    }

    /// Installs a hook awaited inside every append's transaction before commit (tests). Each
    /// append then runs in a transaction of its own, outside group commit, so that a test can
    /// hold one open while others commit.
    pub fn with_before_commit(mut self, hook: BeforeCommitHook) -> Self {
        self.signals.before_commit = Some(hook);
        self
    }

    /// The pool, for the crates that keep their own tables in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn epoch(&self) -> Result<u32, StoreError> {
        if let Some(epoch) = self.epoch.get() {
            return Ok(*epoch);
        }
        let mut conn = self.pool.acquire().await?;
        epoch_on(&self.epoch, &mut conn).await
    }
}

/// The log's epoch, read once (on `conn`) and kept.
async fn epoch_on(cell: &OnceCell<u32>, conn: &mut PgConnection) -> Result<u32, StoreError> {
    if let Some(epoch) = cell.get() {
        return Ok(*epoch);
    }
    let epoch: i32 = sqlx::query_scalar("SELECT epoch FROM log_epoch")
        .fetch_one(&mut *conn)
        .await?;
    let epoch = u32::try_from(epoch).map_err(|_| StoreError::Corrupt("negative epoch".into()))?;
    Ok(*cell.get_or_init(|| async { epoch }).await)
}

/// The advisory-lock key of a stream: the first 8 bytes of a SHA-256 of its name, the same in
/// every process.
fn stream_lock_key(stream: &StreamId) -> i64 {
    let mut hasher = Sha256::new();
    hasher.update(STREAM_LOCK_CLASS);
    hasher.update(stream.aggregate_type.as_bytes());
    hasher.update([0]);
    hasher.update(stream.aggregate_id.as_bytes());
    let digest = hasher.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// Inserts the request's events in one statement, guarded on the expected version *and* on the
/// hash being chained on (a row at the expected version with another hash is a conflict too),
/// holding the stream's advisory lock until the transaction ends: a retry that holds the lock
/// (see [`PgStreamLock`]) then decides and appends without any other append slipping in.
async fn insert_events(
    conn: &mut PgConnection,
    request: &AppendRequest,
    chained: &Chained,
    epoch: u32,
) -> Result<Appended, StoreError> {
    let version = chained.version;
    let last_hash = chained.last_hash;
    let expected = to_i64(request.expected_version)?;
    let prev_hash = request.prev_hash.to_string();
    let lock = stream_lock_key(&request.stream);
    let rows = match chained.events.as_slice() {
        // The common case, one event: a plain row, no arrays to build and take apart.
        [event] => {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                     event_version, payload, metadata, epoch) \
                 SELECT $1, $2, $4, $5, $6, $7, $8, $3 \
                 FROM (SELECT pg_advisory_xact_lock($10)) AS stream_lock \
                 WHERE $9::bigint = 0 OR EXISTS (SELECT 1 FROM events \
                     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $9 \
                       AND metadata->>'hash' = $11) \
                 RETURNING tx::text::bigint AS tx_id, position",
            )
            .bind(&request.stream.aggregate_type)
            .bind(&request.stream.aggregate_id)
            .bind(to_i32(epoch)?)
            .bind(to_i64(event.sequence)?)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(Json(&*event.payload))
            .bind(Json(&*event.metadata))
            .bind(expected)
            .bind(lock)
            .bind(&prev_hash)
            .fetch_all(&mut *conn)
            .await
        }
        events => {
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
                types.push(event.event_type.as_str());
                versions.push(event.event_version.as_str());
                payloads.push(Json(&*event.payload));
                metadata.push(Json(&*event.metadata));
            }
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                     event_version, payload, metadata, epoch) \
                 SELECT $1, $2, s, t, v, p, m, $3 \
                 FROM (SELECT pg_advisory_xact_lock($10)) AS stream_lock, \
                     UNNEST($4::bigint[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[]) \
                     WITH ORDINALITY AS u(s, t, v, p, m, n) \
                 WHERE $9::bigint = 0 OR EXISTS (SELECT 1 FROM events \
                     WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $9 \
                       AND metadata->>'hash' = $11) \
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
            .bind(lock)
            .bind(&prev_hash)
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

/// Claims the key (if any), inserts the events, records the key's outcome and commits: an
/// append in a transaction. The commit point is reached just before `COMMIT`, or, under a key,
/// before the claim: a claim may wait on an identical request still in flight (perhaps in
/// another process), whose outcome is then this one's, so giving up on it would not be
/// truthful. Any failure before `COMMIT` rolls everything back and clears the point.
async fn append_in_transaction(
    mut tx: Transaction<'_, Postgres>,
    request: &AppendRequest,
    chained: &Chained,
    commit: &CommitPoint,
    epoch: u32,
    signals: &Signals,
) -> Result<Appended, StoreError> {
    if request.idempotency.is_some() {
        commit.reach();
    }
    let written = write_in(&mut tx, request, chained, epoch, signals).await;
    let appended = match written {
        Ok(Written::Events(appended)) => appended,
        Ok(Written::FirstAnswer(answer)) => {
            drop(tx);
            commit.clear();
            return answer;
        }
        Err(error) => {
            // Dropping the transaction rolls it back: nothing was applied.
            drop(tx);
            commit.clear();
            return Err(deadlock_as_conflict(error, request.expected_version));
        }
    };
    commit.reach();
    tx.commit().await.map_err(in_doubt)?;
    signals.appended();
    Ok(appended)
}

/// Appends on `conn` on its own (outside any group): without a key in one statement, which
/// commits as it is sent; with a key in a transaction (see [`append_in_transaction`]).
async fn append_alone(
    conn: &mut PgConnection,
    request: &AppendRequest,
    chained: &Chained,
    commit: &CommitPoint,
    epoch: u32,
    signals: &Signals,
) -> Result<Appended, StoreError> {
    if request.events.is_empty() {
        return Err(StoreError::NothingToAppend);
    }
    if request.idempotency.is_none() {
        commit.reach();
        let appended = match insert_events(conn, request, chained, epoch).await {
            Ok(appended) => appended,
            Err(error) => return Err(settled_or_in_doubt(error, commit)),
        };
        signals.appended();
        return Ok(appended);
    }
    let tx = conn.begin().await?;
    append_in_transaction(tx, request, chained, commit, epoch, signals).await
}

/// What the statements of a transactional append did before `COMMIT`.
enum Written {
    /// The events are written (not committed yet).
    Events(Appended),
    /// The key already stood for an answer: that one is the answer; nothing was written.
    FirstAnswer(Result<Appended, StoreError>),
}

async fn write_in(
    tx: &mut PgConnection,
    request: &AppendRequest,
    chained: &Chained,
    epoch: u32,
    signals: &Signals,
) -> Result<Written, StoreError> {
    if let Some(claim) = &request.idempotency
        && !keys::claim_key(tx, claim, &request.stream).await?
    {
        let outcome = keys::outcome_on(tx, &claim.key).await?;
        return Ok(Written::FirstAnswer(keys::first_answer(claim, outcome)));
    }
    let appended = insert_events(tx, request, chained, epoch).await?;
    if let Some(claim) = &request.idempotency {
        keys::settle_key(tx, &claim.key, &KeyOutcome::Appended(appended)).await?;
    }
    signals.before_commit().await?;
    Ok(Written::Events(appended))
}

/// A deadlock PostgreSQL broke by aborting this transaction is a lost race like any other.
fn deadlock_as_conflict(error: StoreError, expected_version: u64) -> StoreError {
    match &error {
        StoreError::Database(sqlx::Error::Database(db))
            if db.code().as_deref() == Some(DEADLOCK_DETECTED) =>
        {
            StoreError::Conflict { expected_version }
        }
        _ => error,
    }
}

/// A stream's advisory lock, held by an open transaction: no other append to the stream can
/// commit until this one's does (or the lock is dropped, which rolls it back).
struct PgStreamLock {
    tx: Transaction<'static, Postgres>,
    epoch: u32,
    signals: Signals,
}

#[async_trait]
impl StreamLock for PgStreamLock {
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
        let Self { tx, epoch, signals } = *self;
        if request.events.is_empty() {
            return Err(StoreError::NothingToAppend);
        }
        let chained = chain_events(&request)?;
        append_in_transaction(tx, &request, &chained, commit, epoch, &signals).await
    }
}

#[async_trait]
impl Backend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn database(&self) -> Database {
        Database::Postgres(self.options.clone())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = migrator(migrations::POSTGRES)
            .await
            .map_err(|e| StoreError::Config(format!("migrations: {e}")))?;
        // A migration may rebuild an index on a long log: no statement timeout for it.
        let mut conn = self.pool.acquire().await?;
        for setting in ["SET statement_timeout = 0", "SET lock_timeout = 0"] {
            sqlx::query(setting).execute(&mut *conn).await?;
        }
        let migrated = migrator.run_direct(&mut *conn).await.map_err(migrate_error);
        for setting in ["RESET statement_timeout", "RESET lock_timeout"] {
            sqlx::query(setting).execute(&mut *conn).await?;
        }
        migrated
    }

    async fn ready(&self) -> Result<(), StoreError> {
        // A real round trip, not the cached epoch: readiness must notice an outage.
        sqlx::query("SELECT epoch FROM log_epoch")
            .fetch_one(&self.pool)
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
        if self.signals.before_commit.is_none() {
            return self.committer.append(request, commit).await;
        }
        let chained = chain_events(&request)?;
        let epoch = self.epoch().await?;
        let tx = self.pool.begin().await?;
        append_in_transaction(tx, &request, &chained, commit, epoch, &self.signals).await
    }

    fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        Some(self.committer.stats())
    }

    async fn lock_stream(&self, stream: &StreamId) -> Result<Box<dyn StreamLock>, StoreError> {
        let epoch = self.epoch().await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(stream_lock_key(stream))
            .execute(&mut *tx)
            .await?;
        Ok(Box::new(PgStreamLock {
            tx,
            epoch,
            signals: self.signals.clone(),
        }))
    }

    async fn idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        keys::outcome_on(&mut conn, key).await
    }

    async fn record_outcome(
        &self,
        claim: &IdempotencyClaim,
        stream: &StreamId,
        outcome: &KeyOutcome,
    ) -> Result<Option<IdempotentOutcome>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        if keys::record(&mut conn, claim, stream, outcome).await? {
            return Ok(None);
        }
        keys::outcome_on(&mut conn, &claim.key).await
    }

    async fn remove_expired_keys(&self, limit: u32) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys \
                 WHERE expires_at <= now() LIMIT $1)",
        )
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn contradicted_heads(
        &self,
        stream: Option<&StreamId>,
        limit: u32,
    ) -> Result<Vec<ContradictedHead>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.aggregate_type, w.aggregate_id, w.version, w.last_hash, w.witness, \
                 e.metadata->>'hash' AS found \
             FROM (SELECT aggregate_type, aggregate_id, version, last_hash, 'snapshot' AS witness \
                     FROM snapshots \
                   UNION ALL \
                   SELECT aggregate_type, aggregate_id, version, last_hash, 'idempotency key' \
                     FROM idempotency_keys \
                     WHERE outcome IN ('appended', 'unchanged') AND version > 0) AS w \
             LEFT JOIN events e ON e.aggregate_type = w.aggregate_type \
                 AND e.aggregate_id = w.aggregate_id AND e.sequence = w.version \
             WHERE (e.metadata IS NULL OR (e.metadata->>'hash') IS DISTINCT FROM w.last_hash) \
               AND ($1::text IS NULL OR (w.aggregate_type = $1 AND w.aggregate_id = $2)) \
             ORDER BY w.aggregate_type, w.aggregate_id, w.version \
             LIMIT $3",
        )
        .bind(stream.map(|s| s.aggregate_type.as_str()))
        .bind(stream.map(|s| s.aggregate_id.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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

    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.pool.acquire().await?;
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
        let rows = self.read_all_rows(after, limit).await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let (payload, metadata) = (stored_json(row, 5)?, stored_json(row, 6)?);
            events.push(decode_with(row, payload, metadata)?);
        }
        Ok(events)
    }

    fn stream_all(
        &self,
        after: Position,
        limit: u32,
        metadata: bool,
    ) -> BoxStream<'_, Result<RecordedEvent, StoreError>> {
        let binds = async move {
            let epoch = self.epoch().await?;
            Ok::<_, StoreError>((to_i32(after.epoch())?, to_i64(after.seq())?, to_i32(epoch)?))
        };
        let rows = futures_util::stream::once(binds)
            .map_ok(move |(after_epoch, after_seq, epoch)| {
                let sql = if metadata {
                    select_event!(
                        "WHERE (epoch, tx, position) > ($1, $2::text::xid8, $3) \
                           AND (epoch < $4 OR tx < pg_snapshot_xmin(pg_current_snapshot())) \
                         ORDER BY epoch, tx, position LIMIT $5"
                    )
                } else {
                    "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, \
                         payload, 'null'::jsonb AS metadata, epoch, tx::text::bigint AS tx_id, \
                         position, recorded_at FROM events \
                     WHERE (epoch, tx, position) > ($1, $2::text::xid8, $3) \
                       AND (epoch < $4 OR tx < pg_snapshot_xmin(pg_current_snapshot())) \
                     ORDER BY epoch, tx, position LIMIT $5"
                };
                sqlx::query(sql)
                    .bind(after_epoch)
                    .bind(after.tx().to_string())
                    .bind(after_seq)
                    .bind(epoch)
                    .bind(i64::from(limit))
                    .fetch(&self.pool)
                    .map(|row| decode_event(&row?))
            })
            .try_flatten();
        Box::pin(rows)
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

    async fn read_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let epoch = self.epoch().await?;
        let mut query = QueryBuilder::<Postgres>::new(select_event!("WHERE (epoch < "));
        query
            .push_bind(to_i32(epoch)?)
            .push(" OR tx < pg_snapshot_xmin(pg_current_snapshot()))");
        push_filter(&mut query, filter, after)?;
        query
            .push(" ORDER BY epoch, tx, position LIMIT ")
            .push_bind(i64::from(limit));
        decode_all(query.build().fetch(&self.pool)).await
    }

    async fn count_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        cap: u64,
    ) -> Result<u64, StoreError> {
        let epoch = self.epoch().await?;
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE (epoch < ",
        );
        query
            .push_bind(to_i32(epoch)?)
            .push(" OR tx < pg_snapshot_xmin(pg_current_snapshot()))");
        push_filter(&mut query, filter, after)?;
        query
            .push(" LIMIT ")
            .push_bind(to_i64(cap)?)
            .push(") AS matching");
        let count: i64 = query.build_query_scalar().fetch_one(&self.pool).await?;
        to_u64(count)
    }

    async fn count_after(&self, after: Position, cap: u64) -> Result<u64, StoreError> {
        let epoch = self.epoch().await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM events \
             WHERE (epoch, tx, position) > ($1, $2::text::xid8, $3) \
               AND (epoch < $4 OR tx < pg_snapshot_xmin(pg_current_snapshot())) \
             LIMIT $5) AS readable",
        )
        .bind(to_i32(after.epoch())?)
        .bind(after.tx().to_string())
        .bind(to_i64(after.seq())?)
        .bind(to_i32(epoch)?)
        .bind(to_i64(cap)?)
        .fetch_one(&self.pool)
        .await?;
        to_u64(count)
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        snapshot_on(&mut conn, stream).await
    }

    async fn load_stream(
        &self,
        stream: &StreamId,
        metadata: bool,
    ) -> Result<(Option<Snapshot>, Vec<RecordedEvent>), StoreError> {
        let (snapshot, events) = self.loader.load(stream, metadata).await?;
        let events = events
            .into_iter()
            .map(|event| event.try_map_json(|json| serde_json::from_str(json.get())))
            .collect::<Result<_, _>>()?;
        Ok((snapshot, events))
    }

    async fn load_to_decide(
        &self,
        stream: &StreamId,
    ) -> Result<(Option<Snapshot>, Vec<RawEvent>), StoreError> {
        self.loader.load(stream, false).await
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

    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        // One row per stream (an upsert may not touch a row twice), the newest; in key order,
        // so that two batches never wait on each other in a cycle; each only where the log
        // holds its version's event with its hash.
        let mut newest: BTreeMap<(&str, &str), &Snapshot> = BTreeMap::new();
        for snapshot in snapshots {
            let key = (
                snapshot.stream.aggregate_type.as_str(),
                snapshot.stream.aggregate_id.as_str(),
            );
            match newest.get(&key) {
                Some(kept) if kept.version >= snapshot.version => {}
                _ => {
                    newest.insert(key, snapshot);
                }
            }
        }
        let mut columns = SnapshotColumns::default();
        for snapshot in newest.into_values() {
            columns.push(snapshot)?;
        }
        sqlx::query(
            "INSERT INTO snapshots (aggregate_type, aggregate_id, version, state, last_hash, \
                 epoch, tx, position) \
             SELECT s.* FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::jsonb[], \
                 $5::text[], $6::int[], $7::bigint[], $8::bigint[]) \
                 AS s(aggregate_type, aggregate_id, version, state, last_hash, epoch, tx, \
                     position) \
             JOIN events e ON e.aggregate_type = s.aggregate_type \
                 AND e.aggregate_id = s.aggregate_id AND e.sequence = s.version \
                 AND e.metadata->>'hash' = s.last_hash \
             ORDER BY s.aggregate_type, s.aggregate_id \
             ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET \
                 version = EXCLUDED.version, state = EXCLUDED.state, \
                 last_hash = EXCLUDED.last_hash, epoch = EXCLUDED.epoch, tx = EXCLUDED.tx, \
                 position = EXCLUDED.position, taken_at = now() \
             WHERE snapshots.version < EXCLUDED.version",
        )
        .bind(columns.types)
        .bind(columns.ids)
        .bind(columns.versions)
        .bind(columns.states)
        .bind(columns.hashes)
        .bind(columns.epochs)
        .bind(columns.txs)
        .bind(columns.positions)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.signals.wakeups.subscribe()
    }
}

/// The stream's events after `after_version`, as stored, read on `conn`.
async fn stream_on(
    conn: &mut PgConnection,
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
    .fetch(&mut *conn);
    decode_all(rows).await
}

/// The stream's snapshot, read on `conn`.
async fn snapshot_on(
    conn: &mut PgConnection,
    stream: &StreamId,
) -> Result<Option<Snapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT version, state, last_hash, epoch, tx, position FROM snapshots \
         WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .fetch_optional(&mut *conn)
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

/// Narrows a query over `events` to the events after `after` that `filter` matches (`AND
/// ...` for each field it sets). Each field has its index (migration 0003): the same
/// expressions here, or the index is not used.
fn push_filter(
    query: &mut QueryBuilder<'_, Postgres>,
    filter: &LogFilter,
    after: Position,
) -> Result<(), StoreError> {
    // `>=` and `<>` rather than `>`: PostgreSQL estimates a row comparison by its first column
    // alone, and `epoch > e` matches next to nothing in a log of one epoch, so it would scan
    // the log's order for a rare filter instead of taking the filter's index.
    for comparison in [">=", "<>"] {
        query
            .push(" AND (epoch, tx, position) ")
            .push(comparison)
            .push(" (")
            .push_bind(to_i32(after.epoch())?)
            .push(", ")
            .push_bind(after.tx().to_string())
            .push("::text::xid8, ")
            .push_bind(to_i64(after.seq())?)
            .push(")");
    }
    if !filter.aggregate_types.is_empty() {
        query
            .push(" AND aggregate_type = ANY(")
            .push_bind(filter.aggregate_types.clone())
            .push(")");
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
            .push(" AND metadata #>> '{actor,sub}' = ")
            .push_bind(actor.clone());
    }
    if let Some(from) = filter.from {
        query.push(" AND recorded_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND recorded_at < ").push_bind(to);
    }
    Ok(())
}

/// Decodes rows as they arrive, so decoding overlaps the transfer of the next rows.
impl PostgresBackend {
    /// Up to `limit` events of the global log after `after`, their JSON decoded as `J`.
    async fn read_all_as<J: DeserializeOwned>(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent<J>>, StoreError> {
        let rows = self.read_all_rows(after, limit).await?;
        rows.iter().map(decode_event).collect()
    }

    /// The rows of `read_all`, in `select_event!`'s columns.
    async fn read_all_rows(&self, after: Position, limit: u32) -> Result<Vec<PgRow>, StoreError> {
        let epoch = self.epoch().await?;
        Ok(sqlx::query(select_event!(
            "WHERE (epoch, tx, position) > ($1, $2::text::xid8, $3) \
               AND (epoch < $4 OR tx < pg_snapshot_xmin(pg_current_snapshot())) \
             ORDER BY epoch, tx, position LIMIT $5"
        ))
        .bind(to_i32(after.epoch())?)
        .bind(after.tx().to_string())
        .bind(to_i64(after.seq())?)
        .bind(to_i32(epoch)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }
}

async fn decode_all<J: DeserializeOwned>(
    rows: impl Stream<Item = Result<PgRow, sqlx::Error>>,
) -> Result<Vec<RecordedEvent<J>>, StoreError> {
    let mut rows = std::pin::pin!(rows);
    let mut events = Vec::new();
    while let Some(row) = rows.try_next().await? {
        events.push(decode_event(&row)?);
    }
    Ok(events)
}

fn decode_event<J: DeserializeOwned>(row: &PgRow) -> Result<RecordedEvent<J>, StoreError> {
    let payload = row.try_get::<Json<J>, _>(5)?.0;
    let metadata = row.try_get::<Json<J>, _>(6)?.0;
    decode_with(row, payload, metadata)
}

/// A `jsonb` column's text as PostgreSQL sends it (a version byte, then the text), not parsed:
/// `jsonb` holds nothing but JSON, and checking it again cost the relay a tenth of its reading.
pub(super) fn stored_json<I>(row: &PgRow, column: I) -> Result<StoredJson, StoreError>
where
    I: sqlx::ColumnIndex<PgRow> + std::fmt::Debug + Copy,
{
    let bytes: &[u8] = row.try_get_unchecked(column)?;
    let text = match bytes.split_first() {
        Some((1, text)) => text,
        _ => {
            return Err(StoreError::Corrupt(format!(
                "column {column:?} is not jsonb of version 1"
            )));
        }
    };
    let text = std::str::from_utf8(text)
        .map_err(|e| StoreError::Corrupt(format!("jsonb that is not UTF-8: {e}")))?;
    Ok(StoredJson::vouched(text.to_owned()))
}

/// An event of a row in `select_event!`'s columns, its payload and metadata decoded already.
fn decode_with<J>(row: &PgRow, payload: J, metadata: J) -> Result<RecordedEvent<J>, StoreError> {
    // By index, in `select_event!`'s order: a name lookup per column per row is measurable.
    Ok(RecordedEvent {
        stream: StreamId::new(row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?),
        sequence: to_u64(row.try_get(2)?)?,
        event_type: row.try_get(3)?,
        event_version: row.try_get(4)?,
        payload,
        metadata,
        position: Position::new(
            to_u32(row.try_get(7)?)?,
            to_u64(row.try_get(8)?)?,
            to_u64(row.try_get(9)?)?,
        ),
        recorded_at: row.try_get::<DateTime<Utc>, _>(10)?,
    })
}

/// An error of a statement that was sent: the database's own refusals settle it (nothing was
/// applied, so the commit point is cleared); a broken connection leaves it in doubt.
fn settled_or_in_doubt(error: StoreError, commit: &CommitPoint) -> StoreError {
    match error {
        StoreError::Unavailable(cause) if is_connection_lost(&cause) => {
            StoreError::OutcomeUnknown(cause)
        }
        settled => {
            commit.clear();
            settled
        }
    }
}

/// An error of `COMMIT` itself: a broken connection leaves its outcome in doubt.
fn in_doubt(error: sqlx::Error) -> StoreError {
    if is_connection_lost(&error) {
        StoreError::OutcomeUnknown(error)
    } else {
        error.into()
    }
}

/// Whether the connection broke under a statement (so it may or may not have taken effect).
/// A FATAL error from the server is not counted: without synchronous replication a session
/// ended by the server did not commit what it had not answered.
fn is_connection_lost(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed
    )
}

/// A unique violation on the events' key is a concurrent append at the same version.
fn conflict_or(error: sqlx::Error, expected_version: u64) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        let code = db.code();
        // A deadlock between two appends of one stream (say, one holding the stream's lock
        // waiting on a key the other claimed) aborts one of them: a lost race like any other.
        if (code.as_deref() == Some(UNIQUE_VIOLATION) && db.constraint() == Some("events_pkey"))
            || code.as_deref() == Some(DEADLOCK_DETECTED)
        {
            return StoreError::Conflict { expected_version };
        }
    }
    error.into()
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(e) => e.into(),
        other => StoreError::Config(format!("migrations: {other}")),
    }
}

/// Sends a `NOTIFY` at once for an append, then at most one more per `NOTIFY_COALESCE` for
/// the appends that came meanwhile: a lone append wakes other processes without delay, and a
/// burst costs one notification per window.
async fn announce_appends(pool: PgPool, announce: Arc<Notify>) {
    loop {
        // An append during the pause below leaves a permit, so this returns at once.
        announce.notified().await;
        if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::debug!(%error, "could not announce appends; readers will poll");
        }
        tokio::time::sleep(NOTIFY_COALESCE).await;
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

/// Snapshots as the columns of one statement.
#[derive(Default)]
struct SnapshotColumns<'a> {
    types: Vec<&'a str>,
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    states: Vec<&'a serde_json::Value>,
    hashes: Vec<String>,
    epochs: Vec<i32>,
    txs: Vec<i64>,
    positions: Vec<i64>,
}

impl<'a> SnapshotColumns<'a> {
    fn push(&mut self, snapshot: &'a Snapshot) -> Result<(), StoreError> {
        self.types.push(&snapshot.stream.aggregate_type);
        self.ids.push(&snapshot.stream.aggregate_id);
        self.versions.push(to_i64(snapshot.version)?);
        self.states.push(&snapshot.state);
        self.hashes.push(snapshot.last_hash.to_string());
        self.epochs.push(to_i32(snapshot.position.epoch())?);
        self.txs.push(to_i64(snapshot.position.tx())?);
        self.positions.push(to_i64(snapshot.position.seq())?);
        Ok(())
    }
}
