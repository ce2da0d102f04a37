//! One live instance per projection. On PostgreSQL a lease is a session advisory lock held on
//! a connection kept for it: when the process dies the database frees it and a standby takes
//! it. On SQLite (one process) an in-process guard does. Either way a batch also commits only
//! if the checkpoint is where it read it, so even two instances could never apply an event
//! twice; the lease is what keeps the second one idle.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

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
    /// An in-process guard.
    Local(LocalLease),
}

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
    /// Where SQLite read models live: local leases are per file, across the process.
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
            scope: match db {
                ReadDb::Postgres(_) => String::new(),
                ReadDb::Sqlite(pool) => pool.connect_options().get_filename().display().to_string(),
            },
            held: held_here(),
        }
    }

    /// Takes the lease of `name` if no one holds it; `None` if someone does.
    pub async fn try_take(&self, name: &str) -> Result<Option<Lease>, ProjectionError> {
        match &self.postgres {
            Some(options) => {
                let mut conn = options
                    .clone()
                    .application_name(&format!("supplyline lease {name}"))
                    .connect()
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
    /// Checks that the lease is still held (its connection alive and the lock its own).
    pub async fn check(&mut self) -> Result<(), ProjectionError> {
        match self {
            Self::Postgres { conn, key } => {
                let held: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
                       AND classid = $1::int4::oid AND objid = $2::int4::oid AND objsubid = 2 \
                       AND pid = pg_backend_pid() AND granted)",
                )
                .bind(LEASE_LOCK_CLASS)
                .bind(*key)
                .fetch_one(conn)
                .await
                .map_err(|_| ProjectionError::LeaseLost)?;
                if held {
                    Ok(())
                } else {
                    Err(ProjectionError::LeaseLost)
                }
            }
            Self::Local(_) => Ok(()),
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
