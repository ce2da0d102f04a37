//! A projection whose tables are of an older schema version rebuilds itself on start while
//! the old tables serve; tables of a newer version than the build knows are left alone.

use std::time::{Duration, Instant};

use projections::simulate::Simulator;
use projections::{ReadDb, status};

use crate::on_both;
use crate::support::Env;

async fn set_version(db: &ReadDb, name: &str, version: i64) {
    let sql = "UPDATE projection_status SET version = $1 WHERE name = $2";
    match db {
        ReadDb::Postgres(pool) => {
            sqlx::query(sql)
                .bind(version)
                .bind(name)
                .execute(pool)
                .await
                .unwrap();
        }
        ReadDb::Sqlite(pool) => {
            sqlx::query(sql)
                .bind(version)
                .bind(name)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn an_older_schema_rebuilds_on_start_and_a_newer_one_is_left_alone(env: &Env) {
    let mut simulator = Simulator::new(env.store.clone(), 5).unwrap();
    for _ in 0..20 {
        simulator.step().await.unwrap();
    }
    let runtime = env.runtime().await;
    env.caught_up(simulator.last_position()).await;
    runtime.stop().await;
    let live = env.checksums().await;
    let before = status::one(&env.db, "orders").await.unwrap();

    set_version(&env.db, "orders", 0).await;
    set_version(&env.db, "sales", 99).await;
    let runtime = env.runtime().await;
    wait_until("the orders rebuild", async || {
        let row = status::one(&env.db, "orders").await.unwrap();
        row.version == before.version && row.generation == before.generation + 1
    })
    .await;
    wait_until("the refusal of a newer schema", async || {
        let row = status::one(&env.db, "sales").await.unwrap();
        row.state == "failing" && row.last_error.is_some_and(|e| e.contains("newer"))
    })
    .await;
    for _ in 0..5 {
        simulator.step().await.unwrap();
    }
    // The rebuilt orders follow the log again.
    wait_until("the orders catching up", async || {
        env.checksums().await["orders"].rows > live["orders"].rows
    })
    .await;
    runtime.stop().await;
    let sales = status::one(&env.db, "sales").await.unwrap();
    assert_eq!((sales.version, sales.generation), (99, before.generation));
    let after = env.checksums().await;
    assert_eq!(
        after["sales_lines"], live["sales_lines"],
        "a newer schema's tables are untouched"
    );
    assert!(after["orders"].rows > live["orders"].rows);
}

on_both!(
    schema_versions,
    an_older_schema_rebuilds_on_start_and_a_newer_one_is_left_alone
);
