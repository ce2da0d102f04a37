//! Read-model tables: their definition (columns, key, indexes), the values a row is written
//! with, and [`table_row!`], which declares a row type and its table from one list of fields.
//!
//! Column types are the few both databases hold alike (`TEXT`, `BIGINT`, `BOOLEAN`, `DOUBLE PRECISION`), so one
//! definition, one row type and one query serve PostgreSQL and SQLite. Times are `TEXT` in a
//! fixed-width RFC 3339 form ([`crate::time`]), which sorts and compares as the times do.

/// One value of a row, as it is bound into a write.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A `TEXT` column.
    Text(String),
    /// A nullable `TEXT` column.
    OptText(Option<String>),
    /// A `BIGINT` column.
    Int(i64),
    /// A nullable `BIGINT` column.
    OptInt(Option<i64>),
    /// A `BOOLEAN` column.
    Bool(bool),
    /// A nullable `DOUBLE PRECISION` column.
    OptFloat(Option<f64>),
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        Self::OptFloat(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::OptText(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::OptInt(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// A Rust type a column is declared with, and its SQL type in both databases.
pub trait Column {
    /// The column's type and nullability in `CREATE TABLE`.
    const SQL: &'static str;
}

impl Column for String {
    const SQL: &'static str = "TEXT NOT NULL";
}

impl Column for Option<String> {
    const SQL: &'static str = "TEXT";
}

impl Column for i64 {
    const SQL: &'static str = "BIGINT NOT NULL";
}

impl Column for Option<i64> {
    const SQL: &'static str = "BIGINT";
}

impl Column for Option<f64> {
    const SQL: &'static str = "DOUBLE PRECISION";
}

impl Column for bool {
    const SQL: &'static str = "BOOLEAN NOT NULL";
}

/// A read-model table: its live name, columns, primary key and secondary indexes.
#[derive(Debug)]
pub struct Table {
    /// The live table's name (a build's tables add a generation suffix).
    pub name: &'static str,
    /// Every column with its SQL type, in row order.
    pub columns: &'static [(&'static str, &'static str)],
    /// The primary key's columns.
    pub key: &'static [&'static str],
    /// Secondary indexes: a short name and the columns.
    pub indexes: &'static [(&'static str, &'static [&'static str])],
}

impl Table {
    /// The table's name in generation `generation`'s build (see [`Tables`]).
    pub fn build_name(&self, generation: i64) -> String {
        format!("{}__g{generation}", self.name)
    }

    /// `CREATE TABLE` for this table named `name`, its key constraint named for `generation`.
    pub fn create_sql(&self, name: &str, generation: i64) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|(column, sql)| format!("{column} {sql}"))
            .collect();
        format!(
            "CREATE TABLE {name} ({}, CONSTRAINT {}__g{generation}_pk PRIMARY KEY ({}))",
            columns.join(", "),
            self.name,
            self.key.join(", ")
        )
    }

    /// `CREATE INDEX` for each secondary index of this table named `name`. Index names carry
    /// the generation: they are unique in the database and keep their name when a build's
    /// table is renamed to the live name.
    pub fn index_sql(&self, name: &str, generation: i64) -> Vec<String> {
        self.indexes
            .iter()
            .map(|(index, columns)| {
                format!(
                    "CREATE INDEX {}__g{generation}_{index} ON {name} ({})",
                    self.name,
                    columns.join(", ")
                )
            })
            .collect()
    }

    /// The column names, comma separated.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Which set of a projection's tables a batch writes: the live ones, or a rebuild's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// The tables queries read.
    Live,
    /// A rebuild's tables of this generation, swapped in once caught up.
    Build(i64),
}

impl Tables {
    /// The name `table` has in this set.
    pub fn name(self, table: &Table) -> String {
        match self {
            Self::Live => table.name.to_owned(),
            Self::Build(generation) => table.build_name(generation),
        }
    }
}

/// A row type of a read-model table.
pub trait Row: Clone + Send + Sync + 'static {
    /// Its table.
    const TABLE: Table;

    /// The row's values, in column order.
    fn values(&self) -> Vec<Value>;
}

/// A row whose table is keyed on one text column, so it can be cached and loaded by key.
pub trait KeyedRow: Row {
    /// The row's key.
    fn key(&self) -> &str;
}

/// Declares a row type and its [`Table`] from one list of fields: the struct (decodable from
/// both databases' rows), its columns with their SQL types, its key and its indexes.
macro_rules! table_row {
    (
        $(#[$doc:meta])*
        pub struct $name:ident in $table:literal key($($key:ident),+) {
            $($(#[$fdoc:meta])* pub $field:ident : $ty:ty,)+
        }
        $(index $index:ident ($($column:ident),+);)*
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty,)+
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            usize: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)+
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                // Columns are always selected in declaration order (`Table::column_list`).
                let mut index = 0..;
                Ok(Self {
                    $($field: row.try_get(index.next().unwrap_or_default())?,)+
                })
            }
        }

        impl $crate::table::Row for $name {
            const TABLE: $crate::table::Table = $crate::table::Table {
                name: $table,
                columns: &[$((
                    stringify!($field),
                    <$ty as $crate::table::Column>::SQL,
                ),)+],
                key: &[$(stringify!($key)),+],
                indexes: &[$((stringify!($index), &[$(stringify!($column)),+]),)*],
            };

            fn values(&self) -> Vec<$crate::table::Value> {
                vec![$($crate::table::Value::from(self.$field.clone()),)+]
            }
        }
    };
}

pub(crate) use table_row;

#[cfg(test)]
mod tests {
    use super::*;

    table_row! {
        /// A test row.
        pub struct Thing in "things" key(id) {
            /// Its key.
            pub id: String,
            /// A count.
            pub count: i64,
            /// A note.
            pub note: Option<String>,
        }
        index by_count(count, id);
    }

    #[test]
    fn a_table_is_created_with_generation_named_constraints() {
        let sql = Thing::TABLE.create_sql("things__g3", 3);
        assert_eq!(
            sql,
            "CREATE TABLE things__g3 (id TEXT NOT NULL, count BIGINT NOT NULL, note TEXT, \
             CONSTRAINT things__g3_pk PRIMARY KEY (id))"
        );
        assert_eq!(
            Thing::TABLE.index_sql("things", 3),
            ["CREATE INDEX things__g3_by_count ON things (count, id)"]
        );
    }

    #[test]
    fn values_follow_the_columns() {
        let row = Thing {
            id: "a".into(),
            count: 2,
            note: None,
        };
        assert_eq!(
            row.values(),
            [Value::Text("a".into()), Value::Int(2), Value::OptText(None)]
        );
    }
}
