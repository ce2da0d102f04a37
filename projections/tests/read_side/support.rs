//! A log and a read-model database per test (a temporary SQLite file, or a scratch PostgreSQL
//! database), and helpers to wait for projections and compare their tables.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use event_store::{EventStore, Position, ScratchDatabase};
use executors::{ExecutorSettings, Executors};
use projections::checksum::{TableChecksum, checksums};
use projections::rebuild::RebuildSettings;
use projections::{
    Projection, ReadDb, Runtime, RuntimeSettings, Unwatched, models, rebuild, status,
};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A test's log and read models.
pub struct Env {
    pub store: EventStore,
    pub db: ReadDb,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<ScratchDatabase>,
}

/// Runs `$body` (an async fn taking an [`Env`]) on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let env = $crate::support::Env::new($crate::support::Kind::Sqlite)
                    .await
                    .unwrap();
                $body(&env).await;
                env.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(env) = $crate::support::Env::new($crate::support::Kind::Postgres).await
                else {
                    return;
                };
                $body(&env).await;
                env.finish().await;
            }
        }
    };
}

impl Env {
    /// A fresh, migrated log; `None` (said loudly) for PostgreSQL without `DATABASE_URL`.
    pub async fn new(kind: Kind) -> Option<Self> {
        let (url, dir, scratch) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("log.db").display());
                (url, Some(dir), None)
            }
            Kind::Postgres => {
                let Ok(admin) = std::env::var("DATABASE_URL") else {
                    eprintln!("SKIPPED: DATABASE_URL is not set; this PostgreSQL test did not run");
                    return None;
                };
                let scratch = ScratchDatabase::create(&admin, "projections_test")
                    .await
                    .unwrap();
                (scratch.url().to_owned(), None, Some(scratch))
            }
        };
        let store = EventStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let db = ReadDb::open(&store, 8).await.unwrap();
        Some(Self {
            store,
            db,
            _dir: dir,
            scratch,
        })
    }

    /// Closes everything and drops the scratch database.
    pub async fn finish(self) {
        self.db.close().await;
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }

    /// Executors over the log, as the command API has.
    pub fn executors(&self) -> Executors {
        Executors::new(self.store.clone(), ExecutorSettings::default())
    }

    /// Starts every projection with quick polling.
    pub async fn runtime(&self) -> Runtime {
        Runtime::start(self.store.clone(), self.db.clone(), models::all(), quick())
            .await
            .unwrap()
    }

    /// Waits until every projection has applied the log up to `last`, the position of the
    /// last event the test appended. (Not the readable head: on PostgreSQL an event just
    /// committed becomes readable only once every older transaction in the cluster ends, and
    /// other tests run beside this one.)
    pub async fn caught_up(&self, last: Position) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rows = status::all(&self.db).await.unwrap();
            let behind: Vec<String> = rows
                .iter()
                .filter(|r| r.checkpoint().unwrap() < last)
                .map(|r| format!("{} ({}, {:?})", r.name, r.state, r.last_error))
                .collect();
            if rows.len() == models::names().len() && behind.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "projections still behind: {behind:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Rebuilds every read model from the log (a fresh replay into new tables) in batches of
    /// `batch`, and asserts that every table is exactly what it was.
    pub async fn assert_equals_a_fresh_replay(&self, batch: u32) {
        let live = self.checksums().await;
        let mut all = models::all();
        let mut refs: Vec<&mut dyn Projection> = all.iter_mut().map(|p| p.as_mut()).collect();
        let settings = RebuildSettings {
            batch,
            ..RebuildSettings::default()
        };
        rebuild(&self.store, &self.db, &mut refs, &Unwatched, settings)
            .await
            .unwrap();
        assert_eq!(
            self.checksums().await,
            live,
            "the read models differ from a fresh replay"
        );
    }

    /// The checksums of every projection's tables.
    pub async fn checksums(&self) -> BTreeMap<&'static str, TableChecksum> {
        let mut all = BTreeMap::new();
        for projection in models::all() {
            all.extend(checksums(&self.db, projection.as_ref()).await.unwrap());
        }
        all
    }
}

/// Runtime settings that notice new events within milliseconds in tests.
pub fn quick() -> RuntimeSettings {
    RuntimeSettings {
        poll_interval: Duration::from_millis(20),
        standby_retry: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..RuntimeSettings::default()
    }
}
