//! Answers that tell the truth: 64 concurrent commands on one hot aggregate all succeed, and a
//! 503 always means "not applied", even when the database is blocked past the request's
//! deadline (a lock held on the `events` table).

use std::sync::Arc;
use std::time::Duration;

use command_api::{AppState, Authenticator, JwtConfig, JwtKey, Server, router};
use event_schemas::values::Role;
use event_store::{EventStore, ScratchDatabase, StoreOptions, StreamId};
use serde_json::json;
use sqlx::Connection;
use tokio::sync::Barrier;

use crate::support::{SECRET, TestApp};

api_test!(
    sixty_four_concurrent_commands_on_one_stock_item_all_succeed,
    |app| async move {
        const CLIENTS: usize = 64;
        let app = Arc::new(app);
        let farmer = app.token("farmer-ana", Role::Farmer);
        let id = app.stock_item("farmer-ana", 1).await;
        let path = format!("/v1/stock-items/{id}/receive");
        let before = app.stream_len("stock", &id).await;
        let start = Arc::new(Barrier::new(CLIENTS));

        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (app, start, path, farmer) =
                    (app.clone(), start.clone(), path.clone(), farmer.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    app.post(&path, Some(&farmer), &json!({"quantity": 1}))
                        .await
                        .status
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for client in clients {
            statuses.push(client.await.unwrap());
        }

        assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
        assert_eq!(app.stream_len("stock", &id).await, before + CLIENTS);
    }
);

/// A store of a backend, the URL it lives at, and a way to block its appends.
struct Blockable {
    url: String,
    postgres: bool,
}

impl Blockable {
    /// Holds a lock that keeps every append out until the returned task ends after `hold`.
    async fn block_appends_for(&self, hold: Duration) -> tokio::task::JoinHandle<()> {
        let (locked, is_locked) = tokio::sync::oneshot::channel();
        let (url, postgres) = (self.url.clone(), self.postgres);
        let task = tokio::spawn(async move {
            if postgres {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("LOCK TABLE events IN SHARE MODE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = locked.send(());
                tokio::time::sleep(hold).await;
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            } else {
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = locked.send(());
                tokio::time::sleep(hold).await;
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        });
        is_locked.await.unwrap();
        task
    }
}

/// Starts the API over the store at `url` with these time limits; returns its address.
async fn start(url: &str, request_timeout: Duration, statement_timeout: Duration) -> TestApp {
    let store = EventStore::connect_with(
        url,
        StoreOptions {
            statement_timeout,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let jwt = JwtConfig::new(JwtKey::Secret(SECRET.to_vec()));
    let state = AppState::new(store.clone(), Authenticator::new(&jwt).unwrap(), 10);
    let server = Server::bind("127.0.0.1:0", router(state, request_timeout))
        .await
        .unwrap();
    TestApp::serving(server, store, jwt)
}

/// Runs `scenario` on a fresh SQLite file and on a fresh PostgreSQL database.
async fn on_both<F, Fut>(scenario: F)
where
    F: Fn(Blockable) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    scenario(Blockable {
        url: format!("sqlite://{}", dir.path().join("api.db").display()),
        postgres: false,
    })
    .await;
    let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the PostgreSQL half did not run");
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_truth")
        .await
        .unwrap();
    scenario(Blockable {
        url: database.url().to_owned(),
        postgres: true,
    })
    .await;
    database.drop_database().await.unwrap();
}

/// Sends `receive 5` to a warmed-up stock item while appends are blocked for `hold`; returns
/// the answer's status (a 503 checked to be a problem) and the stock item's stream length once
/// the block is gone.
async fn receive_while_blocked(
    store: &Blockable,
    request_timeout: Duration,
    statement_timeout: Duration,
    hold: Duration,
) -> (u16, usize) {
    let (status, length) =
        receive_while_blocked_answering(store, request_timeout, statement_timeout, hold).await;
    assert!(status == 200 || status == 503, "unexpected status {status}");
    (status, length)
}

/// As [`receive_while_blocked`], with any status.
async fn receive_while_blocked_answering(
    store: &Blockable,
    request_timeout: Duration,
    statement_timeout: Duration,
    hold: Duration,
) -> (u16, usize) {
    let app = start(&store.url, request_timeout, statement_timeout).await;
    let farmer = app.token("farmer-ana", Role::Farmer);
    let id = app.stock_item("farmer-ana", 10).await;
    let path = format!("/v1/stock-items/{id}/receive");
    // Warm: the executor keeps the item, so the next command goes straight to its append.
    app.post(&path, Some(&farmer), &json!({"quantity": 1}))
        .await
        .expect_ok(200);

    let blocker = store.block_appends_for(hold).await;
    let answer = app
        .post(&path, Some(&farmer), &json!({"quantity": 5}))
        .await;
    blocker.await.unwrap();
    // Anything still in flight lands now, if it is going to.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stream = StreamId::new("stock", &id);
    let length = app.store.read_stream(&stream, 0).await.unwrap().len();
    if !answer.status.is_success() {
        answer.expect_problem(answer.status.as_u16());
    }
    (answer.status.as_u16(), length)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_blocked_past_its_deadline_is_answered_503_and_never_applied() {
    on_both(|store| async move {
        let (status, length) = receive_while_blocked(
            &store,
            Duration::from_millis(1000),
            Duration::from_millis(400),
            Duration::from_millis(2500),
        )
        .await;

        assert_eq!(status, 503, "postgres: {}", store.postgres);
        assert_eq!(
            length, 2,
            "a 503 was applied (postgres: {})",
            store.postgres
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_whose_append_was_sent_answers_its_true_outcome_past_the_deadline() {
    on_both(|store| async move {
        // The database would wait longer than the request may: once the append is sent, the
        // answer waits for its outcome rather than claiming it was not applied.
        // (Past its deadline the answer waits at most one more request timeout, which the
        // block here stays within.)
        let (status, length) = receive_while_blocked(
            &store,
            Duration::from_millis(1000),
            Duration::from_secs(5),
            Duration::from_millis(1500),
        )
        .await;

        match status {
            200 => assert_eq!(length, 3, "answered 200 but not applied"),
            503 => assert_eq!(length, 2, "answered 503 but applied"),
            other => panic!("unexpected status {other}"),
        }
        if store.postgres {
            // PostgreSQL waits inside the INSERT, after the append was sent.
            assert_eq!(status, 200);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_that_never_settles_is_answered_504_outcome_unknown() {
    let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the 504 test needs PostgreSQL");
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_truth")
        .await
        .unwrap();
    let store = Blockable {
        url: database.url().to_owned(),
        postgres: true,
    };
    // The database would wait far longer than the request's deadline and its grace: as when a
    // connection goes silent, the outcome cannot be known in time.
    let (status, _) = receive_while_blocked_answering(
        &store,
        Duration::from_millis(300),
        Duration::from_secs(30),
        Duration::from_millis(1500),
    )
    .await;

    assert_eq!(status, 504);
    database.drop_database().await.unwrap();
}
