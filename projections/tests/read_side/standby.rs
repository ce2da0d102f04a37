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
