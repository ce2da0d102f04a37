//! A projection that cannot apply an event stops there, says where and why, and carries on
//! once the cause is fixed, without skipping anything.

use std::time::{Duration, Instant};

use projections::simulate::Simulator;
use projections::{ReadDb, status};

use crate::on_both;
use crate::support::Env;

/// Makes the `stock_items` table refuse items named after `name`: a read-model database that
/// says no, as a full disk or a bad migration would.
async fn poison(db: &ReadDb) {
    match db {
        ReadDb::Postgres(pool) => {
            sqlx::query("ALTER TABLE stock_items ADD CONSTRAINT poison CHECK (product_name NOT LIKE 'Produce 7%')")
                .execute(pool)
                .await
                .unwrap();
        }
        ReadDb::Sqlite(pool) => {
            sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON stock_items \
                 WHEN NEW.product_name LIKE 'Produce 7%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
            )
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

async fn cure(db: &ReadDb) {
    match db {
        ReadDb::Postgres(pool) => {
            sqlx::query("ALTER TABLE stock_items DROP CONSTRAINT poison")
                .execute(pool)
                .await
                .unwrap();
        }
        ReadDb::Sqlite(pool) => {
            sqlx::query("DROP TRIGGER poison")
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

async fn a_failing_projection_stops_reports_and_resumes_without_skipping(env: &Env) {
    let runtime = env.runtime().await;
    poison(&env.db).await;
    let mut simulator = Simulator::new(env.store.clone(), 7).unwrap();
    let mut failing = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while failing.is_none() {
        assert!(
            Instant::now() < deadline,
            "the poisoned item never failed the projection"
        );
        simulator.step().await.unwrap();
        let row = status::one(&env.db, "stock_items").await.unwrap();
        // Once retried event by event, the failure names its event.
        if row.state == "failing" && row.error_event.is_some() {
            failing = Some(row);
        }
    }
    let failing = failing.unwrap();
    // It names the event and where it is, and stays before it.
    let event = failing.error_event.clone().unwrap();
    assert!(event.starts_with("stock/"), "{event}");
    let position = failing.error_position.clone().unwrap();
    for _ in 0..20 {
        simulator.step().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = status::one(&env.db, "stock_items").await.unwrap();
    assert_eq!(still.state, "failing");
    assert!(
        still.position < position,
        "{} passed the failing event {position}",
        still.position
    );
    assert!(still.attempts >= 2, "it keeps retrying: {}", still.attempts);
    assert!(still.last_error.unwrap().len() > 5);
    // The other projections are not held back.
    let orders = status::one(&env.db, "orders").await.unwrap();
    assert!(orders.position > position);

    cure(&env.db).await;
    env.caught_up(simulator.last_position()).await;
    runtime.stop().await;
    let healed = status::one(&env.db, "stock_items").await.unwrap();
    assert_ne!(healed.state, "failing");
    assert!(healed.error_position.is_none());
    env.assert_equals_a_fresh_replay(2000).await;
}

on_both!(
    failing_projection,
    a_failing_projection_stops_reports_and_resumes_without_skipping
);
