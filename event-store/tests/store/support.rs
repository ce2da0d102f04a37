//! The harness: a fresh, migrated store per test on each backend, and raw SQL access to the
//! same database for tampering with it behind the store's back.

use std::future::Future;
use std::io::Write;
use std::panic;
use std::time::Duration;

use event_store::{EventStore, Position, RecordedEvent, ScratchDatabase, StoreOptions, StreamId};
use serde_json::Value;
use sqlx::{PgPool, SqlitePool};
use tokio::time::Instant;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database of its own on the PostgreSQL server named by `DATABASE_URL`.
    Postgres,
}

/// What a conformance test gets: the store, and where it lives for raw access.
pub struct TestStore {
    /// A migrated store over an empty log.
    pub store: EventStore,
    /// The database URL the store was opened with.
    pub url: String,
    /// The backend behind the store.
    pub backend: BackendKind,
}

/// Runs `body` against a fresh SQLite store in a temporary folder.
pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let folder = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}", folder.path().join("log.sqlite").display());
    let store = EventStore::connect(&url)
        .await
        .expect("open the SQLite store");
    store.migrate().await.expect("migrate the SQLite store");
    assert_eq!(store.backend_name(), "sqlite");
    body(TestStore {
        store,
        url,
        backend: BackendKind::Sqlite,
    })
    .await;
}

/// Runs `body` against a fresh PostgreSQL database of its own, dropped afterwards even when
/// the body panics; skipped, loudly, when `DATABASE_URL` is not set.
pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestStore) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = database_url() else {
        // Straight to stderr, past the test harness's capture: a skip must not look like a pass.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: DATABASE_URL is not set; a PostgreSQL conformance test did not run"
        );
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_test")
        .await
        .expect("create the test database");
    let url = database.url().to_owned();
    // In a task of its own, so that a panicking body still lets us drop the database.
    let outcome = tokio::spawn(async move {
        let store = EventStore::connect(&url)
            .await
            .expect("open the PostgreSQL store");
        store.migrate().await.expect("migrate the PostgreSQL store");
        assert_eq!(store.backend_name(), "postgres");
        body(TestStore {
            store,
            url,
            backend: BackendKind::Postgres,
        })
        .await;
    })
    .await;
    let dropped = database.drop_database().await;
    match outcome {
        Ok(()) => dropped.expect("drop the test database"),
        Err(error) => {
            if let Err(drop_error) = dropped {
                eprintln!("could not drop the test database either: {drop_error}");
            }
            match error.try_into_panic() {
                Ok(payload) => panic::resume_unwind(payload),
                Err(error) => panic!("the test task did not finish: {error}"),
            }
        }
    }
}

/// `DATABASE_URL`, unless unset or empty.
pub fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A connection pool straight to the test's database, bypassing the store.
enum RawPool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl TestStore {
    async fn raw(&self) -> RawPool {
        match self.backend {
            BackendKind::Postgres => {
                RawPool::Postgres(PgPool::connect(&self.url).await.expect("raw PostgreSQL"))
            }
            BackendKind::Sqlite => {
                RawPool::Sqlite(SqlitePool::connect(&self.url).await.expect("raw SQLite"))
            }
        }
    }

    /// Overwrites one stored event's payload with plain SQL, as someone with database access
    /// could.
    pub async fn tamper_with_payload(&self, stream: &StreamId, sequence: u64, payload: Value) {
        const SQL_POSTGRES: &str = "UPDATE events SET payload = $1 \
             WHERE aggregate_type = $2 AND aggregate_id = $3 AND sequence = $4";
        const SQL_SQLITE: &str = "UPDATE events SET payload = ? \
             WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ?";
        let sequence = i64::try_from(sequence).unwrap();
        let changed = match self.raw().await {
            RawPool::Postgres(pool) => {
                let result = sqlx::query(SQL_POSTGRES)
                    .bind(&payload)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(sequence)
                    .execute(&pool)
                    .await
                    .map(|done| done.rows_affected());
                pool.close().await;
                result
            }
            RawPool::Sqlite(pool) => {
                let result = sqlx::query(SQL_SQLITE)
                    .bind(payload.to_string())
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(sequence)
                    .execute(&pool)
                    .await
                    .map(|done| done.rows_affected());
                pool.close().await;
                result
            }
        };
        assert_eq!(changed.expect("tamper"), 1);
    }

    /// Deletes one stored event with plain SQL, leaving a gap in its stream.
    pub async fn delete_event(&self, stream: &StreamId, sequence: u64) {
        const SQL_POSTGRES: &str = "DELETE FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";
        const SQL_SQLITE: &str = "DELETE FROM events \
             WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ?";
        let sequence = i64::try_from(sequence).unwrap();
        let deleted = match self.raw().await {
            RawPool::Postgres(pool) => {
                let result = sqlx::query(SQL_POSTGRES)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(sequence)
                    .execute(&pool)
                    .await
                    .map(|done| done.rows_affected());
                pool.close().await;
                result
            }
            RawPool::Sqlite(pool) => {
                let result = sqlx::query(SQL_SQLITE)
                    .bind(&stream.aggregate_type)
                    .bind(&stream.aggregate_id)
                    .bind(sequence)
                    .execute(&pool)
                    .await
                    .map(|done| done.rows_affected());
                pool.close().await;
                result
            }
        };
        assert_eq!(deleted.expect("delete"), 1);
    }
}

impl TestStore {
    /// Runs one SQL statement behind the store's back (the text for this backend); returns the
    /// rows it changed.
    pub async fn sql(&self, postgres: &str, sqlite: &str) -> u64 {
        match self.raw().await {
            RawPool::Postgres(pool) => {
                let done = sqlx::query(postgres).execute(&pool).await.expect(postgres);
                pool.close().await;
                done.rows_affected()
            }
            RawPool::Sqlite(pool) => {
                let done = sqlx::query(sqlite).execute(&pool).await.expect(sqlite);
                pool.close().await;
                done.rows_affected()
            }
        }
    }

    /// Holds a lock that keeps every append out (the whole `events` table on PostgreSQL, the
    /// write lock on SQLite) until [`Blocker::release`].
    pub async fn block_appends(&self) -> Blocker {
        use sqlx::Connection;
        match self.backend {
            BackendKind::Postgres => self.locked("LOCK TABLE events IN SHARE MODE").await,
            BackendKind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Blocker::Sqlite(conn)
            }
        }
    }

    /// Holds a lock that keeps cold loads out (PostgreSQL's `snapshots`, which a load reads
    /// first) until [`Blocker::release`]; none on SQLite, whose loads do not go in groups.
    pub async fn block_loads(&self) -> Option<Blocker> {
        match self.backend {
            BackendKind::Postgres => Some(
                self.locked("LOCK TABLE snapshots IN ACCESS EXCLUSIVE MODE")
                    .await,
            ),
            BackendKind::Sqlite => None,
        }
    }

    /// A PostgreSQL transaction that has taken `lock`.
    async fn locked(&self, lock: &str) -> Blocker {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query(lock).execute(&mut conn).await.unwrap();
        Blocker::Postgres(conn)
    }

    /// Opens the store's database again, as another process would, with these options.
    pub async fn reopen(&self, options: StoreOptions) -> EventStore {
        EventStore::connect_with(&self.url, options)
            .await
            .expect("reopen the store")
    }
}

/// Waits until readers of the global log can see `position`. On PostgreSQL they wait for
/// every older transaction of the cluster to end, other tests' in other databases included.
pub async fn wait_until_readable(store: &EventStore, position: Position) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let head = store.head().await.expect("head");
        if head.readable.is_some_and(|readable| readable >= position) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "position {position} never became readable (head: {head:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The whole global log, read from the start in batches of `batch` events.
pub async fn read_whole_log(store: &EventStore, batch: u32) -> Vec<RecordedEvent> {
    let mut log = Vec::new();
    let mut after = Position::START;
    loop {
        let events = store.read_all(after, batch).await.expect("read_all");
        assert!(events.len() <= batch as usize, "a batch exceeded its limit");
        let Some(last) = events.last() else {
            return log;
        };
        after = last.position;
        log.extend(events);
    }
}

/// A connection holding a lock that keeps appends (or loads) out.
pub enum Blocker {
    /// A transaction holding a table locked.
    Postgres(sqlx::PgConnection),
    /// A transaction holding SQLite's write lock.
    Sqlite(sqlx::SqliteConnection),
}

impl Blocker {
    /// Lets appends (or loads) in again.
    pub async fn release(self) {
        match self {
            Self::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            Self::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}
