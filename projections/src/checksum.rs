//! Checksums of a projection's live tables: every row, in key order, hashed. Two read models
//! built from the same log have the same checksums; tests compare a live model with a fresh
//! replay this way.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::Row as _;

use crate::ProjectionError;
use crate::db::{ReadDb, on_db};
use crate::projection::Projection;

/// A table's row count and the SHA-256 of its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChecksum {
    /// Rows in the table.
    pub rows: u64,
    /// SHA-256 of every row in key order, hex.
    pub sha256: String,
}

/// The checksum of each of `projection`'s live tables, by table name.
pub async fn checksums(
    db: &ReadDb,
    projection: &dyn Projection,
) -> Result<BTreeMap<&'static str, TableChecksum>, ProjectionError> {
    let mut all = BTreeMap::new();
    for table in projection.tables() {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            table.column_list(),
            table.name,
            table.key.join(", ")
        );
        let mut hasher = Sha256::new();
        let mut rows = 0u64;
        on_db!(db, pool => {
            for row in sqlx::query(&sql).fetch_all(pool).await? {
                for (index, (_, sql_type)) in table.columns.iter().enumerate() {
                    let cell = if sql_type.starts_with("TEXT") {
                        format!("{:?}", row.try_get::<Option<String>, _>(index)?)
                    } else if sql_type.starts_with("BIGINT") {
                        format!("{:?}", row.try_get::<Option<i64>, _>(index)?)
                    } else if sql_type.starts_with("BOOLEAN") {
                        format!("{:?}", row.try_get::<Option<bool>, _>(index)?)
                    } else {
                        format!("{:?}", row.try_get::<Option<f64>, _>(index)?)
                    };
                    hasher.update(cell.as_bytes());
                    hasher.update([0x1f]);
                }
                hasher.update([0x1e]);
                rows += 1;
            }
        });
        all.insert(
            table.name,
            TableChecksum {
                rows,
                sha256: hex::encode(hasher.finalize()),
            },
        );
    }
    Ok(all)
}
