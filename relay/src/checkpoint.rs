//! Where the relay has got to: the position of the last event the broker acknowledged, in a
//! table of its own beside the read models (written only after the acknowledgement), with
//! the relay's state and last error for `projections status`.

use event_store::Position;
use projections::ReadDb;

/// The table, the same on both backends.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS relay_checkpoint (\
     name TEXT PRIMARY KEY, \
     position TEXT NOT NULL, \
     published BIGINT NOT NULL, \
     updated_at TEXT NOT NULL, \
     state TEXT, \
     last_error TEXT)";

/// Columns added after the table's first release, for tables made before them.
const ADDED: [(&str, &str); 2] = [("state", "TEXT"), ("last_error", "TEXT")];

/// Runs one statement on either backend (the query is built anew for each, as its type
/// names the backend).
macro_rules! execute {
    ($db:expr, $query:expr) => {
        match $db {
            ReadDb::Postgres(pool) => $query.execute(pool).await.map(drop),
            ReadDb::Sqlite(pool) => $query.execute(pool).await.map(drop),
        }
    };
}

/// Makes the table if it is missing, and adds the columns an older one lacks.
pub(crate) async fn set_up(db: &ReadDb) -> sqlx::Result<()> {
    execute!(db, sqlx::query(CREATE))?;
    for (column, kind) in ADDED {
        let probe = format!("SELECT {column} FROM relay_checkpoint LIMIT 0");
        if execute!(db, sqlx::query(&probe)).is_err() {
            let add = format!("ALTER TABLE relay_checkpoint ADD COLUMN {column} {kind}");
            execute!(db, sqlx::query(&add))?;
        }
    }
    Ok(())
}

/// A relay's row: where it is, and how it last fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayCheckpoint {
    /// The relay's name.
    pub name: String,
    /// The position of the last event the broker acknowledged (a position token).
    pub position: String,
    /// Events it has published.
    pub published: i64,
    /// When the row last changed.
    pub updated_at: String,
    /// `running`, `failing` or `stopped`, as its live instance last said.
    pub state: Option<String>,
    /// Its last error, kept after recovery.
    pub last_error: Option<String>,
}

impl RelayCheckpoint {
    /// The checkpoint as a position.
    pub fn checkpoint(&self) -> Result<Position, event_store::InvalidPosition> {
        Position::from_token(&self.position)
    }
}

/// Every relay's row, by name (none before any relay ran).
pub async fn all(db: &ReadDb) -> sqlx::Result<Vec<RelayCheckpoint>> {
    set_up(db).await?;
    const SELECT: &str = "SELECT name, position, published, updated_at, state, last_error \
         FROM relay_checkpoint ORDER BY name";
    type Row = (String, String, i64, String, Option<String>, Option<String>);
    let rows: Vec<Row> = match db {
        ReadDb::Postgres(pool) => sqlx::query_as(SELECT).fetch_all(pool).await?,
        ReadDb::Sqlite(pool) => sqlx::query_as(SELECT).fetch_all(pool).await?,
    };
    Ok(rows
        .into_iter()
        .map(
            |(name, position, published, updated_at, state, last_error)| RelayCheckpoint {
                name,
                position,
                published,
                updated_at,
                state,
                last_error,
            },
        )
        .collect())
}

/// The relay `name`'s position and how many events it has published (the log's start and 0
/// for a new relay).
pub async fn load(db: &ReadDb, name: &str) -> sqlx::Result<(Position, i64)> {
    const SELECT: &str = "SELECT position, published FROM relay_checkpoint WHERE name = $1";
    let row: Option<(String, i64)> = match db {
        ReadDb::Postgres(pool) => {
            sqlx::query_as(SELECT)
                .bind(name)
                .fetch_optional(pool)
                .await?
        }
        ReadDb::Sqlite(pool) => {
            sqlx::query_as(SELECT)
                .bind(name)
                .fetch_optional(pool)
                .await?
        }
    };
    match row {
        None => Ok((Position::START, 0)),
        Some((token, published)) => Position::from_token(&token)
            .map(|position| (position, published))
            .map_err(|e| sqlx::Error::Decode(Box::new(e))),
    }
}

/// Moves the relay `name` to `position`, `published` events in all, running.
pub(crate) async fn save(
    db: &ReadDb,
    name: &str,
    position: Position,
    published: i64,
) -> sqlx::Result<()> {
    const UPSERT: &str = "INSERT INTO relay_checkpoint \
             (name, position, published, updated_at, state) \
         VALUES ($1, $2, $3, $4, 'running') \
         ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
             published = excluded.published, updated_at = excluded.updated_at, \
             state = excluded.state";
    let now = projections::time::to_text(chrono::Utc::now());
    let token = position.token();
    match db {
        ReadDb::Postgres(pool) => {
            // Not waiting for the disk: a checkpoint a crash of the database loses only sends
            // acknowledged events again, which the relay skips (it resumes after what the
            // stream holds) or JetStream drops.
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL synchronous_commit TO OFF")
                .execute(&mut *tx)
                .await?;
            let upsert = sqlx::query(UPSERT).bind(name).bind(&token).bind(published);
            upsert.bind(&now).execute(&mut *tx).await?;
            tx.commit().await
        }
        ReadDb::Sqlite(pool) => {
            let upsert = sqlx::query(UPSERT).bind(name).bind(&token).bind(published);
            upsert.bind(&now).execute(pool).await.map(drop)
        }
    }
}

/// Records the relay `name`'s state (and, when failing, why), leaving its position alone.
pub(crate) async fn set_state(
    db: &ReadDb,
    name: &str,
    state: &str,
    error: Option<&str>,
) -> sqlx::Result<()> {
    const UPSERT: &str = "INSERT INTO relay_checkpoint \
             (name, position, published, updated_at, state, last_error) \
         VALUES ($1, $2, 0, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at, \
             state = excluded.state, \
             last_error = COALESCE(excluded.last_error, relay_checkpoint.last_error)";
    let now = projections::time::to_text(chrono::Utc::now());
    let start = Position::START.token();
    execute!(
        db,
        sqlx::query(UPSERT)
            .bind(name)
            .bind(&start)
            .bind(&now)
            .bind(state)
            .bind(error)
    )
}
