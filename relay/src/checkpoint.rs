//! Where the relay has got to: the position of the last event the broker acknowledged, in a
//! table of its own beside the read models (written only after the acknowledgement).

use event_store::Position;
use projections::ReadDb;

/// The table, the same on both backends.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS relay_checkpoint (\
     name TEXT PRIMARY KEY, \
     position TEXT NOT NULL, \
     published BIGINT NOT NULL, \
     updated_at TEXT NOT NULL)";

/// Makes the table if it is missing.
pub(crate) async fn set_up(db: &ReadDb) -> sqlx::Result<()> {
    match db {
        ReadDb::Postgres(pool) => sqlx::query(CREATE).execute(pool).await.map(drop),
        ReadDb::Sqlite(pool) => sqlx::query(CREATE).execute(pool).await.map(drop),
    }
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

/// Moves the relay `name` to `position`, `published` events in all.
pub(crate) async fn save(
    db: &ReadDb,
    name: &str,
    position: Position,
    published: i64,
) -> sqlx::Result<()> {
    const UPSERT: &str = "INSERT INTO relay_checkpoint (name, position, published, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
         published = excluded.published, updated_at = excluded.updated_at";
    let now = projections::time::to_text(chrono::Utc::now());
    let token = position.token();
    match db {
        ReadDb::Postgres(pool) => {
            let query = sqlx::query(UPSERT).bind(name).bind(&token).bind(published);
            query.bind(&now).execute(pool).await.map(drop)
        }
        ReadDb::Sqlite(pool) => {
            let query = sqlx::query(UPSERT).bind(name).bind(&token).bind(published);
            query.bind(&now).execute(pool).await.map(drop)
        }
    }
}
