//! The transparency log's tables, beside the read models: the tree's state (size, position in
//! the log, right edge), its tiles, the leaf of each event, and the signed checkpoints.

use std::collections::HashMap;

use chrono::Utc;
use event_store::Position;
use projections::ReadDb;
use sqlx::QueryBuilder;

use crate::TransparencyError;
use crate::tiles::TileId;

/// The tables, with `{blob}` the backend's byte-string type.
const CREATE: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS tlog_state (\
         id INTEGER PRIMARY KEY CHECK (id = 1), \
         size BIGINT NOT NULL, \
         position TEXT NOT NULL, \
         frontier {blob} NOT NULL, \
         updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tlog_tiles (\
         level INTEGER NOT NULL, \
         idx BIGINT NOT NULL, \
         hashes {blob} NOT NULL, \
         PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS tlog_leaves (\
         leaf_index BIGINT PRIMARY KEY, \
         event_id TEXT NOT NULL UNIQUE, \
         position TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tlog_checkpoints (\
         size BIGINT PRIMARY KEY, \
         note TEXT NOT NULL, \
         created_at TEXT NOT NULL)",
];

/// Rows per multi-row insert (well under either backend's limit on bound values).
const ROWS_PER_INSERT: usize = 1_000;

/// Runs `$body` with `$pool` bound to the backend's pool, the same text for both backends
/// (each instance is typed by its backend).
macro_rules! on_backend {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            ReadDb::Postgres($pool) => $body,
            ReadDb::Sqlite($pool) => $body,
        }
    };
}

/// Makes the tables if they are missing, with the empty tree's state.
pub(crate) async fn set_up(db: &ReadDb) -> Result<(), TransparencyError> {
    let blob = match db {
        ReadDb::Postgres(_) => "BYTEA",
        ReadDb::Sqlite(_) => "BLOB",
    };
    for create in CREATE {
        let sql = create.replace("{blob}", blob);
        on_backend!(db, pool => sqlx::query(&sql).execute(pool).await.map(drop))?;
    }
    let empty = "INSERT INTO tlog_state (id, size, position, frontier, updated_at) \
         VALUES (1, 0, $1, $2, $3) ON CONFLICT (id) DO NOTHING";
    on_backend!(db, pool => sqlx::query(empty)
        .bind(Position::START.token())
        .bind(Vec::<u8>::new())
        .bind(Utc::now().to_rfc3339())
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

/// Where the tree stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeState {
    /// Leaves in the tree.
    pub(crate) size: u64,
    /// The log position of its last leaf's event.
    pub(crate) position: Position,
    /// The right edge's hashes, largest subtree first.
    pub(crate) frontier: Vec<u8>,
}

/// The tree's state.
pub(crate) async fn state(db: &ReadDb) -> Result<TreeState, TransparencyError> {
    const SELECT: &str = "SELECT size, position, frontier FROM tlog_state WHERE id = 1";
    let row: Option<(i64, String, Vec<u8>)> =
        on_backend!(db, pool => sqlx::query_as(SELECT).fetch_optional(pool).await)?;
    let (size, position, frontier) =
        row.ok_or_else(|| TransparencyError::Corrupt("the tree's state row is missing".into()))?;
    Ok(TreeState {
        size: to_u64(size)?,
        position: Position::from_token(&position)
            .map_err(|e| TransparencyError::Corrupt(format!("the tree's position: {e}")))?,
        frontier,
    })
}

/// One batch of the worker, written in one transaction.
pub(crate) struct Batch<'a> {
    /// The state it started from (the write fails if another writer moved it).
    pub(crate) from_size: u64,
    /// The state it reaches.
    pub(crate) to: &'a TreeState,
    /// Tiles changed, whole.
    pub(crate) tiles: Vec<(TileId, &'a [u8])>,
    /// Each new leaf's index, event id and position.
    pub(crate) leaves: &'a [(u64, String, Position)],
    /// A checkpoint signed at the new size, if one is due.
    pub(crate) checkpoint: Option<String>,
}

/// Writes a batch; fails with [`TransparencyError::Moved`] if the tree is no longer at the
/// batch's starting size (another worker wrote meanwhile), and then writes nothing.
pub(crate) async fn write(db: &ReadDb, batch: Batch<'_>) -> Result<(), TransparencyError> {
    let now = Utc::now().to_rfc3339();
    on_backend!(db, pool => {
        let mut tx = pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE tlog_state SET size = $1, position = $2, frontier = $3, updated_at = $4 \
             WHERE id = 1 AND size = $5",
        )
        .bind(to_i64(batch.to.size)?)
        .bind(batch.to.position.token())
        .bind(batch.to.frontier.as_slice())
        .bind(&now)
        .bind(to_i64(batch.from_size)?)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(TransparencyError::Moved);
        }
        for chunk in batch.tiles.chunks(ROWS_PER_INSERT) {
            let mut insert = QueryBuilder::new("INSERT INTO tlog_tiles (level, idx, hashes) ");
            insert.push_values(chunk, |mut row, (tile, hashes)| {
                row.push_bind(i32::from(tile.level))
                    .push_bind(i64::try_from(tile.index).unwrap_or(i64::MAX))
                    .push_bind(*hashes);
            });
            insert.push(" ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes");
            insert.build().execute(&mut *tx).await?;
        }
        for chunk in batch.leaves.chunks(ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::new("INSERT INTO tlog_leaves (leaf_index, event_id, position) ");
            insert.push_values(chunk, |mut row, (index, event_id, position)| {
                row.push_bind(i64::try_from(*index).unwrap_or(i64::MAX))
                    .push_bind(event_id.as_str())
                    .push_bind(position.token());
            });
            insert.build().execute(&mut *tx).await?;
        }
        if let Some(note) = &batch.checkpoint {
            sqlx::query(
                "INSERT INTO tlog_checkpoints (size, note, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (size) DO NOTHING",
            )
            .bind(to_i64(batch.to.size)?)
            .bind(note.as_str())
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    })
}

/// The tiles asked for that exist, whole.
pub(crate) async fn tiles(
    db: &ReadDb,
    wanted: &[TileId],
) -> Result<HashMap<TileId, Vec<u8>>, TransparencyError> {
    let mut found = HashMap::new();
    for chunk in wanted.chunks(ROWS_PER_INSERT) {
        let rows: Vec<(i32, i64, Vec<u8>)> = on_backend!(db, pool => {
            let mut select = QueryBuilder::new("SELECT level, idx, hashes FROM tlog_tiles WHERE ");
            let mut first = true;
            for tile in chunk {
                if !first {
                    select.push(" OR ");
                }
                first = false;
                select
                    .push("(level = ")
                    .push_bind(i32::from(tile.level))
                    .push(" AND idx = ")
                    .push_bind(to_i64(tile.index)?)
                    .push(")");
            }
            select.build_query_as().fetch_all(pool).await
        })?;
        for (level, index, hashes) in rows {
            let tile = TileId {
                level: u8::try_from(level)
                    .map_err(|_| TransparencyError::Corrupt(format!("tile level {level}")))?,
                index: to_u64(index)?,
            };
            found.insert(tile, hashes);
        }
    }
    Ok(found)
}

/// The leaf hashes of the stored tree, in order (tile level 0, concatenated).
pub(crate) async fn leaf_hashes(db: &ReadDb) -> Result<Vec<u8>, TransparencyError> {
    const SELECT: &str = "SELECT idx, hashes FROM tlog_tiles WHERE level = 0 ORDER BY idx";
    let rows: Vec<(i64, Vec<u8>)> =
        on_backend!(db, pool => sqlx::query_as(SELECT).fetch_all(pool).await)?;
    let mut leaves = Vec::new();
    for (expected, (index, hashes)) in (0i64..).zip(rows) {
        if index != expected {
            // A tile missing: the leaves after it cannot be placed.
            break;
        }
        leaves.extend_from_slice(&hashes);
    }
    Ok(leaves)
}

/// The leaf of the event `event_id`: its index, and the position of the leaf before it (where
/// a reader of the log finds the event).
pub(crate) async fn leaf_of(
    db: &ReadDb,
    event_id: &str,
) -> Result<Option<(u64, Position)>, TransparencyError> {
    const SELECT: &str = "SELECT l.leaf_index, p.position FROM tlog_leaves l \
         LEFT JOIN tlog_leaves p ON p.leaf_index = l.leaf_index - 1 WHERE l.event_id = $1";
    let row: Option<(i64, Option<String>)> =
        on_backend!(db, pool => sqlx::query_as(SELECT).bind(event_id).fetch_optional(pool).await)?;
    let Some((index, before)) = row else {
        return Ok(None);
    };
    let before = match before {
        Some(token) => Position::from_token(&token)
            .map_err(|e| TransparencyError::Corrupt(format!("leaf {}: {e}", index - 1)))?,
        None => Position::START,
    };
    Ok(Some((to_u64(index)?, before)))
}

/// The latest signed checkpoint: its tree size and note.
pub(crate) async fn latest_checkpoint(
    db: &ReadDb,
) -> Result<Option<(u64, String)>, TransparencyError> {
    const SELECT: &str = "SELECT size, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1";
    let row: Option<(i64, String)> =
        on_backend!(db, pool => sqlx::query_as(SELECT).fetch_optional(pool).await)?;
    row.map(|(size, note)| Ok((to_u64(size)?, note)))
        .transpose()
}

/// The checkpoint signed at exactly `size` leaves.
pub(crate) async fn checkpoint_at(
    db: &ReadDb,
    size: u64,
) -> Result<Option<String>, TransparencyError> {
    const SELECT: &str = "SELECT note FROM tlog_checkpoints WHERE size = $1";
    Ok(on_backend!(db, pool => sqlx::query_scalar(SELECT)
        .bind(to_i64(size)?)
        .fetch_optional(pool)
        .await)?)
}

fn to_u64(value: i64) -> Result<u64, TransparencyError> {
    u64::try_from(value)
        .map_err(|_| TransparencyError::Corrupt(format!("a negative count {value}")))
}

fn to_i64(value: u64) -> Result<i64, TransparencyError> {
    i64::try_from(value).map_err(|_| TransparencyError::Corrupt(format!("{value} is too large")))
}

/// The id of the event at leaf `index`, as the tree recorded it.
pub(crate) async fn leaf_event(
    db: &ReadDb,
    index: u64,
) -> Result<Option<String>, TransparencyError> {
    const SELECT: &str = "SELECT event_id FROM tlog_leaves WHERE leaf_index = $1";
    Ok(on_backend!(db, pool => sqlx::query_scalar(SELECT)
        .bind(to_i64(index)?)
        .fetch_optional(pool)
        .await)?)
}
