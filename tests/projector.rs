//! Projector processes against one PostgreSQL: killed with SIGKILL mid-batch again and again
//! while events flow, and two of them at once; every read model ends equal to a fresh replay.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{EventStore, Position, ScratchDatabase};
use projections::checksum::checksums;
use projections::simulate::Simulator;
use projections::{Projection, ReadDb, Unwatched, models, rebuild, status};
use rand::Rng;

mod common;
use common::{Process, free_port};

/// A scratch database with a migrated log, or `None` (said loudly) without `DATABASE_URL`.
async fn scratch() -> Option<(ScratchDatabase, EventStore, ReadDb)> {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the projector process tests did not run");
        return None;
    };
    let scratch = ScratchDatabase::create(&admin, "projector_test")
        .await
        .unwrap();
    let store = EventStore::connect(scratch.url()).await.unwrap();
    store.migrate().await.unwrap();
    let db = ReadDb::open(&store, 4).await.unwrap();
    Some((scratch, store, db))
}

fn projector(url: &str) -> Process {
    let port = free_port();
    Process(
        Command::new(env!("CARGO_BIN_EXE_supplyline"))
            .args(["projector", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--projector-batch", "200", "--projector-poll", "20ms"])
            // The simulator appends whole flows itself, as if the processes had run.
            .arg("--no-process-managers")
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Appends simulated activity until `running` is cleared; returns the steps taken.
fn keep_writing(
    store: EventStore,
    seed: u64,
    running: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Position)> {
    tokio::spawn(async move {
        let mut simulator = Simulator::new(store, seed).unwrap();
        let mut steps = 0;
        while running.load(Ordering::Relaxed) {
            simulator.step().await.unwrap();
            steps += 1;
        }
        (steps, simulator.last_position())
    })
}

/// Waits until every projection has applied the log up to `last`, the last event the test
/// appended (not the readable head, which other tests' transactions can hold back).
async fn caught_up(db: &ReadDb, last: Position, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let rows = status::all(db).await.unwrap_or_default();
        let behind: Vec<String> = rows
            .iter()
            .filter(|r| r.checkpoint().unwrap() < last)
            .map(|r| format!("{} ({})", r.name, r.state))
            .collect();
        if rows.len() == models::names().len() && behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "projections still behind: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every read model equals a fresh replay of the log, and each projection counts every event
/// of the log once.
async fn equals_a_fresh_replay(store: &EventStore, db: &ReadDb) {
    let total = store.count_after(Position::START, u64::MAX).await.unwrap();
    for row in status::all(db).await.unwrap() {
        assert_eq!(
            row.applied as u64, total,
            "{} applied {} of {total}",
            row.name, row.applied
        );
    }
    let mut live = Vec::new();
    for projection in models::all() {
        live.push(checksums(db, projection.as_ref()).await.unwrap());
    }
    let mut all = models::all();
    let mut refs: Vec<&mut dyn Projection> = all.iter_mut().map(|p| p.as_mut()).collect();
    rebuild(store, db, &mut refs, &Unwatched, Default::default())
        .await
        .unwrap();
    for (projection, live) in models::all().iter().zip(live) {
        let fresh = checksums(db, projection.as_ref()).await.unwrap();
        assert_eq!(
            fresh,
            live,
            "{} differs from a fresh replay",
            projection.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_twenty_times_loses_and_repeats_nothing() {
    let Some((scratch, store, db)) = scratch().await else {
        return;
    };
    let running = Arc::new(AtomicBool::new(true));
    let writers = [
        keep_writing(store.clone(), 11, running.clone()),
        keep_writing(store.clone(), 12, running.clone()),
    ];
    let mut kills = 0;
    let mut passed = 0;
    let mut last = status::all(&db).await.unwrap_or_default();
    while kills < 22 {
        let mut child = projector(scratch.url());
        let wait = rand::rng().random_range(400..1200);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL: no chance to finish the batch
        child.wait().unwrap();
        kills += 1;
        let now = status::all(&db).await.unwrap_or_default();
        if now.iter().map(|r| r.applied).sum::<i64>() > last.iter().map(|r| r.applied).sum::<i64>()
        {
            passed += 1;
        }
        last = now;
    }
    assert!(
        passed >= 10,
        "the projector made progress in only {passed} of {kills} runs"
    );
    let mut child = projector(scratch.url());
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::Relaxed);
    let mut last = Position::START;
    for writer in writers {
        let (steps, at) = writer.await.unwrap();
        assert!(steps > 0);
        last = last.max(at);
    }
    caught_up(&db, last, Duration::from_secs(120)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    equals_a_fresh_replay(&store, &db).await;
    db.close().await;
    scratch.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projector_processes_apply_each_event_once_and_the_standby_takes_over() {
    let Some((scratch, store, db)) = scratch().await else {
        return;
    };
    let running = Arc::new(AtomicBool::new(true));
    let writer = keep_writing(store.clone(), 21, running.clone());
    let mut first = projector(scratch.url());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut second = projector(scratch.url());
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Kill each in turn: whichever is live, the other must take over within seconds.
    for round in 0..2 {
        let victim = if round == 0 { &mut first } else { &mut second };
        victim.kill().unwrap();
        victim.wait().unwrap();
        let before = status::all(&db).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = status::all(&db).await.unwrap();
            let moved = now.iter().zip(&before).all(|(n, b)| n.applied > b.applied);
            if moved {
                break;
            }
            assert!(Instant::now() < deadline, "no projector took over");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if round == 0 {
            first = projector(scratch.url());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    running.store(false, Ordering::Relaxed);
    let (_, last) = writer.await.unwrap();
    caught_up(&db, last, Duration::from_secs(60)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    // Killed in the second round already; reaped again for certain.
    second.kill().ok();
    second.wait().unwrap();
    equals_a_fresh_replay(&store, &db).await;
    db.close().await;
    scratch.drop_database().await.unwrap();
}
