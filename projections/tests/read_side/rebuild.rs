//! A rebuild while commands keep arriving ends equal to a fresh replay, and the old tables
//! keep answering while it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use projections::models::orders;
use projections::query::Page;
use projections::rebuild::RebuildSettings;
use projections::simulate::Simulator;
use projections::{Projection, Unwatched, models, rebuild, status};

use crate::on_both;
use crate::support::Env;

async fn rebuild_everything(env: &Env) {
    let mut all = models::all();
    let mut refs: Vec<&mut dyn Projection> = all.iter_mut().map(|p| p.as_mut()).collect();
    rebuild(
        &env.store,
        &env.db,
        &mut refs,
        &Unwatched,
        RebuildSettings {
            batch: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn a_rebuild_under_load_ends_equal_to_a_fresh_replay(env: &Env) {
    let mut simulator = Simulator::new(env.store.clone(), 1).unwrap();
    for _ in 0..40 {
        simulator.step().await.unwrap();
    }
    let runtime = env.runtime().await;
    env.caught_up(simulator.last_position()).await;
    let running = Arc::new(AtomicBool::new(true));
    let writer = {
        let running = running.clone();
        tokio::spawn(async move {
            let mut steps = 0;
            while running.load(Ordering::Relaxed) {
                simulator.step().await.unwrap();
                steps += 1;
            }
            (steps, simulator.last_position())
        })
    };
    // Dashboards keep reading the live tables: every answer comes, and never goes back.
    let reader = {
        let db = env.db.clone();
        let running = running.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            while running.load(Ordering::Relaxed) {
                let page = orders::orders(&db, &orders::OrderFilter::default(), &Page::first())
                    .await
                    .unwrap();
                assert!(
                    page.total_count >= seen,
                    "{} after {seen}",
                    page.total_count
                );
                seen = page.total_count;
            }
        })
    };
    let before = status::one(&env.db, "orders").await.unwrap().generation;
    rebuild_everything(env).await;
    assert_eq!(
        status::one(&env.db, "orders").await.unwrap().generation,
        before + 1
    );
    running.store(false, Ordering::Relaxed);
    let (steps, last) = writer.await.unwrap();
    assert!(steps > 0, "commands kept arriving");
    reader.await.unwrap();
    env.caught_up(last).await;
    runtime.stop().await;
    assert!(env.checksums().await["orders"].rows > 40);
    env.assert_equals_a_fresh_replay(50).await;
}

on_both!(
    rebuild_under_load,
    a_rebuild_under_load_ends_equal_to_a_fresh_replay
);

async fn a_second_rebuild_of_the_same_projection_is_refused_while_one_runs(env: &Env) {
    let mut simulator = Simulator::new(env.store.clone(), 2).unwrap();
    for _ in 0..5 {
        simulator.step().await.unwrap();
    }
    rebuild_everything(env).await;
    let mut first = models::all();
    let mut refs: Vec<&mut dyn Projection> = first.iter_mut().map(|p| p.as_mut()).collect();
    // A rebuild that claimed the projections and is still building: claim, then race.
    let racing = async {
        let mut second = models::by_name("orders").unwrap();
        let mut one: [&mut dyn Projection; 1] = [second.as_mut()];
        rebuild(
            &env.store,
            &env.db,
            &mut one,
            &Unwatched,
            RebuildSettings::default(),
        )
        .await
    };
    let (a, b) = tokio::join!(
        rebuild(
            &env.store,
            &env.db,
            &mut refs,
            &Unwatched,
            RebuildSettings {
                batch: 1,
                ..Default::default()
            }
        ),
        racing
    );
    // One of them wins; the other is told a rebuild is under way and changes nothing.
    match (a, b) {
        (Ok(_), Ok(_)) => {} // they did not overlap
        (Ok(_), Err(error)) | (Err(error), Ok(_)) => {
            assert!(
                matches!(error, projections::ProjectionError::RebuildUnderWay(_)),
                "{error}"
            );
        }
        (Err(a), Err(b)) => panic!("both failed: {a}; {b}"),
    }
    env.assert_equals_a_fresh_replay(50).await;
}

on_both!(
    concurrent_rebuilds,
    a_second_rebuild_of_the_same_projection_is_refused_while_one_runs
);

async fn a_rebuild_told_to_stop_gives_up_and_leaves_nothing_behind(env: &Env) {
    let mut simulator = Simulator::new(env.store.clone(), 4).unwrap();
    for _ in 0..10 {
        simulator.step().await.unwrap();
    }
    rebuild_everything(env).await;
    let before = status::one(&env.db, "orders").await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(true);
    let mut one = models::by_name("orders").unwrap();
    let mut refs: [&mut dyn Projection; 1] = [one.as_mut()];
    let settings = RebuildSettings {
        batch: 5,
        stop: Some(stopped),
    };
    let outcome = rebuild(&env.store, &env.db, &mut refs, &Unwatched, settings).await;
    assert!(
        matches!(outcome, Err(projections::ProjectionError::Stopped)),
        "{outcome:?}"
    );
    drop(stop);
    let after = status::one(&env.db, "orders").await.unwrap();
    assert_eq!(
        after.generation, before.generation,
        "nothing was swapped in"
    );
    assert!(after.build_id.is_none(), "the claim was given up");
    // Its tables are gone: a new rebuild builds the same generation from scratch.
    rebuild_everything(env).await;
    assert_eq!(
        status::one(&env.db, "orders").await.unwrap().generation,
        before.generation + 1
    );
    env.assert_equals_a_fresh_replay(50).await;
}

on_both!(
    stopped_rebuild,
    a_rebuild_told_to_stop_gives_up_and_leaves_nothing_behind
);
