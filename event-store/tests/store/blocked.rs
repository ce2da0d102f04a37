//! A blocked database: an append that cannot get its lock gives up inside the database within
//! the statement timeout, so a caller told "unavailable" knows it was not applied.

use std::time::{Duration, Instant};

use event_store::{CommitPoint, StoreError, StoreOptions};
use sqlx::Connection;

use crate::fixtures::{StreamWriter, new_stream, probes};
use crate::support::BackendKind;

conformance!(
    a_blocked_append_gives_up_inside_the_database_and_applies_nothing,
    |db| async move {
        let store = db
            .reopen(StoreOptions {
                statement_timeout: Duration::from_millis(300),
                ..StoreOptions::default()
            })
            .await;
        let mut writer = StreamWriter::new(new_stream());
        writer.append(&store, probes(1..=1)).await;

        // Someone holds a lock that keeps every append out.
        let blocker = match db.backend {
            BackendKind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("LOCK TABLE events IN SHARE MODE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Blocker::Postgres(conn)
            }
            BackendKind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Blocker::Sqlite(conn)
            }
        };
        let commit = CommitPoint::new();
        let started = Instant::now();
        let error = store
            .append_noting(writer.request(probes(2..=2)), &commit)
            .await
            .unwrap_err();
        let waited = started.elapsed();
        blocker.release().await;

        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(waited < Duration::from_secs(3), "gave up after {waited:?}");
        assert!(
            !commit.reached(),
            "a refused append leaves no commit in flight"
        );
        // Once the lock is gone, nothing of the refused append shows up.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.read_stream(&writer.stream, 0).await.unwrap().len(), 1);
        writer.append(&store, probes(2..=2)).await;
    }
);

/// A connection holding a lock that keeps appends out.
enum Blocker {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl Blocker {
    async fn release(self) {
        match self {
            Self::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            Self::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}
