//! The seam the read side builds on: a projector or process manager keeps its own tables where
//! the store says (the log's PostgreSQL database, or a SQLite file beside the log), holds its
//! own transaction there, reads the global log, and runs commands through the process's shared
//! executors, without ever waiting on itself or holding appends back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use domain::Issued;
use domain::stock::{RegisterStockItem, StockCommand};
use event_schemas::values::{
    Actor, ActorId, Category, Cents, ProductName, QualityGrade, Quantity, Role, StockItemId, Unit,
};
use event_store::{CommandContext, CommitPoint, Database, EventStore, Position, ScratchDatabase};
use executors::{ExecutorSettings, Executors};
use sqlx::Connection;
use uuid::Uuid;

/// Registers a stock item through the shared executors, as a process manager would issue a
/// command; fails the test if it takes long (it would be waiting on a lock).
async fn register_through(executors: &Executors) {
    let id = Uuid::now_v7();
    let by = Actor::new(ActorId::parse("farmer-ana").unwrap(), Role::Farmer);
    let command = StockCommand::RegisterStockItem(RegisterStockItem {
        stock_item_id: StockItemId::from_uuid(id),
        farmer_id: None,
        product_name: ProductName::parse("Kale").unwrap(),
        category: Category::Vegetables,
        unit: Unit::Bunch,
        unit_price_cents: Cents::new(300).unwrap(),
        quality_grade: QualityGrade::A,
        harvest_date: None,
        certifications: Vec::new(),
        low_stock_threshold: Quantity::new(0).unwrap(),
        initial_quantity: Quantity::new(5).unwrap(),
    });
    let context = CommandContext {
        actor: by.clone(),
        command: "RegisterStockItem".into(),
        request_id: "seam".into(),
        correlation_id: id,
        causation_id: id,
        idempotency: None,
        expected_version: None,
        commit_point: CommitPoint::new(),
    };
    let executed = tokio::time::timeout(
        Duration::from_secs(3),
        executors.stock.execute(
            &id.to_string(),
            Issued::new(by, Utc::now(), command),
            &context,
        ),
    )
    .await
    .expect("the command waited on the projector's transaction")
    .unwrap();
    assert_eq!(executed.version, 1);
}

/// Reads the whole global log (once the command is readable).
async fn log_length(store: &EventStore) -> usize {
    for _ in 0..300 {
        let events = store.read_all(Position::START, 100).await.unwrap();
        if !events.is_empty() {
            return events.len();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_projector_keeps_its_own_file_and_its_transaction_never_blocks_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let executors = Executors::new(store.clone(), ExecutorSettings::default());

    let Database::Sqlite {
        log_file: Some(log_file),
    } = store.database()
    else {
        panic!(
            "expected a SQLite log in a file, got {:?}",
            store.database()
        );
    };
    assert_eq!(log_file, dir.path().join("log.db"));
    let read_models = log_file.with_file_name("read-models.db");
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!(
        "sqlite://{}",
        read_models.display()
    ))
    .unwrap()
    .create_if_missing(true);
    let mut projector = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE seen (n INTEGER)")
        .execute(&mut projector)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut projector)
        .await
        .unwrap();
    sqlx::query("INSERT INTO seen VALUES (1)")
        .execute(&mut projector)
        .await
        .unwrap();

    register_through(&executors).await;
    sqlx::query("COMMIT").execute(&mut projector).await.unwrap();

    assert_eq!(log_length(&store).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_projector_keeps_its_tables_in_the_log_database_without_blocking_appends() {
    let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the PostgreSQL seam test did not run");
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_seam")
        .await
        .unwrap();
    let store = EventStore::connect(database.url()).await.unwrap();
    store.migrate().await.unwrap();
    let executors = Executors::new(store.clone(), ExecutorSettings::default());

    let Database::Postgres(options) = store.database() else {
        panic!("expected PostgreSQL, got {:?}", store.database());
    };
    // A pool of the projector's own, on the log's database.
    let pool = sqlx::PgPool::connect_with(options).await.unwrap();
    sqlx::query("CREATE TABLE seen (n integer)")
        .execute(&pool)
        .await
        .unwrap();
    let mut projector = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO seen VALUES (1)")
        .execute(&mut *projector)
        .await
        .unwrap();

    register_through(&executors).await;
    projector.commit().await.unwrap();

    assert_eq!(log_length(&store).await, 1);
    drop(executors);
    drop(store);
    pool.close().await;
    database.drop_database().await.unwrap();
}
