//! The read models' database: the log's PostgreSQL database (through a pool of its own), or on
//! SQLite a database file of its own beside the log's, so that appends never wait behind a
//! projector's transaction (SQLite has one writer per file).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use event_store::{Database, EventStore};
use sqlx::Connection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
};

use crate::ProjectionError;

/// Runs `$body` with `$pool` bound to the database's pool, whichever backend it is: the body
/// is written once and compiled for each.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::ReadDb::Postgres($pool) => $body,
            $crate::db::ReadDb::Sqlite($pool) => $body,
        }
    };
}

pub(crate) use on_db;

/// Opens a transaction that writes: on SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), so a transaction never reads first and then finds its snapshot stale.
pub(crate) trait BeginWrite {
    /// The database.
    type Db: sqlx::Database;

    /// Begins a transaction that will write.
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>> {
        self.begin().await
    }
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

/// The advisory-lock class of projector leases (the two-`int4` form, a key space apart from
/// the appends' `bigint` stream locks).
pub(crate) const LEASE_LOCK_CLASS: i32 = 0x5350_4c31;
/// The advisory-lock class that serialises schema set-up between processes.
pub(crate) const SETUP_LOCK_CLASS: i32 = 0x5350_4c32;

/// Where read models live, and connections to it.
#[derive(Debug, Clone)]
pub enum ReadDb {
    /// The log's PostgreSQL database.
    Postgres(PgPool),
    /// A SQLite file beside the log's.
    Sqlite(SqlitePool),
}

impl ReadDb {
    /// Opens the read models' database for `store`, with up to `max_connections`.
    pub async fn open(store: &EventStore, max_connections: u32) -> Result<Self, ProjectionError> {
        Self::open_database(store.database(), max_connections).await
    }

    /// Opens the read models' database for queries alone: a PostgreSQL connection is not
    /// pinged each time the pool hands it out (a round trip per query otherwise); one the
    /// server closed fails its query once, as a read the client may retry, and is dropped.
    pub async fn open_for_queries(
        store: &EventStore,
        max_connections: u32,
    ) -> Result<Self, ProjectionError> {
        Self::open_with(store.database(), max_connections, false).await
    }

    /// Opens the read models' database for a log at `database`.
    pub async fn open_database(
        database: Database,
        max_connections: u32,
    ) -> Result<Self, ProjectionError> {
        Self::open_with(database, max_connections, true).await
    }

    async fn open_with(
        database: Database,
        max_connections: u32,
        ping_before_use: bool,
    ) -> Result<Self, ProjectionError> {
        match database {
            Database::Postgres(options) => Ok(Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(10))
                    .test_before_acquire(ping_before_use)
                    .connect_lazy_with(options),
            )),
            Database::Sqlite { log_file } => {
                let log_file_given = log_file.is_some();
                let (options, max) = match log_file {
                    Some(log) => (
                        SqliteConnectOptions::new().filename(read_model_file(&log)),
                        max_connections.max(2),
                    ),
                    // One connection keeps a private in-memory database alive and shared.
                    None => (SqliteConnectOptions::from_str("sqlite::memory:")?, 1),
                };
                let options = options
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // The checkpoint commits with the rows: a lost tail after a power cut is
                    // re-applied from the checkpoint before it, never half-applied.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30));
                if log_file_given {
                    turn_to_wal(&options).await?;
                }
                let pool = SqlitePoolOptions::new()
                    .max_connections(max)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Ok(Self::Sqlite(pool))
            }
        }
    }

    /// The backend's name (`postgres`, `sqlite`).
    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await);
    }
}

/// Opens one connection to the file of `options`, which turns a fresh file to WAL.
///
/// SQLite turns a file to WAL under an exclusive lock, and refuses it at once ("database is
/// locked", no busy wait) while another connection reads the fresh file: the pool opens its
/// first connections side by side, so one connection alone does it first (the mode stays
/// with the file), retrying while another process opening the same file does the same.
async fn turn_to_wal(options: &SqliteConnectOptions) -> Result<(), ProjectionError> {
    let mut tries = 0;
    loop {
        match SqliteConnection::connect_with(options).await {
            Ok(connection) => return Ok(connection.close().await?),
            Err(sqlx::Error::Database(error))
                if error.code().as_deref() == Some("5") && tries < 100 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// The read models' file for a log at `log`: `data/supplyline.db` ->
/// `data/supplyline.read-models.db`.
pub fn read_model_file(log: &Path) -> PathBuf {
    let stem = log
        .file_stem()
        .map_or_else(|| "supplyline".into(), |s| s.to_string_lossy().into_owned());
    log.with_file_name(format!("{stem}.read-models.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI once saw a fresh file refuse a pool's connection ("database is locked") while
    /// another turned it to WAL: a race, so many fresh files are opened at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fresh_files_open_with_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        let opened = (0..48).map(|n| {
            let log_file = Some(dir.path().join(format!("log-{n}.db")));
            async move {
                let db = ReadDb::open_database(Database::Sqlite { log_file }, 8).await?;
                let ReadDb::Sqlite(pool) = &db else {
                    unreachable!("a SQLite log gets SQLite read models")
                };
                let held =
                    futures_util::future::try_join_all((0..8).map(|_| pool.acquire())).await?;
                drop(held);
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(pool)
                    .await?;
                db.close().await;
                Ok::<_, ProjectionError>(mode)
            }
        });
        for mode in futures_util::future::try_join_all(opened).await.unwrap() {
            assert_eq!(mode, "wal");
        }
    }

    #[test]
    fn read_models_live_beside_the_log() {
        assert_eq!(
            read_model_file(Path::new("data/supplyline.db")),
            Path::new("data/supplyline.read-models.db")
        );
    }
}
