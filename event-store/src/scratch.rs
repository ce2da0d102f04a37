//! Throw-away PostgreSQL databases, for tests and benchmarks that must not touch real data:
//! each run creates its own database on a server and drops it afterwards.

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::StoreError;

/// A database created on the server an admin URL points at, dropped by
/// [`ScratchDatabase::drop_database`].
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<uuid>` on the server of `admin_url` (a `postgres://` URL).
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, StoreError> {
        if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
            return Err(StoreError::Config(
                "a scratch database needs a postgres:// URL".into(),
            ));
        }
        if !prefix.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(StoreError::Config(format!(
                "bad database prefix `{prefix}`"
            )));
        }
        let name = format!("{prefix}_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url).await?;
        // A database name cannot be a bind parameter; this one is ours (letters, digits, _).
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await.ok();
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }

    /// The new database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, closing whatever connections are still open on it.
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        admin.close().await.ok();
        Ok(())
    }
}

/// `url` naming database `name` instead of its own (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (address, query) = url.split_once('?').map_or((url, ""), |(a, q)| (a, q));
    let authority = address.find("://").map_or(0, |i| i + 3);
    let base = address[authority..]
        .find('/')
        .map_or(address, |slash| &address[..authority + slash]);
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
    }
}
