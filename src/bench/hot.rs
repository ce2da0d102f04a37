//! `supplyline bench hot`: one busy aggregate, in one run on a fresh PostgreSQL database.
//!
//! * commands/s on ONE stock item over HTTP at 16 and 64 clients, with how many were refused
//!   409, next to the raw ceiling of a stream written one event at a time (a single writer's
//!   plain INSERTs: each decision on an aggregate needs the state the previous one left, so one
//!   writer is the ceiling of one aggregate);
//! * the same from two API processes (two servers, each with its own connections, turns and
//!   kept states) sharing the item, with the share of commands that succeeded;
//! * the cost of a command on a stock item with `--history` orders behind it (each reserved
//!   and delivered) next to a fresh item's, kept in memory and loaded from its snapshot.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use command_api::{AppState, Authenticator, JwtConfig, JwtKey, mint_token};
use domain::Issued;
use domain::stock::{StockCommand, StockItem};
use event_schemas::values::{
    Actor, ActorId, Cents, OrderId, PositiveQuantity, ProductName, Quantity, Role,
};
use event_schemas::{
    ChainHash, EventMetadata, ReservationCommitted, StockEvent, StockLevels, StockReserved,
};
use event_store::{
    AppendRequest, CommandContext, EventStore, Executor, NewEvent, Snapshot, StoreOptions, StreamId,
};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::commands::{Client, HttpRun, http_commands, raw_inserts};
use super::load_client::LoadClient;
use super::served::Served;

/// What to run and for how long.
#[derive(Debug, Clone, Copy)]
pub struct HotBenchOptions {
    /// Seconds each measurement runs.
    pub seconds: f64,
    /// Orders in the history of the long-lived stock item.
    pub history: u64,
}

/// The concurrency levels measured on one item.
const CLIENTS: [usize; 2] = [16, 64];

/// Clients per process in the two-process measurement.
const CLIENTS_PER_PROCESS: usize = 32;

/// Runs the benchmark on a fresh database on the server `admin_url` names.
pub async fn run(admin_url: &str, options: HotBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(admin_url, |url| async move { run_in(&url, options).await }).await
}

async fn run_in(url: &str, options: HotBenchOptions) -> anyhow::Result<()> {
    let store = open(url).await?;
    store.migrate().await?;
    let raw_pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(event_store::postgres_options(url)?)
        .await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&raw_pool)
        .await?;
    println!(
        "one hot aggregate on PostgreSQL, synchronous_commit = {synchronous_commit}, {}s per \
         figure",
        options.seconds
    );
    sqlx::query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .execute(&raw_pool)
        .await?;
    let raw = raw_inserts(&raw_pool, 1, options.seconds).await?;
    raw_pool.close().await;

    let jwt = JwtConfig::new(JwtKey::Secret(
        Uuid::now_v7().to_string().repeat(2).into_bytes(),
    ));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let here = Api::start(store.clone(), &jwt).await?;
    let here_load =
        LoadClient::connect(here.addr, CLIENTS.iter().copied().max().unwrap_or(1)).await?;
    let farmer = "bench-farmer";
    let token = mint_token(&jwt, farmer, Role::Farmer, 3600)?;

    println!(
        "\nPOST /v1/stock-items/{{id}}/receive, every client on the same item, one process \
         (raw = one writer's single-row INSERTs)"
    );
    for count in CLIENTS {
        let item = here.stock_item(&client, &token).await?;
        let clients = same_item(&token, &item, count);
        let run = http_commands(&here_load, &clients, options.seconds).await?;
        print_run(&format!("{count:>2} clients"), &run, raw);
    }

    println!("\nthe same item from two API processes, {CLIENTS_PER_PROCESS} clients each");
    let there = Api::start(open(url).await?, &jwt).await?;
    let there_load = LoadClient::connect(there.addr, CLIENTS_PER_PROCESS).await?;
    let item = here.stock_item(&client, &token).await?;
    let clients = same_item(&token, &item, CLIENTS_PER_PROCESS);
    let (a, b) = tokio::join!(
        http_commands(&here_load, &clients, options.seconds),
        http_commands(&there_load, &clients, options.seconds),
    );
    let (a, b) = (a?, b?);
    let succeeded = (a.rate + b.rate) * options.seconds;
    let failed = (a.conflicts + a.errors + b.conflicts + b.errors) as f64;
    println!(
        "  {:>2} clients: {:>7.0} commands/s   409s {}   other errors {}   succeeded {:.2} %   \
         p99 {:.2} / {:.2} ms",
        2 * CLIENTS_PER_PROCESS,
        a.rate + b.rate,
        a.conflicts + b.conflicts,
        a.errors + b.errors,
        100.0 * succeeded / (succeeded + failed).max(1.0),
        a.p99_ms,
        b.p99_ms
    );
    here.stop().await?;
    there.stop().await?;

    println!(
        "\none `receive` at a time through the executor: an item with {} orders in its history \
         against a fresh one",
        options.history
    );
    let fresh = register(&store, farmer).await?;
    let busy = register(&store, farmer).await?;
    let building = Instant::now();
    let events = build_history(&store, &busy, farmer, options.history).await?;
    println!(
        "  (history of {events} events written and snapshotted in {:.1} s)",
        building.elapsed().as_secs_f64()
    );
    for (label, cache) in [("kept in memory", 10_000), ("loaded from snapshot", 0)] {
        let executor = Executor::<StockItem>::new(store.clone(), ()).with_cache(cache);
        let fresh_rate = receives(&executor, &fresh, farmer, options.seconds).await?;
        let busy_rate = receives(&executor, &busy, farmer, options.seconds).await?;
        println!(
            "  {label:<21} fresh {fresh_rate:>7.0} commands/s   with history {busy_rate:>7.0} \
             commands/s   ratio {:.2}",
            busy_rate / fresh_rate
        );
    }
    Ok(())
}

/// Opens the store as one API process would.
async fn open(url: &str) -> anyhow::Result<EventStore> {
    Ok(EventStore::connect_with(
        url,
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
            ..StoreOptions::default()
        },
    )
    .await?)
}

/// `count` clients, all sending to `item`.
fn same_item(token: &str, item: &str, count: usize) -> Vec<Client> {
    (0..count)
        .map(|_| Client {
            token: token.to_owned(),
            items: vec![item.to_owned()],
        })
        .collect()
}

fn print_run(label: &str, run: &HttpRun, raw: f64) {
    println!(
        "  {label}: {:>7.0} commands/s   p50 {:>6.2} ms   p99 {:>6.2} ms   409s {}   \
         other errors {}   raw one-writer ceiling {raw:>7.0}/s   ratio {:.2}",
        run.rate,
        run.p50_ms,
        run.p99_ms,
        run.conflicts,
        run.errors,
        run.rate / raw
    );
    super::record(
        "hot",
        format!("one hot item, {}", label.trim()),
        format!("{:.0}/s p99 {:.1} ms", run.rate, run.p99_ms),
        Some(format!("{raw:.0} inserts/s")),
        Some(run.rate / raw),
    );
}

/// The command API of the hot item's measurements.
struct Api {
    served: Served,
}

impl std::ops::Deref for Api {
    type Target = Served;

    fn deref(&self) -> &Served {
        &self.served
    }
}

impl Api {
    async fn start(store: EventStore, jwt: &JwtConfig) -> anyhow::Result<Self> {
        let state = AppState::new(
            store,
            Authenticator::new(jwt)?,
            event_store::DEFAULT_SNAPSHOT_EVERY,
        );
        Ok(Self {
            served: Served::start(state).await?,
        })
    }

    /// Registers a stock item of the token's farmer; returns its id.
    async fn stock_item(&self, client: &reqwest::Client, token: &str) -> anyhow::Result<String> {
        let answer: Value = client
            .post(format!("{}/v1/stock-items", self.base))
            .bearer_auth(token)
            .json(&super::stock_item_registration("Hot kale", None, 1))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer["id"].as_str().context("no id")?.to_owned())
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.served.stop().await
    }
}

/// The farmer's actor.
fn actor(farmer: &str) -> anyhow::Result<Actor> {
    Ok(Actor::new(ActorId::parse(farmer)?, Role::Farmer))
}

fn context(by: &Actor, command: &str) -> CommandContext {
    CommandContext::new(by.clone(), command)
}

/// Registers a stock item of `farmer` with plenty on hand; returns its id.
async fn register(store: &EventStore, farmer: &str) -> anyhow::Result<String> {
    let id = Uuid::now_v7();
    let by = actor(farmer)?;
    let command = StockCommand::RegisterStockItem(domain::stock::RegisterStockItem {
        stock_item_id: event_schemas::values::StockItemId::from_uuid(id),
        farmer_id: None,
        product_name: ProductName::parse("Long-lived kale")?,
        category: event_schemas::values::Category::Vegetables,
        unit: event_schemas::values::Unit::Bunch,
        unit_price_cents: Cents::new(300)?,
        quality_grade: event_schemas::values::QualityGrade::A,
        harvest_date: None,
        certifications: Vec::new(),
        low_stock_threshold: Quantity::new(0)?,
        initial_quantity: Quantity::new(10_000_000)?,
    });
    Executor::<StockItem>::new(store.clone(), ())
        .execute(
            &id.to_string(),
            Issued::new(by.clone(), Utc::now(), command),
            &context(&by, "RegisterStockItem"),
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot register a stock item: {e}"))?;
    Ok(id.to_string())
}

/// Appends `orders` reservations, each committed (delivered), to stock item `id`, in large
/// appends (the hash chain kept), then snapshots it as the executor would; returns how many
/// events were written.
async fn build_history(
    store: &EventStore,
    id: &str,
    farmer: &str,
    orders: u64,
) -> anyhow::Result<u64> {
    const PER_APPEND: u64 = 500;
    let stream = StreamId::new("stock", id);
    let executor = Executor::<StockItem>::new(store.clone(), ()).with_cache(0);
    let start = executor.load(id).await?;
    let (mut version, mut last_hash) = (start.version, start.last_hash);
    let mut on_hand = start.state.levels().on_hand.get();
    let by = actor(farmer)?;
    let one = PositiveQuantity::new(1)?;
    let name = ProductName::parse("Long-lived kale")?;
    let price = Cents::new(300)?;
    let mut written = 0;
    while written < orders {
        let mut events = Vec::new();
        for _ in 0..PER_APPEND.min(orders - written) {
            let order_id = OrderId::from_uuid(Uuid::now_v7());
            let now = Utc::now();
            let reserved = StockEvent::StockReserved(StockReserved {
                order_id,
                quantity: one,
                product_name: name.clone(),
                unit_price_cents: price,
                levels: StockLevels {
                    on_hand: Quantity::new(on_hand)?,
                    reserved: Quantity::new(1)?,
                },
                reserved_at: now,
            });
            on_hand -= 1;
            let committed = StockEvent::ReservationCommitted(ReservationCommitted {
                order_id,
                quantity: one,
                levels: StockLevels {
                    on_hand: Quantity::new(on_hand)?,
                    reserved: Quantity::ZERO,
                },
                committed_at: now,
            });
            for event in [reserved, committed] {
                events.push(new_event(&by, &event)?);
            }
            written += 1;
        }
        let appended = store
            .append(AppendRequest {
                stream: stream.clone(),
                expected_version: version,
                prev_hash: last_hash,
                events,
                idempotency: None,
            })
            .await?;
        (version, last_hash) = (appended.version, appended.last_hash);
    }
    let loaded = executor.load(id).await?;
    store
        .save_snapshot(&Snapshot {
            stream,
            version: loaded.version,
            state: serde_json::to_value(&loaded.state)?,
            last_hash: loaded.last_hash,
            position: loaded.position.context("no position")?,
        })
        .await?;
    Ok(written * 2)
}

fn new_event(by: &Actor, event: &StockEvent) -> anyhow::Result<NewEvent> {
    use cqrs_es::DomainEvent;
    let id = Uuid::now_v7();
    Ok(NewEvent {
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(event)?,
        metadata: EventMetadata {
            event_id: id,
            correlation_id: id,
            causation_id: id,
            actor: by.clone(),
            command: "Bench".into(),
            idempotency_key: None,
            request_id: id.to_string(),
            recorded_at: Utc::now(),
            prev_hash: ChainHash::GENESIS,
            hash: ChainHash::GENESIS,
        },
    })
}

/// `receive 1` commands on `id`, one at a time, for `seconds`; per second.
async fn receives(
    executor: &Executor<StockItem>,
    id: &str,
    farmer: &str,
    seconds: f64,
) -> anyhow::Result<f64> {
    let by = actor(farmer)?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    while Instant::now() < deadline {
        let command = StockCommand::ReceiveStock {
            quantity: PositiveQuantity::new(1)?,
            purchase_id: None,
        };
        executor
            .execute(
                id,
                Issued::new(by.clone(), Utc::now(), command),
                &context(&by, "ReceiveStock"),
            )
            .await
            .map_err(|e| anyhow::anyhow!("a receive failed: {e}"))?;
        done += 1;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}
