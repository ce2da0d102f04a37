//! The relay over a simulated log on SQLite, into a stream of the test's own on the local
//! NATS server (`NATS_URL`): every event arrives once, in log order, and the checkpoint
//! follows the acknowledgements; a second relay stands by.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use event_store::{EventStore, Position};
use projections::ReadDb;
use projections::simulate::Simulator;
use relay::{JetStream, JetStreamSettings, Relay, RelaySettings};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_arrives_once_in_order_and_the_checkpoint_follows() {
    let Ok(url) = std::env::var("NATS_URL") else {
        eprintln!("SKIPPED: NATS_URL is not set; this NATS test did not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::connect(&format!("sqlite://{}", dir.path().join("log.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let db = ReadDb::open(&store, 4).await.unwrap();
    let mut simulator = Simulator::new(store.clone(), 7).unwrap();
    for _ in 0..20 {
        simulator.step().await.unwrap();
    }

    let tag = uuid::Uuid::now_v7().simple().to_string();
    let mut nats = JetStreamSettings::new(url.clone());
    nats.stream = format!("RELAY_TEST_{tag}");
    nats.subject_prefix = format!("relaytest{tag}");
    nats.ack_wait = Duration::from_secs(2);
    let settings = RelaySettings {
        subject_prefix: nats.subject_prefix.clone(),
        batch: 37,
        poll_interval: Duration::from_millis(100),
        ..RelaySettings::default()
    };
    let (stop, stopped) = watch::channel(false);
    let mut relays = Vec::new();
    for _ in 0..2 {
        let relay = Relay::new(
            store.clone(),
            db.clone(),
            JetStream::connect(nats.clone()).await.unwrap(),
            settings.clone(),
        );
        let stopped = stopped.clone();
        relays.push(tokio::spawn(async move { relay.run(stopped).await }));
    }
    // Events keep coming while it relays.
    for _ in 0..10 {
        simulator.step().await.unwrap();
    }
    let head = store.head().await.unwrap().readable.unwrap();
    let started = Instant::now();
    loop {
        // The table is made when the relay starts.
        let (at, _) = relay::checkpoint(&db, &settings.name)
            .await
            .unwrap_or_default();
        if at >= head {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the relay stalled at {at}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send_replace(true);
    for relay in relays {
        relay.await.unwrap();
    }

    let log = store.read_all(Position::START, u32::MAX).await.unwrap();
    let (_, published) = relay::checkpoint(&db, &settings.name).await.unwrap();
    assert_eq!(published, log.len() as i64);
    let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
    let mut stream = js.get_stream(&nats.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        log.len() as u64
    );
    for (n, event) in log.iter().enumerate() {
        let stored = stream.get_raw_message(n as u64 + 1).await.unwrap();
        let header = |name: &str| stored.headers.get(name).map(|v| v.as_str().to_owned());
        assert_eq!(header("Supplyline-Position"), Some(event.position.token()));
        assert_eq!(
            stored.subject.as_str(),
            format!(
                "{}.{}.{}",
                nats.subject_prefix, event.stream.aggregate_type, event.event_type
            )
        );
    }
    js.delete_stream(&nats.stream).await.unwrap();
}

/// A simulated log on SQLite and a stream of its own, relayed in short spells.
struct Fixture {
    _dir: tempfile::TempDir,
    store: EventStore,
    db: ReadDb,
    simulator: Simulator,
    nats: JetStreamSettings,
    settings: RelaySettings,
}

impl Fixture {
    async fn new(url: &str, kind: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log.db");
        let store = EventStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let db = ReadDb::open(&store, 4).await.unwrap();
        let simulator = Simulator::new(store.clone(), 3).unwrap();
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let mut nats = JetStreamSettings::new(url);
        nats.stream = format!("RELAY_{}_{tag}", kind.to_uppercase());
        nats.subject_prefix = format!("relay{kind}{tag}");
        nats.duplicate_window = Duration::from_millis(500);
        let settings = RelaySettings {
            subject_prefix: nats.subject_prefix.clone(),
            batch: 20,
            poll_interval: Duration::from_millis(50),
            ..RelaySettings::default()
        };
        Self {
            _dir: dir,
            store,
            db,
            simulator,
            nats,
            settings,
        }
    }

    async fn append(&mut self, steps: usize) {
        for _ in 0..steps {
            self.simulator.step().await.unwrap();
        }
    }

    /// Runs a relay until its checkpoint reaches the log's head, then stops it.
    async fn relay_until_head(&self) {
        let (stop, stopped) = watch::channel(false);
        let relay = Relay::new(
            self.store.clone(),
            self.db.clone(),
            JetStream::connect(self.nats.clone()).await.unwrap(),
            self.settings.clone(),
        );
        let running = tokio::spawn(async move { relay.run(stopped).await });
        let head = self.store.head().await.unwrap().readable.unwrap();
        let started = Instant::now();
        let name = &self.settings.name;
        while relay::checkpoint(&self.db, name)
            .await
            .unwrap_or_default()
            .0
            < head
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the relay stalled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.send_replace(true);
        running.await.unwrap();
    }

    /// Moves the relay's checkpoint to the `n`th event (0: the start) without publishing.
    async fn set_checkpoint(&self, n: usize) {
        let log = self
            .store
            .read_all(Position::START, u32::MAX)
            .await
            .unwrap();
        let position = match n {
            0 => Position::START,
            n => log[n - 1].position,
        };
        let ReadDb::Sqlite(pool) = &self.db else {
            unreachable!("the test's read models are on SQLite")
        };
        sqlx::query("UPDATE relay_checkpoint SET position = $1, published = $2")
            .bind(position.token())
            .bind(n as i64)
            .execute(pool)
            .await
            .unwrap();
    }

    /// Asserts that the stream holds every event of the log once, in log order, and that
    /// the checkpoint counts them; then deletes the stream.
    async fn assert_published_once(&self, url: &str) {
        let log = self
            .store
            .read_all(Position::START, u32::MAX)
            .await
            .unwrap();
        let (_, published) = relay::checkpoint(&self.db, &self.settings.name)
            .await
            .unwrap();
        assert_eq!(published, log.len() as i64);
        let js = async_nats::jetstream::new(async_nats::connect(url).await.unwrap());
        let mut stream = js.get_stream(&self.nats.stream).await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        assert_eq!(
            state.messages,
            log.len() as u64,
            "not every event exactly once"
        );
        for (n, event) in log.iter().enumerate() {
            let stored = stream
                .get_raw_message(state.first_sequence + n as u64)
                .await
                .unwrap();
            let header = |name: &str| stored.headers.get(name).map(|v| v.as_str().to_owned());
            assert_eq!(header("Supplyline-Position"), Some(event.position.token()));
        }
        js.delete_stream(&self.nats.stream).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_behind_the_stream_resumes_after_it_even_past_the_duplicate_window() {
    let Ok(url) = std::env::var("NATS_URL") else {
        eprintln!("SKIPPED: NATS_URL is not set; this NATS test did not run");
        return;
    };
    let mut fixture = Fixture::new(&url, "ahead").await;
    fixture.append(15).await;
    fixture.relay_until_head().await;
    // As if the relay had died after the broker acknowledged most of the log but before its
    // checkpoint moved, and came back after the broker forgot the ids.
    fixture.set_checkpoint(10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    fixture.append(5).await;
    fixture.relay_until_head().await;
    fixture.assert_published_once(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_lost_the_last_events_gets_them_again() {
    let Ok(url) = std::env::var("NATS_URL") else {
        eprintln!("SKIPPED: NATS_URL is not set; this NATS test did not run");
        return;
    };
    let mut fixture = Fixture::new(&url, "behind").await;
    fixture.append(10).await;
    fixture.relay_until_head().await;
    // As if the stream had been restored from a copy older than the checkpoint.
    fixture.append(5).await;
    let log = fixture.store.read_all(Position::START, u32::MAX).await;
    fixture.set_checkpoint(log.unwrap().len()).await;
    fixture.append(3).await;
    fixture.relay_until_head().await;
    fixture.assert_published_once(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_stream_takes_the_whole_log() {
    let Ok(url) = std::env::var("NATS_URL") else {
        eprintln!("SKIPPED: NATS_URL is not set; this NATS test did not run");
        return;
    };
    let mut fixture = Fixture::new(&url, "recreated").await;
    fixture.append(10).await;
    fixture.relay_until_head().await;
    // An operator deletes the stream; the relay makes it again and fills it from the start.
    let js = async_nats::jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
    js.delete_stream(&fixture.nats.stream).await.unwrap();
    fixture.append(3).await;
    fixture.relay_until_head().await;
    fixture.assert_published_once(&url).await;
}
