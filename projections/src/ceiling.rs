//! The raw ceiling a rebuild is measured against: the rows the read models hold, written again
//! into plain tables (primary key only) with batched multi-row `VALUES` upserts, a batch of
//! rows per transaction, and no log to read, no events to decode and no fold.

use std::time::{Duration, Instant};

use sqlx::Row as _;

use crate::ProjectionError;
use crate::changes::{Changes, write_changes};
use crate::db::{BeginWrite, ReadDb, on_db};
use crate::projection::Projection;
use crate::table::{Table, Tables, Value};

/// Raw tables are named like a build of generation 0, which no build ever uses.
const RAW: Tables = Tables::Build(0);

/// Writes every row of `projections`' live tables into plain copies, `batch_rows` rows per
/// transaction; returns the rows written and how long the writes took (reading them is not
/// counted). The copies are dropped afterwards.
pub async fn raw_upserts(
    db: &ReadDb,
    projections: &[&dyn Projection],
    batch_rows: usize,
) -> Result<(u64, Duration), ProjectionError> {
    let mut rows_written = 0;
    let mut elapsed = Duration::ZERO;
    for projection in projections {
        for table in projection.tables() {
            let rows = read_rows(db, table).await?;
            let name = RAW.name(table);
            on_db!(db, pool => {
                sqlx::query(&format!("DROP TABLE IF EXISTS {name}")).execute(pool).await?;
                sqlx::query(&table.create_sql(&name, 0)).execute(pool).await?;
                Ok::<(), sqlx::Error>(())
            })?;
            let started = Instant::now();
            for chunk in rows.chunks(batch_rows.max(1)) {
                let mut changes = Changes::default();
                for row in chunk {
                    changes.upsert_values(table, row.clone());
                }
                match db {
                    ReadDb::Postgres(pool) => {
                        let mut tx = pool.begin().await?;
                        changes.write_values_pg(&mut tx, RAW).await?;
                        tx.commit().await?;
                    }
                    ReadDb::Sqlite(pool) => {
                        let mut tx = pool.begin_write().await?;
                        write_changes(&mut tx, &changes, RAW).await?;
                        tx.commit().await?;
                    }
                }
            }
            elapsed += started.elapsed();
            rows_written += rows.len() as u64;
            on_db!(db, pool => sqlx::query(&format!("DROP TABLE {name}")).execute(pool).await.map(|_| ()))?;
        }
    }
    Ok((rows_written, elapsed))
}

/// Every row of `table`'s live table, as values.
async fn read_rows(db: &ReadDb, table: &Table) -> Result<Vec<Vec<Value>>, ProjectionError> {
    let sql = format!("SELECT {} FROM {}", table.column_list(), table.name);
    let mut all = Vec::new();
    on_db!(db, pool => {
        for row in sqlx::query(&sql).fetch_all(pool).await? {
            let mut values = Vec::with_capacity(table.columns.len());
            for (index, (_, sql_type)) in table.columns.iter().enumerate() {
                let nullable = !sql_type.ends_with("NOT NULL");
                let value = if sql_type.starts_with("TEXT") {
                    let v: Option<String> = row.try_get(index)?;
                    if nullable { Value::OptText(v) } else { Value::Text(v.unwrap_or_default()) }
                } else if sql_type.starts_with("BIGINT") {
                    let v: Option<i64> = row.try_get(index)?;
                    if nullable { Value::OptInt(v) } else { Value::Int(v.unwrap_or_default()) }
                } else if sql_type.starts_with("BOOLEAN") {
                    Value::Bool(row.try_get::<Option<bool>, _>(index)?.unwrap_or_default())
                } else {
                    Value::OptFloat(row.try_get(index)?)
                };
                values.push(value);
            }
            all.push(values);
        }
    });
    Ok(all)
}
