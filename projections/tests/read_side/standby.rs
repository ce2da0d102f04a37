//! Two runtimes over one database: one is live per projection, the other stands by, takes
//! over when the first stops, and no event is applied twice.

use std::time::Duration;

use projections::simulate::Simulator;
use projections::status;

use crate::on_both;
use crate::support::Env;

async fn a_standby_takes_over_and_nothing_is_applied_twice(env: &Env) {
    let first = env.runtime().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = env.runtime().await;
    let mut simulator = Simulator::new(env.store.clone(), 3).unwrap();
    for _ in 0..30 {
        simulator.step().await.unwrap();
    }
    env.caught_up(simulator.last_position()).await;
    let rows = status::all(&env.db).await.unwrap();
    let total = env
        .store
        .count_after(event_store::Position::START, u64::MAX)
        .await
        .unwrap();
    for row in &rows {
        assert_eq!(
            row.applied as u64, total,
            "{} applied {} of {total}",
            row.name, row.applied
        );
    }
    first.stop().await;
    for _ in 0..30 {
        simulator.step().await.unwrap();
    }
    env.caught_up(simulator.last_position()).await;
    assert!(second.is_running());
    // The live instance owns the state: the stopped one did not leave `stopped` behind, and
    // the standby never wrote over it.
    for row in status::all(&env.db).await.unwrap() {
        assert_eq!(row.state, "running", "{}", row.name);
    }
    second.stop().await;
    let total = env
        .store
        .count_after(event_store::Position::START, u64::MAX)
        .await
        .unwrap();
    for row in status::all(&env.db).await.unwrap() {
        assert_eq!(
            row.applied as u64, total,
            "{} applied {} of {total}",
            row.name, row.applied
        );
    }
    env.assert_equals_a_fresh_replay(2000).await;
}

on_both!(standby, a_standby_takes_over_and_nothing_is_applied_twice);

/// A lease whose session the database ended (a restart, a network cut, an operator's
/// `pg_terminate_backend`) reports itself lost, and another instance takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_session_ended_is_lost_and_taken_by_another() {
    let Some(env) = Env::new(crate::support::Kind::Postgres).await else {
        return;
    };
    let projections::ReadDb::Postgres(pool) = &env.db else {
        unreachable!("a PostgreSQL environment");
    };
    let leases = projections::lease::Leases::new(&env.db);
    let mut lease = leases.try_take("orders").await.unwrap().unwrap();
    lease.check().await.unwrap();
    assert!(leases.try_take("orders").await.unwrap().is_none());
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND database = \
           (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(ended, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lease.check().await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The ended backend said so before it finished exiting: its lock goes a moment later, and
    // another instance (retrying, as standbys do) takes it then.
    while leases.try_take("orders").await.unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease was never released"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.finish().await;
}
