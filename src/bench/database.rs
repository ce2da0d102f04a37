//! A throw-away PostgreSQL database for one benchmark run.

use anyhow::{Context, bail};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// A database created for the run and dropped after it.
pub struct BenchDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl BenchDatabase {
    /// Creates a fresh database on the server `admin_url` points at.
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        if !(admin_url.starts_with("postgres://") || admin_url.starts_with("postgresql://")) {
            bail!("benchmarks run on PostgreSQL: set DATABASE_URL to a postgres:// URL");
        }
        let name = format!("sl_bench_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("cannot connect to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .context("cannot create the benchmark database")?;
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url, String::new()),
        };
        let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}{query}"),
            name,
        })
    }

    /// Drops the database.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}
