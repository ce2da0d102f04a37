//! The SQL migrations of each backend, embedded in the binary.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// A backend's migrations: (version, description, SQL), in order.
#[derive(Debug)]
pub(crate) struct Embedded(pub(crate) &'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// PostgreSQL's migrations.
pub(crate) const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "events",
        include_str!("../migrations/postgres/0001_events.sql"),
    ),
    (
        2,
        "idempotency outcomes",
        include_str!("../migrations/postgres/0002_idempotency_outcomes.sql"),
    ),
    (
        3,
        "audit indexes",
        include_str!("../migrations/postgres/0003_audit_indexes.sql"),
    ),
];

/// SQLite's migrations.
pub(crate) const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "events",
        include_str!("../migrations/sqlite/0001_events.sql"),
    ),
    (
        2,
        "idempotency outcomes",
        include_str!("../migrations/sqlite/0002_idempotency_outcomes.sql"),
    ),
    (
        3,
        "audit indexes",
        include_str!("../migrations/sqlite/0003_audit_indexes.sql"),
    ),
];

/// A migrator over embedded migrations.
pub(crate) async fn migrator(
    migrations: &'static [(i64, &'static str, &'static str)],
) -> Result<Migrator, BoxDynError> {
    Ok(Migrator::new(Embedded(migrations)).await?)
}
