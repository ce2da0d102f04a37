//! `supplyline bench projections`: the read side, in one run.
//!
//! * events/s of a rebuild of every read model from a log of `--events` events on PostgreSQL,
//!   next to the raw ceiling measured in the same run: the rows the rebuild produced, written
//!   again into plain tables with the same multi-row upserts and rows per transaction;
//! * the latency from a command's answer to its effect in the read model (p50, p99) at
//!   `--rate` commands/s, with every projector running;
//! * command latency (p50, p99) on SQLite while a rebuild runs, next to the same without one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::Issued;
use domain::stock::{RegisterStockItem, StockCommand};
use event_schemas::values::{
    Actor, ActorId, Category, Cents, PositiveQuantity, ProductName, QualityGrade, Quantity, Role,
    StockItemId, Unit,
};
use event_store::{CommandContext, EventStore, Position, StoreOptions};
use executors::{ExecutorSettings, Executors};
use projections::rebuild::RebuildSettings;
use projections::simulate::Simulator;
use projections::{
    Projection, ReadDb, Runtime, RuntimeSettings, Unwatched, ceiling, models, rebuild, status,
};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::percentile;

/// What to run and how much.
#[derive(Debug, Clone, Copy)]
pub struct ProjectionBenchOptions {
    /// Events in the PostgreSQL log the rebuild reads.
    pub events: u64,
    /// Commands per second for the visibility and SQLite latency measurements.
    pub rate: u32,
    /// Seconds each latency measurement runs.
    pub seconds: f64,
    /// Events in the SQLite log rebuilt while commands are measured.
    pub sqlite_events: u64,
}

/// Events per rebuild transaction, and rows per transaction of the ceiling.
const BATCH: u32 = 2000;

/// Stock items the measured commands spread over.
const ITEMS: usize = 50;

/// Runs the benchmark on fresh databases: a scratch database on the PostgreSQL server
/// `admin_url` names, and a temporary SQLite file.
pub async fn run(admin_url: &str, options: ProjectionBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(
        admin_url,
        |url| async move { on_postgres(&url, options).await },
    )
    .await?;
    on_sqlite(options).await
}

async fn on_postgres(url: &str, options: ProjectionBenchOptions) -> anyhow::Result<()> {
    let (store, events, filled) = filled_log(url, options.events).await?;
    println!("read models on PostgreSQL: a log of {events} events (filled in {filled:.0} s)");
    let db = ReadDb::open(&store, 8).await?;
    let mut all = models::all();
    let mut refs: Vec<&mut dyn Projection> = all.iter_mut().map(|p| p.as_mut()).collect();
    let report = rebuild(
        &store,
        &db,
        &mut refs,
        &Unwatched,
        RebuildSettings {
            batch: BATCH,
            ..Default::default()
        },
    )
    .await?;
    let refs: Vec<&dyn Projection> = all.iter().map(|p| p.as_ref()).collect();
    let (rows, raw) = ceiling::raw_upserts(&db, &refs, BATCH as usize).await?;
    let ours = report.events_per_second();
    let ceiling = report.events as f64 / raw.as_secs_f64().max(1e-9);
    println!("\nrebuild of every read model from position zero (events/s)");
    println!(
        "  rebuild {ours:>9.0}/s ({} events in {:.1} s)   raw upserts of its {rows} rows \
         {ceiling:>9.0} events/s ({:.1} s)   ratio {:.2}",
        report.events,
        report.elapsed.as_secs_f64(),
        raw.as_secs_f64(),
        ours / ceiling
    );
    super::record(
        "projections",
        "rebuild of every read model",
        format!("{ours:.0} events/s"),
        Some(format!("{ceiling:.0} events/s")),
        Some(ours / ceiling),
    );
    let spent = report.spent;
    println!(
        "  the rebuild's time: reading the log {:.1} s, decoding and folding {:.1} s, waiting \
         for its writer {:.1} s, indexes and swap {:.1} s; the writer wrote {} rows in {:.1} s",
        spent.reading.as_secs_f64(),
        spent.folding.as_secs_f64(),
        spent.writing.as_secs_f64(),
        spent.finishing.as_secs_f64(),
        spent.rows_written,
        spent.writer_busy.as_secs_f64()
    );

    let runtime = Runtime::start(
        store.clone(),
        db.clone(),
        models::all(),
        RuntimeSettings::default(),
    )
    .await?;
    let executors = Executors::new(store.clone(), ExecutorSettings::default());
    let items = register_items(&executors).await?;
    let visibility = visibility(&store, &db, &executors, &items, options).await?;
    runtime.stop().await;
    println!(
        "\nfrom a command's answer to its effect in the read model, {} commands/s for {} s, \
         every projector running",
        options.rate, options.seconds
    );
    super::report_latencies(
        "projections",
        format!("answer to read model, {} commands/s", options.rate),
        &visibility,
    );
    db.close().await;
    Ok(())
}

async fn on_sqlite(options: ProjectionBenchOptions) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = EventStore::connect(&url).await?;
    store.migrate().await?;
    let started = Instant::now();
    fill(&store, options.sqlite_events, 1).await?;
    let events = store.count_after(Position::START, u64::MAX).await?;
    println!(
        "\ncommands on SQLite while every read model is rebuilt: a log of {events} events \
         (filled in {:.0} s), {} commands/s",
        started.elapsed().as_secs_f64(),
        options.rate
    );
    let db = ReadDb::open(&store, 8).await?;
    let runtime = Runtime::start(
        store.clone(),
        db.clone(),
        models::all(),
        RuntimeSettings::default(),
    )
    .await?;
    let executors = Executors::new(store.clone(), ExecutorSettings::default());
    let items = register_items(&executors).await?;
    wait_for(&db, store.head().await?.readable.unwrap_or(Position::START)).await?;
    let quiet =
        paced_commands::<()>(&executors, &items, options.rate, options.seconds, None).await?;
    let rebuilding = {
        let store = store.clone();
        let db = db.clone();
        tokio::spawn(async move { super::rebuild_every_model(&store, &db).await })
    };
    let busy = paced_commands(
        &executors,
        &items,
        options.rate,
        options.seconds,
        Some(&rebuilding),
    )
    .await?;
    let report = rebuilding.await??;
    runtime.stop().await;
    db.close().await;
    println!(
        "  without a rebuild: {} commands, p50 {:.2} ms   p99 {:.2} ms",
        quiet.len(),
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99)
    );
    println!(
        "  during a rebuild:  {} commands, p50 {:.2} ms   p99 {:.2} ms   (p99 ratio {:.2}; \
         the rebuild read {} events at {:.0}/s)",
        busy.len(),
        percentile(&busy, 0.5),
        percentile(&busy, 0.99),
        percentile(&busy, 0.99) / percentile(&quiet, 0.99).max(1e-9),
        report.events,
        report.events_per_second()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// A fresh temporary directory.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("supplyline-bench-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The PostgreSQL store at `url`, migrated and filled with about `events` simulated events
/// by four writers; how many it holds, and the seconds filling took.
pub(super) async fn filled_log(url: &str, events: u64) -> anyhow::Result<(EventStore, u64, f64)> {
    // No statement timeout: the bench's own reads of a long log are not requests.
    let store = EventStore::connect_with(
        url,
        StoreOptions {
            statement_timeout: Duration::ZERO,
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    let started = Instant::now();
    fill(&store, events, 4).await?;
    let held = store.count_after(Position::START, u64::MAX).await?;
    Ok((store, held, started.elapsed().as_secs_f64()))
}

/// Appends simulated activity with `writers` simulators until the log holds `events`; returns
/// how many it holds.
pub(super) async fn fill(store: &EventStore, events: u64, writers: u64) -> anyhow::Result<u64> {
    let per_writer = events.div_ceil(writers.max(1));
    let mut tasks = Vec::new();
    for seed in 0..writers.max(1) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut simulator = Simulator::new(store, seed)?;
            let mut written = 0;
            while written < per_writer {
                written += simulator.step().await?;
            }
            Ok::<u64, projections::simulate::SimulationError>(written)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total)
}

/// Registers the stock items the measured commands go to.
pub(super) async fn register_items(executors: &Executors) -> anyhow::Result<Vec<String>> {
    let farmer = Actor::new(ActorId::parse("bench-farmer")?, Role::Farmer);
    let mut items = Vec::new();
    for _ in 0..ITEMS {
        let id = Uuid::now_v7();
        let command = StockCommand::RegisterStockItem(RegisterStockItem {
            stock_item_id: StockItemId::from_uuid(id),
            farmer_id: None,
            product_name: ProductName::parse("Bench kale")?,
            category: Category::Vegetables,
            unit: Unit::Bunch,
            unit_price_cents: Cents::new(300)?,
            quality_grade: QualityGrade::A,
            harvest_date: None,
            certifications: Vec::new(),
            low_stock_threshold: Quantity::new(0)?,
            initial_quantity: Quantity::new(1000)?,
        });
        executors
            .stock
            .execute(
                &id.to_string(),
                Issued::new(farmer.clone(), Utc::now(), command),
                &context(&farmer, "RegisterStockItem"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("cannot register a stock item: {e}"))?;
        items.push(id.to_string());
    }
    Ok(items)
}

fn context(by: &Actor, command: &str) -> CommandContext {
    CommandContext::new(by.clone(), command)
}

/// One `receive 1` command on `item`; returns its latency and position.
pub(super) async fn receive(
    executors: &Executors,
    item: &str,
) -> anyhow::Result<(Duration, Position)> {
    let farmer = Actor::new(ActorId::parse("bench-farmer")?, Role::Farmer);
    let command = StockCommand::ReceiveStock {
        quantity: PositiveQuantity::new(1)?,
        purchase_id: None,
    };
    let started = Instant::now();
    let executed = executors
        .stock
        .execute(
            item,
            Issued::new(farmer.clone(), Utc::now(), command),
            &context(&farmer, "ReceiveStock"),
        )
        .await
        .map_err(|e| anyhow::anyhow!("a command failed: {e}"))?;
    let position = executed
        .position
        .ok_or_else(|| anyhow::anyhow!("a command appended nothing"))?;
    Ok((started.elapsed(), position))
}

/// Commands at `rate` per second for `seconds` (or until `until` ends); their latencies in ms.
async fn paced_commands<T>(
    executors: &Executors,
    items: &[String],
    rate: u32,
    seconds: f64,
    until: Option<&tokio::task::JoinHandle<T>>,
) -> anyhow::Result<Vec<f64>> {
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = Vec::new();
    let mut n = 0usize;
    while Instant::now() < deadline && !until.is_some_and(|u| u.is_finished()) {
        ticker.tick().await;
        let executors = executors.clone();
        let item = items[n % items.len()].clone();
        n += 1;
        tasks.push(tokio::spawn(
            async move { receive(&executors, &item).await },
        ));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (latency, _) = task.await??;
        latencies.push(latency.as_secs_f64() * 1000.0);
    }
    Ok(latencies)
}

/// Commands at the options' rate; for each, the time from its answer until the stock items'
/// read model includes its position, in ms.
async fn visibility(
    store: &EventStore,
    db: &ReadDb,
    executors: &Executors,
    items: &[String],
    options: ProjectionBenchOptions,
) -> anyhow::Result<Vec<f64>> {
    wait_for(db, store.head().await?.readable.unwrap_or(Position::START)).await?;
    // Answered commands not yet seen in the read model: position -> when answered.
    let pending: Arc<Mutex<HashMap<Position, Instant>>> = Arc::default();
    let seen: Arc<Mutex<Vec<f64>>> = Arc::default();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (db, pending, seen, watching) =
            (db.clone(), pending.clone(), seen.clone(), watching.clone());
        tokio::spawn(async move {
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(row) = status::one(&db, "stock_items").await
                    && let Ok(at) = row.checkpoint()
                {
                    let now = Instant::now();
                    let mut pending = pending.lock().await;
                    let mut seen = seen.lock().await;
                    pending.retain(|position, answered| {
                        if *position <= at {
                            seen.push(now.duration_since(*answered).as_secs_f64() * 1000.0);
                            false
                        } else {
                            true
                        }
                    });
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let every = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));
    let deadline = Instant::now() + Duration::from_secs_f64(options.seconds);
    let mut ticker = tokio::time::interval(every);
    let mut tasks = Vec::new();
    let mut n = 0usize;
    while Instant::now() < deadline {
        ticker.tick().await;
        let (executors, pending) = (executors.clone(), pending.clone());
        let item = items[n % items.len()].clone();
        n += 1;
        tasks.push(tokio::spawn(async move {
            let (_, position) = receive(&executors, &item).await?;
            pending.lock().await.insert(position, Instant::now());
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let drained = Instant::now() + Duration::from_secs(30);
    while !pending.lock().await.is_empty() {
        anyhow::ensure!(Instant::now() < drained, "the read model never caught up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.await?;
    let seen = seen.lock().await.clone();
    Ok(seen)
}

/// Waits until the stock items' read model includes `position`.
async fn wait_for(db: &ReadDb, position: Position) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let at = status::one(db, "stock_items").await?.checkpoint()?;
        if at >= position {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the read model never caught up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
