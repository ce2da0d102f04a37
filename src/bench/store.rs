//! `supplyline bench store`: the event store against raw PostgreSQL, in one run.
//!
//! * appends/s of one-event commands at 1, 16 and 64 concurrent writers, next to plain
//!   single-row INSERTs of the same row shape at the same concurrency;
//! * events/s reading the global log from position zero in batches, next to one plain ordered
//!   scan of the same rows;
//! * the process's resident memory while reading a log of `--memory-events` events, to show it
//!   does not grow with the log's length.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use event_schemas::values::{Actor, ActorId, PositiveQuantity, Quantity, Role};
use event_schemas::{ChainHash, EventMetadata, StockEvent, StockLevels, StockReceived};
use event_store::{
    AppendRequest, EventStore, NewEvent, Position, PostgresBackend, StoreOptions, StreamId,
};
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// What to run and for how long.
#[derive(Debug, Clone, Copy)]
pub struct StoreBenchOptions {
    /// Seconds each append measurement runs.
    pub seconds: f64,
    /// Events in the log for the read measurement (topped up if the appends made fewer).
    pub read_events: u64,
    /// Events in the log for the memory check.
    pub memory_events: u64,
}

/// The concurrency levels measured.
const WRITERS: [usize; 3] = [1, 16, 64];

/// Streams each writer rotates over.
const STREAMS_PER_WRITER: usize = 8;

/// Events per read batch.
const READ_BATCH: u32 = 1000;

/// Events per query of the streaming reader.
const STREAM_CHUNK: u32 = 10_000;

/// Runs the benchmark on a fresh database on the server `admin_url` names.
pub async fn run(admin_url: &str, options: StoreBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(admin_url, |url| async move { run_in(&url, options).await }).await
}

async fn run_in(url: &str, options: StoreBenchOptions) -> anyhow::Result<()> {
    let backend = PostgresBackend::connect(
        url,
        StoreOptions {
            max_connections: 64,
            acquire_timeout: Duration::from_secs(30),
            ..StoreOptions::default()
        },
    )?;
    let pool = backend.pool().clone();
    let store = EventStore::new(Arc::new(backend));
    store.migrate().await?;
    sqlx::query(RAW_TABLE).execute(&pool).await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&pool)
        .await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pool)
        .await?;
    println!(
        "event store on PostgreSQL {version}, synchronous_commit = {synchronous_commit}, \
         {}s per append measurement",
        options.seconds
    );
    let sample = Sample::new()?;
    // The single-row ceiling: pgbench's own prepared INSERT transactions of the same row, at
    // the same concurrency, connected as the store connects; before this process's pool grows
    // to its 64 connections (together they would not fit in PostgreSQL's default 100).
    let ssl_mode = event_store::postgres_options(url)?.get_ssl_mode();
    let mut ceilings = Vec::with_capacity(WRITERS.len());
    for writers in WRITERS {
        ceilings.push(
            super::pgbench::single_row_inserts(
                url,
                ssl_mode,
                "raw_events",
                writers,
                options.seconds,
            )
            .await?,
        );
    }

    println!(
        "\nappends of one-event commands (events/s; raw = plain single-row INSERTs through sqlx \
         in this process; pgbench = the same INSERT transactions by pgbench)"
    );
    for (writers, ceiling) in WRITERS.into_iter().zip(ceilings) {
        let raw = measure(writers, options.seconds, |w| {
            raw_writer(pool.clone(), w, sample.clone())
        })
        .await?;
        let ours = measure(writers, options.seconds, |w| {
            store_writer(store.clone(), w, sample.clone())
        })
        .await?;
        println!(
            "  {writers:>2} writers: store {ours:>9.0}/s   raw {raw:>9.0}/s   ratio {:.2}   \
             pgbench {ceiling:>9.0}/s   ratio {:.2}",
            ours / raw,
            ours / ceiling
        );
        super::record(
            "store",
            format!("appends, {writers} writers"),
            format!("{ours:.0} events/s"),
            Some(format!("{ceiling:.0} inserts/s (pgbench)")),
            Some(ours / ceiling),
        );
    }

    top_up(&pool, options.read_events, &sample).await?;
    let (ours_count, ours_rate) = read_with_store(&store, |_| {}).await?;
    let (streamed_count, streamed_rate) = stream_with_store(&store).await?;
    let (raw_count, raw_rate) = raw_scan(&pool).await?;
    println!("\nreading the global log from position zero (events/s)");
    println!(
        "  streamed (rebuilds) {streamed_rate:>9.0}/s ({streamed_count} events, queries of \
         {STREAM_CHUNK})   raw ordered scan {raw_rate:>9.0}/s ({raw_count} rows)   ratio {:.2}",
        streamed_rate / raw_rate
    );
    println!(
        "  batches (tailing)   {ours_rate:>9.0}/s ({ours_count} events, batches of \
         {READ_BATCH})   ratio {:.2}",
        ours_rate / raw_rate
    );
    let raw = Some(format!("{raw_rate:.0} rows/s"));
    for (what, rate) in [
        ("log read, streamed", streamed_rate),
        ("log read, batches", ours_rate),
    ] {
        let value = format!("{rate:.0} events/s");
        super::record("store", what, value, raw.clone(), Some(rate / raw_rate));
    }

    top_up(&pool, options.memory_events, &sample).await?;
    let mut samples = Vec::new();
    let (count, _) = read_with_store(&store, |read| {
        samples.push((read, resident_kib()));
    })
    .await?;
    let at = |fraction: f64| {
        let target = (count as f64 * fraction) as u64;
        samples
            .iter()
            .find(|(read, _)| *read >= target)
            .map_or(0, |(_, rss)| *rss)
    };
    let peak = samples.iter().map(|(_, rss)| *rss).max().unwrap_or(0);
    println!("\nmemory while reading the whole log ({count} events, resident KiB)");
    println!(
        "  after 10%: {}   50%: {}   100%: {}   peak: {peak}",
        at(0.1),
        at(0.5),
        at(1.0)
    );
    Ok(())
}

/// The raw ceiling's table: the same columns, defaults, keys and indexes as `events`.
const RAW_TABLE: &str = "CREATE TABLE raw_events (LIKE events INCLUDING ALL)";

/// A realistic one-event command: a `StockReceived` with full metadata.
#[derive(Clone)]
struct Sample {
    payload: Value,
    metadata: EventMetadata,
    metadata_json: Value,
}

impl Sample {
    fn new() -> anyhow::Result<Self> {
        let event = StockEvent::StockReceived(StockReceived {
            quantity: PositiveQuantity::new(40)?,
            purchase_id: None,
            levels: StockLevels {
                on_hand: Quantity::new(140)?,
                reserved: Quantity::new(20)?,
            },
            received_at: Utc::now(),
        });
        let id = Uuid::now_v7();
        let metadata = EventMetadata {
            event_id: id,
            correlation_id: id,
            causation_id: id,
            actor: Actor::new(ActorId::parse("farmer-bench")?, Role::Farmer),
            command: "ReceiveStock".into(),
            idempotency_key: None,
            request_id: id.to_string(),
            recorded_at: Utc::now(),
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash::from_bytes([7; 32]),
        };
        Ok(Self {
            payload: serde_json::to_value(&event)?,
            metadata_json: serde_json::to_value(&metadata)?,
            metadata,
        })
    }
}

/// Runs `writers` tasks for `seconds`; each returns how many operations it completed.
async fn measure<F, Fut>(writers: usize, seconds: f64, writer: F) -> anyhow::Result<f64>
where
    F: Fn(Writer) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let run = Uuid::now_v7().simple().to_string();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|n| {
            tokio::spawn(writer(Writer {
                name: format!("{run}-{n}"),
                deadline,
            }))
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.context("a benchmark writer panicked")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// One benchmark writer's identity and deadline.
struct Writer {
    name: String,
    deadline: Instant,
}

async fn store_writer(store: EventStore, writer: Writer, sample: Sample) -> anyhow::Result<u64> {
    let mut heads = vec![(0u64, ChainHash::GENESIS); STREAMS_PER_WRITER];
    let mut done = 0;
    while Instant::now() < writer.deadline {
        let slot = (done as usize) % STREAMS_PER_WRITER;
        let (version, prev_hash) = heads[slot];
        let mut metadata = sample.metadata.clone();
        metadata.event_id = Uuid::now_v7();
        metadata.recorded_at = Utc::now();
        let appended = store
            .append(AppendRequest {
                stream: StreamId::new("stock", format!("{}-{slot}", writer.name)),
                expected_version: version,
                prev_hash,
                events: vec![NewEvent {
                    event_type: "StockReceived".into(),
                    event_version: "1.0.0".into(),
                    payload: sample.payload.clone(),
                    metadata,
                }],
                idempotency: None,
            })
            .await?;
        heads[slot] = (appended.version, appended.last_hash);
        done += 1;
    }
    Ok(done)
}

async fn raw_writer(pool: PgPool, writer: Writer, sample: Sample) -> anyhow::Result<u64> {
    let mut done: u64 = 0;
    while Instant::now() < writer.deadline {
        let mut metadata = sample.metadata_json.clone();
        metadata["event_id"] = Value::String(Uuid::now_v7().to_string());
        sqlx::query(
            "INSERT INTO raw_events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata, epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind("stock")
        .bind(&writer.name)
        .bind(i64::try_from(done + 1)?)
        .bind("StockReceived")
        .bind("1.0.0")
        .bind(&sample.payload)
        .bind(&metadata)
        .execute(&pool)
        .await?;
        done += 1;
    }
    Ok(done)
}

/// Adds synthetic events of the same shape until the log holds `target` events.
async fn top_up(pool: &PgPool, target: u64, sample: &Sample) -> anyhow::Result<()> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let mut missing = i64::try_from(target)?.saturating_sub(count);
    while missing > 0 {
        let chunk = missing.min(100_000);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata, epoch) \
             SELECT 'stock', 'filler-' || $3 || '-' || g, 1, 'StockReceived', '1.0.0', $1, $2, 0 \
             FROM generate_series(1, $4) AS g",
        )
        .bind(&sample.payload)
        .bind(&sample.metadata_json)
        .bind(Uuid::now_v7().to_string())
        .bind(chunk)
        .execute(pool)
        .await?;
        missing -= chunk;
    }
    Ok(())
}

/// Reads the whole log through the store in batches; `on_batch` gets the count read so far.
async fn read_with_store(
    store: &EventStore,
    mut on_batch: impl FnMut(u64),
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut after = Position::START;
    let mut read = 0u64;
    loop {
        let batch = store.read_all(after, READ_BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = last.position;
        read += batch.len() as u64;
        on_batch(read);
    }
    Ok((read, read as f64 / started.elapsed().as_secs_f64()))
}

/// Reads the whole log through the store's streaming reader, as a rebuild does: one query per
/// `STREAM_CHUNK` events, each event handed over (and dropped) as soon as it is decoded.
async fn stream_with_store(store: &EventStore) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut after = Position::START;
    let mut read = 0u64;
    loop {
        let mut events = std::pin::pin!(store.stream_all(after, STREAM_CHUNK));
        let mut in_chunk = 0u32;
        while let Some(event) = events.try_next().await? {
            after = event.position;
            in_chunk += 1;
        }
        read += u64::from(in_chunk);
        if in_chunk < STREAM_CHUNK {
            break;
        }
    }
    Ok((read, read as f64 / started.elapsed().as_secs_f64()))
}

/// One plain ordered scan of the same rows, decoded into the same types.
async fn raw_scan(pool: &PgPool) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut rows = sqlx::query(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
             metadata, epoch, tx::text::bigint AS tx_id, position, recorded_at \
         FROM events ORDER BY epoch, tx, position",
    )
    .fetch(pool);
    let mut read = 0u64;
    while let Some(row) = rows.try_next().await? {
        let _: (String, String, i64, String, String) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        );
        let _: (Value, Value) = (row.try_get(5)?, row.try_get(6)?);
        let _: (i32, i64, i64, chrono::DateTime<Utc>) = (
            row.try_get(7)?,
            row.try_get(8)?,
            row.try_get(9)?,
            row.try_get(10)?,
        );
        read += 1;
    }
    Ok((read, read as f64 / started.elapsed().as_secs_f64()))
}

/// The process's resident memory in KiB (Linux), 0 where unknown.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
