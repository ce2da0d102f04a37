//! `supplyline relay` processes killed with SIGKILL twenty times while events flow: afterwards
//! the JetStream stream holds every event of the log exactly once, in log order (PostgreSQL
//! from `DATABASE_URL`, NATS from `NATS_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{EventStore, Position, ScratchDatabase};
use projections::ReadDb;
use projections::simulate::Simulator;
use rand::Rng;

mod common;
use common::Process;

/// A relay process into stream `stream` under subjects `prefix.>`.
fn relay(database: &str, nats: &str, stream: &str, prefix: &str) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_supplyline"))
            .args(["relay", "--nats-url", nats, "--nats-stream", stream])
            .args(["--nats-subject-prefix", prefix])
            .env("DATABASE_URL", database)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_twenty_times_publishes_each_event_once_in_order() {
    let (Ok(admin), Ok(nats)) = (std::env::var("DATABASE_URL"), std::env::var("NATS_URL")) else {
        eprintln!(
            "SKIPPED: DATABASE_URL or NATS_URL is not set; the relay process test did not run"
        );
        return;
    };
    let scratch = ScratchDatabase::create(&admin, "relay_test").await.unwrap();
    let store = EventStore::connect(scratch.url()).await.unwrap();
    store.migrate().await.unwrap();
    let db = ReadDb::open(&store, 2).await.unwrap();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (stream, prefix) = (format!("RELAY_KILL_{tag}"), format!("relaykill{tag}"));

    let running = Arc::new(AtomicBool::new(true));
    let writer = {
        let (store, running) = (store.clone(), running.clone());
        tokio::spawn(async move {
            let mut simulator = Simulator::new(store, 5).unwrap();
            while running.load(Ordering::Relaxed) {
                simulator.step().await.unwrap();
            }
        })
    };
    let mut progressed = 0;
    let mut last = 0;
    for _ in 0..20 {
        let mut child = relay(scratch.url(), &nats, &stream, &prefix);
        let wait = rand::rng().random_range(300..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL: no chance to checkpoint what was acknowledged
        child.wait().unwrap();
        let (_, published) = relay::checkpoint(&db, "relay").await.unwrap_or_default();
        if published > last {
            progressed += 1;
        }
        last = published;
    }
    assert!(
        progressed >= 10,
        "the relay made progress in only {progressed} of 20 runs"
    );
    running.store(false, Ordering::Relaxed);
    writer.await.unwrap();

    let mut child = relay(scratch.url(), &nats, &stream, &prefix);
    let head = store.head().await.unwrap().readable.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay::checkpoint(&db, "relay").await.unwrap().0 < head {
        assert!(Instant::now() < deadline, "the last relay never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(child.terminate().success(), "the relay failed to stop");

    // `projections status` shows the relay stopped, everything published, nothing behind.
    let status = Command::new(env!("CARGO_BIN_EXE_supplyline"))
        .args(["projections", "status"])
        .env("DATABASE_URL", scratch.url())
        .output()
        .unwrap();
    assert!(status.status.success());
    let printed = String::from_utf8_lossy(&status.stdout);
    let line = printed
        .lines()
        .find(|line| line.starts_with("relay:relay "))
        .unwrap_or_else(|| panic!("no relay in the status:\n{printed}"));
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[1], "stopped", "{line}");
    assert_eq!(columns[3], "0", "the relay shows a lag: {line}");

    let log = store.read_all(Position::START, u32::MAX).await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(nats).await.unwrap());
    let mut stored = js.get_stream(&stream).await.unwrap();
    let state = stored.info().await.unwrap().state.clone();
    assert_eq!(
        state.messages,
        log.len() as u64,
        "not every event exactly once"
    );
    for (n, event) in log.iter().enumerate() {
        let message = stored.get_raw_message(n as u64 + 1).await.unwrap();
        let position = message
            .headers
            .get("Supplyline-Position")
            .map(|v| v.as_str().to_owned());
        assert_eq!(position, Some(event.position.token()), "message {}", n + 1);
    }
    js.delete_stream(&stream).await.unwrap();
    db.close().await;
    scratch.drop_database().await.unwrap();
}
