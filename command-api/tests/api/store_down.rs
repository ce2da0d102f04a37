//! PostgreSQL going away under load: commands answer 503 with `Retry-After` (never 500), the
//! service recovers by itself when the database is back, and no acknowledged command is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use command_api::{JwtConfig, JwtKey};
use event_schemas::values::Role;
use event_store::{EventStore, PostgresBackend, ScratchDatabase, StoreOptions, StreamId};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::support::{SECRET, TestApp};

async fn admin(url: &str, sql: &str) {
    let mut connection = PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_503_while_postgres_is_unreachable_and_recover_losing_nothing() {
    let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the store-down test needs PostgreSQL");
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_down")
        .await
        .unwrap();
    let name = database.url().rsplit('/').next().unwrap().to_owned();
    let backend = PostgresBackend::connect(
        database.url(),
        StoreOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_millis(800),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let store = EventStore::new(Arc::new(backend));
    store.migrate().await.unwrap();
    let jwt = JwtConfig::new(JwtKey::Secret(SECRET.to_vec()));
    let app = TestApp::start_with(store, jwt).await;
    let farmer = app.token("farmer-ana", Role::Farmer);
    let id = app.stock_item("farmer-ana", 10).await;
    let path = format!("/v1/stock-items/{id}/receive");
    let mut acknowledged = vec![1u64];
    let send = async |n: u64| {
        let answer = app
            .post(&path, Some(&farmer), &json!({"quantity": n}))
            .await;
        assert_ne!(answer.status.as_u16(), 500, "{:#}", answer.body);
        answer
    };
    for n in 1..=5 {
        let answer = send(n).await;
        acknowledged.push(answer.expect_ok(200).1);
    }

    // The database goes away: new connections refused, open ones cut.
    admin(
        &admin_url,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await;
    admin(
        &admin_url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    let mut refused = 0;
    for n in 6..=10 {
        let answer = send(n).await;
        if answer.status.is_success() {
            acknowledged.push(answer.expect_ok(200).1);
            continue;
        }
        answer.expect_problem(503);
        assert_eq!(answer.headers["retry-after"], "1");
        refused += 1;
    }
    assert!(refused >= 4, "the outage must be seen: {refused} 503s");
    assert_eq!(app.get("/ready").await.status.as_u16(), 503);

    // It comes back: the service recovers by itself.
    admin(
        &admin_url,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    let started = Instant::now();
    loop {
        let answer = send(11).await;
        if answer.status.is_success() {
            acknowledged.push(answer.expect_ok(200).1);
            break;
        }
        answer.expect_problem(503);
        assert!(started.elapsed() < Duration::from_secs(30), "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/ready").await.status.as_u16(), 200);

    // Every acknowledged command is in the log, at the version it was acknowledged with.
    let events = app
        .store
        .read_stream(&StreamId::new("stock", &id), 0)
        .await
        .unwrap();
    let versions: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    for version in &acknowledged {
        assert!(
            versions.contains(version),
            "acknowledged version {version} lost"
        );
    }
    assert_eq!(
        events.len(),
        acknowledged.len(),
        "nothing unacknowledged appended"
    );
    drop(app);
    database.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_takes_too_long_is_answered_503_in_time() {
    use command_api::{AppState, Authenticator, Server, router};

    let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the timeout test needs PostgreSQL");
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_slow")
        .await
        .unwrap();
    let name = database.url().rsplit('/').next().unwrap().to_owned();
    // The pool would wait 20 s for a connection; the request timeout is 300 ms.
    let backend = PostgresBackend::connect(
        database.url(),
        StoreOptions {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(20),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let store = EventStore::new(Arc::new(backend));
    store.migrate().await.unwrap();
    let jwt = JwtConfig::new(JwtKey::Secret(SECRET.to_vec()));
    let state = AppState::new(store, Authenticator::new(&jwt).unwrap(), 10);
    let server = Server::bind("127.0.0.1:0", router(state, Duration::from_millis(300)))
        .await
        .unwrap();
    let address = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.run_until_stopped(std::future::pending()));

    admin(
        &admin_url,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await;
    admin(
        &admin_url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    )
    .await;
    let token = command_api::mint_token(&jwt, "farmer-ana", Role::Farmer, 60).unwrap();
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .post(format!("{address}/v1/stock-items"))
        .bearer_auth(token)
        .json(&crate::support::stock_item_body(1))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "1");
    assert_eq!(answer.headers()["content-type"], "application/problem+json");
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    admin(
        &admin_url,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    database.drop_database().await.unwrap();
}
