//! An attacker with SQL access to the log, after an auditor exported a checkpoint: every kind
//! of edit is found by checking the checkpoint against the log, and the first leaf that
//! differs is named; events appended after the checkpoint pass. On SQLite and on PostgreSQL
//! (from `DATABASE_URL`; without it the PostgreSQL tests say so loudly and pass).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use event_store::{EventStore, Position, RecordedEvent, ScratchDatabase};
use projections::ReadDb;
use projections::simulate::Simulator;
use serde_json::Value;
use transparency::{Auditor, LogAudit, TreeSettings, TreeWorker};
use transparency_log::SigningKey;

/// A simulated log, its tree caught up and a checkpoint exported, and a raw connection to
/// tamper with.
struct Fixture {
    store: EventStore,
    db: ReadDb,
    simulator: Simulator,
    /// The signing key's text (the key itself is not `Clone`, by design).
    key: String,
    tamper: Tamper,
    /// The exported checkpoint.
    held: String,
    /// The log's event ids, in order, when the checkpoint was signed.
    ids: Vec<String>,
    _keep: Keep,
}

enum Tamper {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Scratch(Option<ScratchDatabase>),
}

impl Fixture {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("log.db").display());
        let store = EventStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let tamper = Tamper::Sqlite(sqlx::SqlitePool::connect(&url).await.unwrap());
        Self::on(store, tamper, Keep::Dir(dir)).await
    }

    async fn postgres() -> Option<Self> {
        let Ok(admin) = std::env::var("DATABASE_URL") else {
            eprintln!("SKIPPED: DATABASE_URL is not set; this PostgreSQL test did not run");
            return None;
        };
        let scratch = ScratchDatabase::create(&admin, "tlog_tamper")
            .await
            .unwrap();
        let store = EventStore::connect(scratch.url()).await.unwrap();
        store.migrate().await.unwrap();
        let tamper = Tamper::Postgres(sqlx::PgPool::connect(scratch.url()).await.unwrap());
        Some(Self::on(store, tamper, Keep::Scratch(Some(scratch))).await)
    }

    async fn on(store: EventStore, tamper: Tamper, keep: Keep) -> Self {
        let db = ReadDb::open(&store, 4).await.unwrap();
        let mut simulator = Simulator::new(store.clone(), 7).unwrap();
        for _ in 0..30 {
            simulator.step().await.unwrap();
        }
        let (key, _) = SigningKey::generate("supplyline.test/log").unwrap();
        let mut fixture = Self {
            store,
            db,
            simulator,
            key,
            tamper,
            held: String::new(),
            ids: Vec::new(),
            _keep: keep,
        };
        fixture.catch_up().await;
        fixture.held = Auditor::new(fixture.store.clone(), fixture.db.clone())
            .latest_checkpoint()
            .await
            .unwrap()
            .unwrap();
        fixture.ids = fixture.log().await.iter().map(id).collect();
        fixture
    }

    async fn catch_up(&self) -> u64 {
        TreeWorker::new(
            self.store.clone(),
            self.db.clone(),
            self.key.parse().unwrap(),
            TreeSettings::new("supplyline.test/log"),
        )
        .catch_up()
        .await
        .unwrap()
    }

    async fn log(&self) -> Vec<RecordedEvent> {
        self.store
            .read_all_as_stored(Position::START, u32::MAX)
            .await
            .unwrap()
    }

    async fn audit(&self) -> LogAudit {
        Auditor::new(self.store.clone(), self.db.clone())
            .verify(
                &self.held,
                &self.key.parse::<SigningKey>().unwrap().verifier_key(),
            )
            .await
            .unwrap()
    }

    /// Runs `postgres` or `sqlite` (as the backend is) on the raw connection; an empty
    /// statement is a step the backend does not need.
    async fn sql(&self, postgres: &str, sqlite: &str, binds: &[String]) {
        match &self.tamper {
            Tamper::Postgres(_) if postgres.is_empty() => {}
            Tamper::Sqlite(_) if sqlite.is_empty() => {}
            Tamper::Postgres(pool) => {
                let mut query = sqlx::query(postgres);
                for bind in binds {
                    query = query.bind(bind);
                }
                query.execute(pool).await.unwrap();
            }
            Tamper::Sqlite(pool) => {
                let mut query = sqlx::query(sqlite);
                for bind in binds {
                    query = query.bind(bind);
                }
                query.execute(pool).await.unwrap();
            }
        }
    }

    /// The index in the held log of the first event of a stream with at least `events`
    /// events, and that stream's events.
    fn stream_with(log: &[RecordedEvent], events: u64) -> Vec<&RecordedEvent> {
        let stream = &log
            .iter()
            .find(|e| e.sequence >= events)
            .expect("a stream long enough")
            .stream;
        log.iter().filter(|e| &e.stream == stream).collect()
    }

    fn index_of(&self, event: &RecordedEvent) -> u64 {
        self.ids.iter().position(|i| *i == id(event)).unwrap() as u64
    }

    async fn finish(self) {
        self.db.close().await;
        if let Keep::Scratch(Some(scratch)) = self._keep {
            if let Tamper::Postgres(pool) = self.tamper {
                pool.close().await;
            }
            scratch.drop_database().await.unwrap();
        }
    }
}

fn id(event: &RecordedEvent) -> String {
    event.metadata["event_id"].as_str().unwrap().to_owned()
}

fn first_leaf(audit: &LogAudit) -> Option<u64> {
    match audit {
        LogAudit::Differs { first_leaf, .. } => *first_leaf,
        LogAudit::Intact { .. } => panic!("the tampering went unseen: {audit:?}"),
    }
}

/// Where the event's row is, for `WHERE`: its stream and sequence as binds.
fn row(event: &RecordedEvent) -> Vec<String> {
    vec![
        event.stream.aggregate_type.clone(),
        event.stream.aggregate_id.clone(),
        event.sequence.to_string(),
    ]
}

const WHERE_ROW: &str = "aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3::bigint";
const WHERE_ROW_LITE: &str = "aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3";

async fn payload_edited(f: Fixture) {
    let log = f.log().await;
    let victim = &log[log.len() / 2];
    let mut payload = victim.payload.clone();
    payload["tampered"] = Value::Bool(true);
    let mut binds = row(victim);
    binds.push(payload.to_string());
    f.sql(
        &format!("UPDATE events SET payload = $4::jsonb WHERE {WHERE_ROW}"),
        &format!("UPDATE events SET payload = $4 WHERE {WHERE_ROW_LITE}"),
        &binds,
    )
    .await;
    assert_eq!(first_leaf(&f.audit().await), Some(f.index_of(victim)));
    f.finish().await;
}

async fn last_event_of_a_stream_deleted(f: Fixture) {
    let log = f.log().await;
    let stream = Fixture::stream_with(&log, 3);
    let last = *stream.last().unwrap();
    f.sql(
        &format!("DELETE FROM events WHERE {WHERE_ROW}"),
        &format!("DELETE FROM events WHERE {WHERE_ROW_LITE}"),
        &row(last),
    )
    .await;
    assert_eq!(first_leaf(&f.audit().await), Some(f.index_of(last)));
    f.finish().await;
}

async fn whole_stream_deleted(f: Fixture) {
    let log = f.log().await;
    let stream = Fixture::stream_with(&log, 2);
    let first = stream[0];
    let binds = vec![
        first.stream.aggregate_type.clone(),
        first.stream.aggregate_id.clone(),
    ];
    f.sql(
        "DELETE FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        "DELETE FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
        &binds,
    )
    .await;
    assert_eq!(first_leaf(&f.audit().await), Some(f.index_of(first)));
    f.finish().await;
}

async fn two_events_reordered(f: Fixture) {
    let log = f.log().await;
    let (a, b) = (&log[log.len() / 3], &log[2 * log.len() / 3]);
    let mut binds = row(a);
    binds.extend(row(b));
    // PostgreSQL orders by (epoch, tx, position): the two swap transactions. SQLite orders
    // by position: the two swap positions.
    f.sql(
        "UPDATE events SET tx = CASE WHEN aggregate_id = $2 AND sequence = $3::bigint \
             THEN (SELECT tx FROM events WHERE aggregate_type = $4 AND aggregate_id = $5 \
                   AND sequence = $6::bigint) \
             ELSE (SELECT tx FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
                   AND sequence = $3::bigint) END \
         WHERE (aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3::bigint) \
            OR (aggregate_type = $4 AND aggregate_id = $5 AND sequence = $6::bigint)",
        "UPDATE events SET position = -position \
         WHERE (aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3) \
            OR (aggregate_type = $4 AND aggregate_id = $5 AND sequence = $6)",
        &binds,
    )
    .await;
    if let Tamper::Sqlite(_) = f.tamper {
        let (pa, pb) = (a.position.seq().to_string(), b.position.seq().to_string());
        f.sql(
            "",
            "UPDATE events SET position = $2 WHERE position = -$1",
            &[pa.clone(), pb.clone()],
        )
        .await;
        f.sql(
            "",
            "UPDATE events SET position = $1 WHERE position = -$2",
            &[pa, pb],
        )
        .await;
    }
    let order: Vec<String> = f.log().await.iter().map(id).collect();
    assert_ne!(order, f.ids, "the log's order changed");
    assert_eq!(first_leaf(&f.audit().await), Some(f.index_of(a)));
    f.finish().await;
}

async fn stream_rechained(f: Fixture) {
    let log = f.log().await;
    let stream = Fixture::stream_with(&log, 3);
    let victim = stream[stream.len() - 2];
    // Edit an event's payload and recompute its stream's chain from there, as one who knows
    // the (keyless) chain's rule would: the chain check passes, the tree does not.
    let mut prev: event_schemas::ChainHash = victim.metadata["prev_hash"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for event in stream.iter().skip_while(|e| e.sequence < victim.sequence) {
        let mut payload = event.payload.clone();
        if event.sequence == victim.sequence {
            payload["tampered"] = Value::Bool(true);
        }
        let mut metadata = event.metadata.clone();
        metadata["prev_hash"] = Value::String(prev.to_string());
        let hash = event_store::event_hash(
            &prev,
            &event.stream,
            event.sequence,
            &event.event_type,
            &event.event_version,
            &payload,
            &metadata,
        );
        metadata["hash"] = Value::String(hash.to_string());
        let mut binds = row(event);
        binds.push(payload.to_string());
        binds.push(metadata.to_string());
        f.sql(
            &format!(
                "UPDATE events SET payload = $4::jsonb, metadata = $5::jsonb WHERE {WHERE_ROW}"
            ),
            &format!("UPDATE events SET payload = $4, metadata = $5 WHERE {WHERE_ROW_LITE}"),
            &binds,
        )
        .await;
        prev = hash;
    }
    let chain = f.store.verify_stream(&victim.stream).await.unwrap();
    assert!(
        chain.ok,
        "the re-chained stream passes its chain check: {chain:?}"
    );
    assert_eq!(first_leaf(&f.audit().await), Some(f.index_of(victim)));
    f.finish().await;
}

async fn event_inserted(f: Fixture) {
    let log = f.log().await;
    let after = &log[log.len() / 2];
    let stream = Fixture::stream_with(&log, 1);
    let template = stream[0];
    let mut metadata = template.metadata.clone();
    metadata["event_id"] = Value::String(uuid::Uuid::now_v7().to_string());
    let forged = vec![
        template.stream.aggregate_type.clone(),
        template.stream.aggregate_id.clone(),
        "1000".to_owned(),
        template.event_type.clone(),
        template.event_version.clone(),
        template.payload.to_string(),
        metadata.to_string(),
        after.stream.aggregate_type.clone(),
        after.stream.aggregate_id.clone(),
        after.sequence.to_string(),
    ];
    // Into the middle of the log: in the transaction of an event half way (PostgreSQL), or
    // at a position just after it, the later ones moved up (SQLite).
    f.sql(
        "",
        "UPDATE events SET position = position + 1000000 WHERE position > $1",
        &[after.position.seq().to_string()],
    )
    .await;
    f.sql(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
             payload, metadata, epoch, tx) \
         SELECT $1, $2, $3::bigint, $4, $5, $6::jsonb, $7::jsonb, epoch, tx FROM events \
         WHERE aggregate_type = $8 AND aggregate_id = $9 AND sequence = $10::bigint",
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
             payload, metadata, position, recorded_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, position + 1, recorded_at FROM events \
         WHERE aggregate_type = $8 AND aggregate_id = $9 AND sequence = $10",
        &forged,
    )
    .await;
    let now: Vec<String> = f.log().await.iter().map(id).collect();
    let at = now.iter().position(|i| !f.ids.contains(i)).unwrap() as u64;
    assert!(
        at < f.ids.len() as u64,
        "inserted before the checkpoint's end"
    );
    assert_eq!(first_leaf(&f.audit().await), Some(at));
    f.finish().await;
}

async fn appended_after_the_checkpoint(mut f: Fixture) {
    for _ in 0..10 {
        f.simulator.step().await.unwrap();
    }
    let size = f.catch_up().await;
    assert!(size > f.ids.len() as u64);
    assert_eq!(
        f.audit().await,
        LogAudit::Intact {
            size: f.ids.len() as u64,
            log_size: size
        }
    );
    f.finish().await;
}

macro_rules! on_both {
    ($($case:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Fixture::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(fixture) = super::Fixture::postgres().await {
                        super::$case(fixture).await;
                    }
                }
            )*
        }
    };
}

on_both!(
    payload_edited,
    last_event_of_a_stream_deleted,
    whole_stream_deleted,
    two_events_reordered,
    stream_rechained,
    event_inserted,
    appended_after_the_checkpoint
);
