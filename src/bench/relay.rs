//! `supplyline bench relay`: the relay to NATS JetStream, in one run.
//!
//! * events/s relayed from a PostgreSQL log of `--events` events into a fresh stream, next to
//!   the raw ceiling measured in the same run: the same messages (subjects, headers with the
//!   relay's order guard, bodies), built beforehand, published by a plain async-nats client
//!   into another fresh stream, as many in flight as the relay's batch, acknowledgements
//!   awaited in order; in [`ROUNDS`] rounds of a ceiling then a relay, their medians; and the
//!   relay's own publisher fed those messages from memory, which tells what reading the log
//!   and preparing its messages cost the relay;
//! * the lag from a command's answer (its events appended) to the broker's acknowledgement of
//!   its event (p50, p99), at `--rate` commands/s with the relay running.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use event_store::{EventStore, Position};
use executors::{ExecutorSettings, Executors};
use futures_util::StreamExt;
use projections::ReadDb;
use relay::{
    Held, IntegrationMessage, JetStream, JetStreamSettings, PublishError, Publisher, Relay,
    RelaySettings,
};
use tokio::sync::watch;
use uuid::Uuid;

use super::projections::{filled_log, receive, register_items};

/// What to run and how much.
#[derive(Debug, Clone)]
pub struct RelayBenchOptions {
    /// Events in the log the relay publishes.
    pub events: u64,
    /// Commands per second while the lag is measured.
    pub rate: u32,
    /// Seconds the lag is measured.
    pub seconds: f64,
    /// The NATS server with JetStream.
    pub nats_url: String,
}

/// Events per batch of the relay, and messages in flight of the ceiling.
const BATCH: u32 = 1_000;

/// Rounds of the throughput figures, each a ceiling and a relay on streams of their own: the
/// figures are their medians, so that one slow moment of a shared machine does not decide them.
const ROUNDS: usize = 3;

/// Runs the benchmark on a scratch database on the PostgreSQL server `admin_url` names, with
/// streams of its own (deleted afterwards) on the NATS server the options name.
pub async fn run(admin_url: &str, options: RelayBenchOptions) -> anyhow::Result<()> {
    let tag = Uuid::now_v7().simple().to_string();
    let outcome = super::on_scratch_database(admin_url, |url| {
        let (options, tag) = (options.clone(), tag.clone());
        async move { on_postgres(&url, &options, &tag).await }
    })
    .await;
    // Whatever a failed run left behind: every stream of this run has the tag in its name.
    if let Ok(client) = async_nats::connect(options.nats_url.as_str()).await {
        let js = async_nats::jetstream::new(client);
        let names: Vec<String> = js
            .stream_names()
            .filter_map(|n| async { n.ok() })
            .collect()
            .await;
        for stream in names.iter().filter(|name| name.contains(&tag)) {
            js.delete_stream(stream).await.ok();
        }
    }
    outcome
}

async fn on_postgres(url: &str, options: &RelayBenchOptions, tag: &str) -> anyhow::Result<()> {
    let (store, events, filled) = filled_log(url, options.events).await?;
    println!(
        "relay to NATS JetStream at {}: a log of {events} events on PostgreSQL (filled in \
         {filled:.0} s)",
        options.nats_url
    );
    let settings = |kind: &str, round: usize| JetStreamSettings {
        stream: format!("BENCH_{}_{tag}_{round}", kind.to_uppercase()),
        subject_prefix: format!("bench{kind}{tag}{round}"),
        ..JetStreamSettings::new(options.nats_url.clone())
    };
    let db = ReadDb::open(&store, 4).await?;
    // Makes the checkpoint's table, which the relay would make as it starts, for `wait_for`.
    relay::checkpoints(&db).await?;

    println!("\nevents relayed from the log into a fresh stream (events/s), {ROUNDS} rounds");
    let (mut ceilings, mut ours, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut last: Option<(Relaying, String)> = None;
    for round in 0..ROUNDS {
        let raw = settings("raw", round);
        let ceiling = raw_ceiling(&store, &raw).await?;
        // Each phase's stream goes as soon as it is measured, so that the server does not
        // carry one phase's messages (writing them out, indexing them) into the next.
        delete_stream(&options.nats_url, &raw.stream).await?;
        if let Some((relaying, stream)) = last.take() {
            relaying.stop().await?;
            delete_stream(&options.nats_url, &stream).await?;
        }
        let nats = settings("relay", round);
        let relaying = Relaying::start(&store, &db, &nats, round).await?;
        let started = Instant::now();
        wait_for(&db, &relaying.name, relaying.head).await?;
        let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-9);
        println!(
            "  round {}: relay {rate:>9.0}/s ({events} events in {:.1} s)   plain async-nats \
             client {ceiling:>9.0}/s   ratio {:.2}",
            round + 1,
            started.elapsed().as_secs_f64(),
            rate / ceiling
        );
        ceilings.push(ceiling);
        ours.push(rate);
        ratios.push(rate / ceiling);
        last = Some((relaying, nats.stream));
    }
    let (ceiling, ours, ratio) = (median(&ceilings), median(&ours), median(&ratios));
    println!(
        "  median: relay {ours:>9.0}/s   plain async-nats client {ceiling:>9.0}/s   ratio \
         {ratio:.2}"
    );
    let alone = settings("alone", 0);
    let publisher_alone = publisher_alone(&store, &alone).await?;
    delete_stream(&options.nats_url, &alone.stream).await?;
    println!(
        "  the relay's publisher alone, the same messages built beforehand \
         {publisher_alone:>9.0}/s   relay (median)/publisher alone {:.2}",
        ours / publisher_alone
    );
    super::record(
        "relay",
        "events relayed into JetStream",
        format!("{ours:.0} events/s"),
        Some(format!("{ceiling:.0} events/s")),
        Some(ratio),
    );
    let Some((relaying, _)) = last else {
        anyhow::bail!("no round ran");
    };
    let Relaying {
        stop,
        task: running,
        acknowledged,
        name,
        head,
    } = relaying;

    // The lag, with the relay caught up and running.
    let executors = Executors::new(store.clone(), ExecutorSettings::default());
    let items = register_items(&executors).await?;
    wait_for(&db, &name, store.head().await?.readable.unwrap_or(head)).await?;
    if let Ok(mut acknowledged) = acknowledged.lock() {
        acknowledged.recording = true;
    }
    let answered = paced(&executors, &items, options.rate, options.seconds).await?;
    wait_for(&db, &name, store.head().await?.readable.unwrap_or(head)).await?;
    stop.send_replace(true);
    running.await?;
    let lags: Vec<f64> = {
        let acknowledged = acknowledged
            .lock()
            .map_err(|_| anyhow::anyhow!("the acknowledgement record was poisoned"))?;
        answered
            .iter()
            .filter_map(|(position, at)| {
                let acked = acknowledged.at.get(&position.token())?;
                Some(acked.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    anyhow::ensure!(
        lags.len() == answered.len(),
        "{} of {} commands' events were never acknowledged",
        answered.len() - lags.len(),
        answered.len()
    );
    println!(
        "\nfrom a command's answer to the broker's acknowledgement of its event, {} commands/s \
         for {} s",
        options.rate, options.seconds
    );
    super::report_latencies(
        "relay",
        format!("answer to broker ack, {} commands/s", options.rate),
        &lags,
    );
    db.close().await;
    Ok(())
}

/// The middle of a sorted copy of `figures` (0 for none).
fn median(figures: &[f64]) -> f64 {
    let mut sorted = figures.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// A relay running from the start of the log into a stream of its own.
struct Relaying {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// When the broker acknowledged each event, once recording is on.
    acknowledged: Arc<Mutex<Acknowledged>>,
    /// Its name, and so its checkpoint's.
    name: String,
    /// The log's head as it started.
    head: Position,
}

impl Relaying {
    /// Starts relay `round` (a checkpoint of its own) into the stream `nats` names.
    async fn start(
        store: &EventStore,
        db: &ReadDb,
        nats: &JetStreamSettings,
        round: usize,
    ) -> anyhow::Result<Self> {
        let publisher = Timed::new(
            JetStream::connect(nats.clone())
                .await
                .with_context(|| format!("cannot connect to NATS at {}", nats.url))?,
        );
        let acknowledged = publisher.acknowledged.clone();
        let settings = RelaySettings {
            name: format!("bench-relay-{round}"),
            subject_prefix: nats.subject_prefix.clone(),
            batch: BATCH,
            ..RelaySettings::default()
        };
        let name = settings.name.clone();
        let relay = Relay::new(store.clone(), db.clone(), publisher, settings);
        let (stop, stopped) = watch::channel(false);
        let head = store.head().await?.readable.unwrap_or(Position::START);
        let task = tokio::spawn(async move { relay.run(stopped).await });
        Ok(Self {
            stop,
            task,
            acknowledged,
            name,
            head,
        })
    }

    /// Stops it, and waits until it has.
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        self.task.await?;
        Ok(())
    }
}

/// Deletes the JetStream stream `name` on the NATS server at `url`.
async fn delete_stream(url: &str, name: &str) -> anyhow::Result<()> {
    let js = async_nats::jetstream::new(async_nats::connect(url).await?);
    js.delete_stream(name)
        .await
        .with_context(|| format!("cannot delete the stream {name}"))?;
    Ok(())
}

/// Every message of the log, under `prefix`.
async fn log_messages(store: &EventStore, prefix: &str) -> anyhow::Result<Vec<IntegrationMessage>> {
    let mut messages = Vec::new();
    let mut after = Position::START;
    loop {
        let events = store.read_all_raw(after, 10_000).await?;
        let Some(last) = events.last() else { break };
        after = last.position;
        for event in &events {
            messages.push(IntegrationMessage::of(event, prefix)?);
        }
    }
    Ok(messages)
}

/// The relay's own publisher with no log to read: the log's messages, built beforehand,
/// published in batches of `BATCH` into a fresh stream; events/s. Beside the relay, what
/// reading the log and preparing its messages cost it.
async fn publisher_alone(store: &EventStore, settings: &JetStreamSettings) -> anyhow::Result<f64> {
    let publisher = JetStream::connect(settings.clone()).await?;
    publisher.ensure_stream().await?;
    let mut messages = log_messages(store, &settings.subject_prefix).await?;
    let count = messages.len();
    let mut batches = Vec::new();
    while !messages.is_empty() {
        let rest = messages.split_off(messages.len().min(BATCH as usize));
        batches.push(std::mem::replace(&mut messages, rest));
    }
    let started = Instant::now();
    for batch in batches {
        publisher.publish(batch).await?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// The ceiling: the log's messages, built beforehand, published by a plain async-nats client
/// into a fresh stream with `BATCH` in flight and acknowledgements awaited in order; events/s.
async fn raw_ceiling(store: &EventStore, settings: &JetStreamSettings) -> anyhow::Result<f64> {
    // The stream, made as the relay makes its own.
    JetStream::connect(settings.clone())
        .await?
        .ensure_stream()
        .await?;
    let messages = log_messages(store, &settings.subject_prefix).await?;
    let client = async_nats::connect(settings.url.as_str()).await?;
    let js = async_nats::jetstream::new(client);
    let started = Instant::now();
    let mut previous: Option<&str> = None;
    for batch in messages.chunks(BATCH as usize) {
        let mut pending = VecDeque::with_capacity(batch.len());
        for message in batch {
            let mut headers = async_nats::HeaderMap::new();
            for (name, value) in &message.headers {
                headers.insert(*name, value.as_str());
            }
            // The relay's order guard, which the server checks for each message.
            if let Some(previous) = previous {
                headers.insert("Nats-Expected-Last-Msg-Id", previous);
            }
            previous = Some(&message.event_id);
            let ack = js
                .publish_with_headers(message.subject.clone(), headers, message.body.clone())
                .await?;
            pending.push_back(ack);
        }
        for ack in pending {
            ack.await?;
        }
    }
    Ok(messages.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// When each event was acknowledged, by position token, once recording is on.
#[derive(Default)]
struct Acknowledged {
    recording: bool,
    at: HashMap<String, Instant>,
}

/// The relay's JetStream publisher, noting when the broker acknowledged each message.
struct Timed {
    inner: JetStream,
    acknowledged: Arc<Mutex<Acknowledged>>,
}

impl Timed {
    fn new(inner: JetStream) -> Self {
        Self {
            inner,
            acknowledged: Arc::default(),
        }
    }
}

impl Publisher for Timed {
    async fn publish(&self, messages: Vec<IntegrationMessage>) -> Result<(), PublishError> {
        let recording = self
            .acknowledged
            .lock()
            .is_ok_and(|acknowledged| acknowledged.recording);
        let positions: Vec<String> = if recording {
            messages
                .iter()
                .filter_map(|message| {
                    let (_, position) = message
                        .headers
                        .iter()
                        .find(|(name, _)| *name == "Supplyline-Position")?;
                    Some(position.clone())
                })
                .collect()
        } else {
            Vec::new()
        };
        self.inner.publish(messages).await?;
        let now = Instant::now();
        if let Ok(mut acknowledged) = self.acknowledged.lock() {
            for position in positions {
                acknowledged.at.insert(position, now);
            }
        }
        Ok(())
    }

    async fn last_stored(&self) -> Result<Held, PublishError> {
        self.inner.last_stored().await
    }
}

/// Commands at `rate` per second for `seconds`: each one's position and when it was answered.
async fn paced(
    executors: &Executors,
    items: &[String],
    rate: u32,
    seconds: f64,
) -> anyhow::Result<Vec<(Position, Instant)>> {
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut ticker = tokio::time::interval(every);
    let mut tasks = Vec::new();
    let mut n = 0usize;
    while Instant::now() < deadline {
        ticker.tick().await;
        let executors = executors.clone();
        let item = items[n % items.len()].clone();
        n += 1;
        tasks.push(tokio::spawn(async move {
            let (_, position) = receive(&executors, &item).await?;
            Ok::<_, anyhow::Error>((position, Instant::now()))
        }));
    }
    let mut answered = Vec::with_capacity(tasks.len());
    for task in tasks {
        answered.push(task.await??);
    }
    Ok(answered)
}

/// Waits until the relay `name` has published up to `position`.
async fn wait_for(db: &ReadDb, name: &str, position: Position) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (at, _) = relay::checkpoint(db, name).await?;
        if at >= position {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the relay never caught up (at {at})"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
