//! One live instance per projection. On PostgreSQL a lease is a session advisory lock held on
//! a connection kept for it: when the process dies the database frees it and a standby takes
//! it. On SQLite it is an exclusive lock on a file beside the read models' (`serve` and a
//! `projector` on the same files take turns the same way; the system frees it when the process
//! dies). Either way a batch also commits only if the checkpoint is where it read it, so even
//! two instances could never apply an event twice; the lease is what keeps the second one
//! idle.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::ProjectionError;
use crate::db::{LEASE_LOCK_CLASS, ReadDb};

/// A held lease; dropping it releases it.
#[derive(Debug)]
pub enum Lease {
    /// A session advisory lock on its own connection.
    Postgres {
        /// The connection holding the lock (closing it releases the lock).
        conn: PgConnection,
        /// The lock's key within [`LEASE_LOCK_CLASS`].
        key: i32,
    },
    /// An exclusive lock on a file of its own (SQLite).
    File(File),
    /// An in-process guard (an in-memory SQLite database).
    Local(LocalLease),
}

/// How long checking a lease may take before it counts as lost: a connection a firewall
/// dropped silently must not hold a batch's transaction open until TCP gives up.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How long connecting for a lease may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The in-process guard of a SQLite projection.
#[derive(Debug)]
pub struct LocalLease {
    name: String,
    held: Arc<Mutex<HashSet<String>>>,
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&self.name);
        }
    }
}

/// Takes leases for one read-model database.
#[derive(Debug, Clone)]
pub struct Leases {
    postgres: Option<PgConnectOptions>,
    /// The folder of SQLite lease files (`None` for an in-memory database).
    folder: Option<PathBuf>,
    /// The scope of in-process leases: unique per in-memory database.
    scope: String,
    held: Arc<Mutex<HashSet<String>>>,
}

/// The local leases held in this process, as `file:name`.
fn held_here() -> Arc<Mutex<HashSet<String>>> {
    static HELD: OnceLock<Arc<Mutex<HashSet<String>>>> = OnceLock::new();
    HELD.get_or_init(Arc::default).clone()
}

impl Leases {
    /// Leases over `db`.
    pub fn new(db: &ReadDb) -> Self {
        Self {
            postgres: match db {
                ReadDb::Postgres(pool) => Some((*pool.connect_options()).clone()),
                ReadDb::Sqlite(_) => None,
            },
            folder: match db {
                ReadDb::Sqlite(pool)
                    if pool.connect_options().get_filename()
                        != std::path::Path::new(":memory:") =>
                {
                    let file = pool.connect_options().get_filename().display().to_string();
                    Some(PathBuf::from(format!("{file}-leases")))
                }
                _ => None,
            },
            scope: uuid::Uuid::now_v7().to_string(),
            held: held_here(),
        }
    }

    /// Waits until the lease of `name` is taken, trying every `retry` (a standby's wait, and
    /// a failing database's), or until `stop` says to stop (`None`).
    pub async fn take_when_free(
        &self,
        name: &str,
        retry: Duration,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Option<Lease> {
        loop {
            if *stop.borrow() {
                return None;
            }
            match self.try_take(name).await {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, lease = name, "cannot take the lease"),
            }
            tokio::select! {
                () = tokio::time::sleep(retry) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// Takes the lease of `name` if no one holds it; `None` if someone does.
    pub async fn try_take(&self, name: &str) -> Result<Option<Lease>, ProjectionError> {
        match &self.postgres {
            Some(options) => {
                let options = options
                    .clone()
                    .application_name(&format!("supplyline lease {name}"));
                let connect = options.connect();
                let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                    .await
                    .map_err(|_| ProjectionError::Lease("connecting timed out".into()))??;
                // The server notices a lease holder cut off by the network within about half
                // a minute (rather than the system's two hours) and frees the lock.
                sqlx::query(
                    "SELECT set_config('tcp_keepalives_idle', '10', false), \
                            set_config('tcp_keepalives_interval', '5', false), \
                            set_config('tcp_keepalives_count', '3', false)",
                )
                .execute(&mut conn)
                .await?;
                let key = lock_key(name);
                let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                    .bind(LEASE_LOCK_CLASS)
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await?;
                if taken {
                    Ok(Some(Lease::Postgres { conn, key }))
                } else {
                    conn.close().await.ok();
                    Ok(None)
                }
            }
            None if self.folder.is_some() => {
                let Some(folder) = &self.folder else {
                    return Ok(None);
                };
                std::fs::create_dir_all(folder).map_err(|e| lease_file_error(folder, &e))?;
                let path = folder.join(format!("{name}.lock"));
                let file = File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| lease_file_error(&path, &e))?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(Lease::File(file))),
                    Err(TryLockError::WouldBlock) => Ok(None),
                    Err(TryLockError::Error(e)) => Err(lease_file_error(&path, &e)),
                }
            }
            None => {
                let mut held = self.held.lock().map_err(|_| {
                    ProjectionError::Corrupt("the lease registry is poisoned".into())
                })?;
                let key = format!("{}:{name}", self.scope);
                if !held.insert(key.clone()) {
                    return Ok(None);
                }
                Ok(Some(Lease::Local(LocalLease {
                    name: key,
                    held: self.held.clone(),
                })))
            }
        }
    }
}

impl Lease {
    /// Checks that the lease is still held: its session is alive. A session advisory lock
    /// goes only with its session or by its own unlock, which this connection issues only in
    /// [`Lease::release`], so a session that answers still holds it. (Asking `pg_locks` says
    /// the same at the price of a scan of the lock table on every batch.)
    pub async fn check(&mut self) -> Result<(), ProjectionError> {
        match self {
            Self::Postgres { conn, .. } => {
                let alive = sqlx::query("SELECT 1").execute(conn);
                tokio::time::timeout(CHECK_TIMEOUT, alive)
                    .await
                    .map_err(|_| ProjectionError::LeaseLost)?
                    .map_err(|_| ProjectionError::LeaseLost)?;
                Ok(())
            }
            Self::File(_) | Self::Local(_) => Ok(()),
        }
    }

    /// Releases the lease.
    pub async fn release(self) {
        if let Self::Postgres { mut conn, key } = self {
            sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(LEASE_LOCK_CLASS)
                .bind(key)
                .execute(&mut conn)
                .await
                .ok();
            conn.close().await.ok();
        }
    }
}

fn lease_file_error(path: &std::path::Path, error: &std::io::Error) -> ProjectionError {
    ProjectionError::Lease(format!("{}: {error}", path.display()))
}

/// The lock key of a projection: a stable hash of its name.
fn lock_key(name: &str) -> i32 {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    i32::from_ne_bytes(hash.to_ne_bytes())
}
