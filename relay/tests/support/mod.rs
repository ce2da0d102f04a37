//! What the relay's tests share: a simulated log on SQLite with a stream of its own, relays
//! started and stopped on it, and the check that the stream holds the log once, in order.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // each test uses a part

use std::time::{Duration, Instant};

use event_store::{EventStore, Position};
use projections::ReadDb;
use projections::simulate::Simulator;
use relay::{JetStream, JetStreamSettings, Relay, RelaySettings};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The local NATS server, or `None` (said loudly) when `NATS_URL` is unset.
pub fn nats_url() -> Option<String> {
    let url = std::env::var("NATS_URL").ok();
    if url.is_none() {
        eprintln!("SKIPPED: NATS_URL is not set; this NATS test did not run");
    }
    url
}

/// A simulated log on SQLite, and the settings of a stream and relay of its own.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub store: EventStore,
    pub db: ReadDb,
    simulator: Simulator,
    /// Where and how the relay publishes (the test may change them before starting one).
    pub nats: JetStreamSettings,
    /// How the relay runs.
    pub settings: RelaySettings,
}

/// A relay running on a fixture, until [`Running::stop`].
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

impl Fixture {
    /// A fresh log (simulator seeded `seed`), relayed to `url` into a stream named by `kind`.
    pub async fn new(url: &str, kind: &str, seed: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("log.db");
        let store = EventStore::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let db = ReadDb::open(&store, 4).await.unwrap();
        let simulator = Simulator::new(store.clone(), seed).unwrap();
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let mut nats = JetStreamSettings::new(url);
        nats.stream = format!("RELAY_{}_{tag}", kind.to_uppercase());
        nats.subject_prefix = format!("relay{kind}{tag}");
        nats.ack_wait = Duration::from_secs(1);
        let settings = RelaySettings {
            subject_prefix: nats.subject_prefix.clone(),
            batch: 20,
            poll_interval: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
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

    /// Appends `steps` of simulated activity; how many events.
    pub async fn append(&mut self, steps: usize) -> u64 {
        let mut appended = 0;
        for _ in 0..steps {
            appended += self.simulator.step().await.unwrap();
        }
        appended
    }

    /// The log's head.
    pub async fn head(&self) -> Position {
        self.store.head().await.unwrap().readable.unwrap()
    }

    /// Starts `count` relays (the first to take the lease relays, the others stand by).
    pub async fn start(&self, count: usize) -> Running {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..count {
            let relay = Relay::new(
                self.store.clone(),
                self.db.clone(),
                JetStream::connect(self.nats.clone()).await.unwrap(),
                self.settings.clone(),
            );
            let stopped = stopped.clone();
            tasks.push(tokio::spawn(async move { relay.run(stopped).await }));
        }
        Running { stop, tasks }
    }

    /// The relay's checkpoint (the start before its table is made).
    pub async fn checkpoint(&self) -> Position {
        relay::checkpoint(&self.db, &self.settings.name)
            .await
            .unwrap_or_default()
            .0
    }

    /// Waits until the relay's checkpoint reaches the log's head.
    pub async fn caught_up(&self) {
        let head = self.head().await;
        let started = Instant::now();
        loop {
            let at = self.checkpoint().await;
            if at >= head {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the relay stalled at {at}, short of {head}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a relay until its checkpoint reaches the log's head, then stops it.
    pub async fn relay_until_head(&self) {
        let running = self.start(1).await;
        self.caught_up().await;
        running.stop().await;
    }

    /// Moves the relay's checkpoint to the `n`th event (0: the start) without publishing.
    pub async fn set_checkpoint(&self, n: usize) {
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

    /// Asserts that the stream (on the server at `url`) holds every event of the log once,
    /// in log order, under its subject, and that the checkpoint counts them; then deletes
    /// the stream.
    pub async fn assert_published_once(&self, url: &str) {
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
            assert_eq!(
                header("Supplyline-Position"),
                Some(event.position.token()),
                "message {}",
                n + 1
            );
            let subject = format!(
                "{}.{}.{}",
                self.nats.subject_prefix, event.stream.aggregate_type, event.event_type
            );
            assert_eq!(stored.subject.as_str(), subject);
        }
        js.delete_stream(&self.nats.stream).await.unwrap();
    }
}
