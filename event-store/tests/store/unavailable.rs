//! A PostgreSQL that cannot be reached is reported as unavailable (a 503 and a retry for the
//! client), typed, never as a generic database error. Needs no running database.

use std::sync::Arc;
use std::time::Duration;

use domain::stock::StockItem;
use event_store::{
    EventStore, ExecuteError, Executor, Position, PostgresBackend, StoreError, StoreOptions,
};

use crate::fixtures::{
    StreamWriter, context_for, farmer, new_stock_item_id, new_stream, probes, receive,
};

/// A store over a PostgreSQL port nobody listens on.
fn unreachable_store() -> EventStore {
    let backend = PostgresBackend::connect(
        "postgres://postgres@127.0.0.1:1/none",
        StoreOptions {
            max_connections: 1,
            acquire_timeout: Duration::from_millis(500),
            ..StoreOptions::default()
        },
    )
    .expect("connecting is lazy: a database that is down does not fail the start");
    EventStore::new(Arc::new(backend))
}

fn assert_unavailable<T: std::fmt::Debug>(operation: &str, result: Result<T, StoreError>) {
    match result {
        Err(error) => assert!(
            error.is_unavailable(),
            "{operation}: expected Unavailable, got {error:?}"
        ),
        Ok(value) => panic!("{operation} succeeded against no database: {value:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_is_unavailable_on_every_operation() {
    let store = unreachable_store();
    let stream = new_stream();

    assert_unavailable(
        "append",
        store
            .append(StreamWriter::new(stream.clone()).request(probes(1..=1)))
            .await,
    );
    assert_unavailable("read_stream", store.read_stream(&stream, 0).await);
    assert_unavailable("read_all", store.read_all(Position::START, 10).await);
    assert_unavailable("head", store.head().await);
    assert_unavailable("load_snapshot", store.load_snapshot(&stream).await);
    assert_unavailable("idempotent_outcome", store.idempotent_outcome("k").await);
    assert_unavailable("ready", store.ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_against_an_unreachable_postgres_is_unavailable() {
    let executor = Executor::<StockItem>::new(unreachable_store(), ());
    let command = receive(&farmer(), 1);
    let context = context_for(&command);

    let error = executor
        .execute(&new_stock_item_id(), command, &context)
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ExecuteError::Store(e) if e.is_unavailable()),
        "{error:?}"
    );
}
