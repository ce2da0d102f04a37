//! What a batch changes in a projection's tables, and how it is written: one multi-row upsert
//! per table and chunk, never a statement per event.

use sqlx::{PgConnection, QueryBuilder, SqliteConnection};

use crate::db::{ReadDb, on_db};
use crate::table::{KeyedRow, Row, Table, Tables, Value};

/// Binds per statement, under both databases' limits (SQLite: 32,766; PostgreSQL: 65,535).
const MAX_BINDS: usize = 30_000;
/// Keys per `DELETE ... IN (...)`.
const DELETE_CHUNK: usize = 500;

/// The rows a batch writes and deletes, table by table, in the order first touched.
#[derive(Debug, Default)]
pub struct Changes {
    tables: Vec<TableChanges>,
}

/// One table's share of a batch.
#[derive(Debug)]
struct TableChanges {
    name: &'static str,
    columns: &'static [(&'static str, &'static str)],
    key: &'static [&'static str],
    /// Rows deleted where `delete_column` is one of `deletes`; written before the upserts.
    delete_column: &'static str,
    deletes: Vec<String>,
    upserts: Vec<Vec<Value>>,
}

/// The body of [`Changes::write_pg`] and [`Changes::write_sqlite`]: the same statements for
/// both databases.
macro_rules! write_changes {
    ($changes:expr, $conn:expr, $tables:expr, $db:ty) => {{
        for table in &$changes.tables {
            let name = match $tables {
                Tables::Live => table.name.to_owned(),
                Tables::Build(generation) => format!("{}__g{generation}", table.name),
            };
            for chunk in table.deletes.chunks(DELETE_CHUNK) {
                let mut query = QueryBuilder::<$db>::new(format!(
                    "DELETE FROM {name} WHERE {} IN (",
                    table.delete_column
                ));
                let mut keys = query.separated(", ");
                for key in chunk {
                    keys.push_bind(key.as_str());
                }
                query.push(")");
                query.build().execute(&mut *$conn).await?;
            }
            let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            let on_conflict = on_conflict(table);
            let per_chunk = (MAX_BINDS / columns.len().max(1)).max(1);
            for chunk in table.upserts.chunks(per_chunk) {
                let mut query = QueryBuilder::<$db>::new(format!(
                    "INSERT INTO {name} ({}) ",
                    columns.join(", ")
                ));
                query.push_values(chunk, |mut row, values| {
                    for value in values {
                        match value {
                            Value::Text(v) => row.push_bind(v.as_str()),
                            Value::OptText(v) => row.push_bind(v.as_deref()),
                            Value::Int(v) => row.push_bind(*v),
                            Value::OptInt(v) => row.push_bind(*v),
                            Value::Bool(v) => row.push_bind(*v),
                            Value::OptFloat(v) => row.push_bind(*v),
                        };
                    }
                });
                query.push(&on_conflict);
                query.build().execute(&mut *$conn).await?;
            }
        }
        Ok(())
    }};
}

impl Changes {
    fn entry(&mut self, table: &Table) -> &mut TableChanges {
        let index = match self.tables.iter().position(|t| t.name == table.name) {
            Some(index) => index,
            None => {
                self.tables.push(TableChanges {
                    name: table.name,
                    columns: table.columns,
                    key: table.key,
                    delete_column: table.key[0],
                    deletes: Vec::new(),
                    upserts: Vec::new(),
                });
                self.tables.len() - 1
            }
        };
        &mut self.tables[index]
    }

    /// Writes `row` (inserted, or replacing the row with its key). A batch upserts a key once.
    pub fn upsert<R: Row>(&mut self, row: &R) {
        self.entry(&R::TABLE).upserts.push(row.values());
    }

    /// Writes a row of `table` given as values in column order.
    pub fn upsert_values(&mut self, table: &Table, values: Vec<Value>) {
        self.entry(table).upserts.push(values);
    }

    /// Deletes the rows of `R`'s table whose `column` is `value` (before the batch's upserts).
    pub fn delete_where<R: Row>(&mut self, column: &'static str, value: String) {
        let entry = self.entry(&R::TABLE);
        entry.delete_column = column;
        entry.deletes.push(value);
    }

    /// Adds `other`'s changes after these.
    pub fn extend(&mut self, other: Changes) {
        for table in other.tables {
            match self.tables.iter_mut().find(|t| t.name == table.name) {
                Some(mine) => {
                    mine.deletes.extend(table.deletes);
                    mine.upserts.extend(table.upserts);
                }
                None => self.tables.push(table),
            }
        }
    }

    /// Rows upserted or deleted.
    pub fn len(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.upserts.len() + t.deletes.len())
            .sum()
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the changes into `tables` on `conn`, inside the caller's transaction: per table,
    /// one upsert from `UNNEST` of one array per column, so the statement's text is the same
    /// whatever the number of rows and PostgreSQL parses and plans it once per connection.
    pub async fn write_pg(&self, conn: &mut PgConnection, tables: Tables) -> sqlx::Result<()> {
        for table in &self.tables {
            let name = match tables {
                Tables::Live => table.name.to_owned(),
                Tables::Build(generation) => format!("{}__g{generation}", table.name),
            };
            if !table.deletes.is_empty() {
                sqlx::query(&format!(
                    "DELETE FROM {name} WHERE {} = ANY($1)",
                    table.delete_column
                ))
                .bind(&table.deletes)
                .execute(&mut *conn)
                .await?;
            }
            if table.upserts.is_empty() {
                continue;
            }
            let arrays: Vec<String> = table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, sql))| format!("${}::{}[]", i + 1, array_type(sql)))
                .collect();
            let sql = format!(
                "INSERT INTO {name} ({}) SELECT * FROM UNNEST({}){}",
                table
                    .columns
                    .iter()
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(", "),
                arrays.join(", "),
                on_conflict(table)
            );
            let mut query = sqlx::query(&sql);
            for (index, (_, sql_type)) in table.columns.iter().enumerate() {
                let cells = table.upserts.iter().map(|row| row.get(index));
                query = match array_type(sql_type) {
                    "text" => query.bind(
                        cells
                            .map(|v| match v {
                                Some(Value::Text(s)) => Some(s.as_str()),
                                Some(Value::OptText(s)) => s.as_deref(),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                    "int8" => query.bind(
                        cells
                            .map(|v| match v {
                                Some(Value::Int(n)) => Some(*n),
                                Some(Value::OptInt(n)) => *n,
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                    "bool" => query.bind(
                        cells
                            .map(|v| match v {
                                Some(Value::Bool(b)) => Some(*b),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                    _ => query.bind(
                        cells
                            .map(|v| match v {
                                Some(Value::OptFloat(f)) => *f,
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ),
                };
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Writes the changes as multi-row `VALUES` upserts, the textbook way (the raw ceiling a
    /// rebuild is measured against uses it).
    pub async fn write_values_pg(
        &self,
        conn: &mut PgConnection,
        tables: Tables,
    ) -> sqlx::Result<()> {
        write_changes!(self, conn, tables, sqlx::Postgres)
    }

    /// Writes the changes into `tables` on `conn`, inside the caller's transaction.
    pub async fn write_sqlite(
        &self,
        conn: &mut SqliteConnection,
        tables: Tables,
    ) -> sqlx::Result<()> {
        write_changes!(self, conn, tables, sqlx::Sqlite)
    }
}

/// The `ON CONFLICT` clause of an upsert into `table`: every column but the key replaced.
fn on_conflict(table: &TableChanges) -> String {
    let updates: Vec<String> = table
        .columns
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !table.key.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    if updates.is_empty() {
        format!(" ON CONFLICT ({}) DO NOTHING", table.key.join(", "))
    } else {
        format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            table.key.join(", "),
            updates.join(", ")
        )
    }
}

/// The PostgreSQL element type of a column's array in an `UNNEST` upsert.
fn array_type(sql_type: &str) -> &'static str {
    if sql_type.starts_with("TEXT") {
        "text"
    } else if sql_type.starts_with("BIGINT") {
        "int8"
    } else if sql_type.starts_with("BOOLEAN") {
        "bool"
    } else {
        "float8"
    }
}

/// Writes `changes` on a transaction of either database.
pub(crate) trait WriteChanges {
    /// Writes the changes into `tables`.
    async fn write(&mut self, changes: &Changes, tables: Tables) -> sqlx::Result<()>;
}

impl WriteChanges for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn write(&mut self, changes: &Changes, tables: Tables) -> sqlx::Result<()> {
        changes.write_pg(self, tables).await
    }
}

impl WriteChanges for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn write(&mut self, changes: &Changes, tables: Tables) -> sqlx::Result<()> {
        changes.write_sqlite(self, tables).await
    }
}

/// Writes `changes` into `tables` on `tx`.
pub(crate) async fn write_changes<T: WriteChanges>(
    tx: &mut T,
    changes: &Changes,
    tables: Tables,
) -> sqlx::Result<()> {
    tx.write(changes, tables).await
}

/// The rows of `R`'s table in `tables` whose key is one of `keys` (one query per chunk).
pub async fn load_rows<R>(db: &ReadDb, tables: Tables, keys: &[String]) -> sqlx::Result<Vec<R>>
where
    R: KeyedRow
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    rows_where(db, &tables.name(&R::TABLE), R::TABLE.key[0], keys).await
}

/// Every row of `R`'s live table whose `column` is one of `keys` (one query per chunk of
/// keys): what a query's batch loader reads for many parents at once.
pub async fn load_rows_where<R>(db: &ReadDb, column: &str, keys: &[String]) -> sqlx::Result<Vec<R>>
where
    R: Row
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    rows_where(db, R::TABLE.name, column, keys).await
}

/// The rows of table `name` whose `column` is one of `keys`, one query per chunk of keys.
async fn rows_where<R>(
    db: &ReadDb,
    name: &str,
    column: &str,
    keys: &[String],
) -> sqlx::Result<Vec<R>>
where
    R: Row
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    let mut rows = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(DELETE_CHUNK) {
        let sql = format!(
            "SELECT {} FROM {name} WHERE {column} IN (",
            R::TABLE.column_list()
        );
        on_db!(db, pool => {
            let mut query = QueryBuilder::new(sql);
            let mut binds = query.separated(", ");
            for key in chunk {
                binds.push_bind(key.as_str());
            }
            query.push(")");
            rows.extend(query.build_query_as::<R>().fetch_all(pool).await?);
        });
    }
    Ok(rows)
}
