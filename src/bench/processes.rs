//! `supplyline bench processes`: the order process at run time, on PostgreSQL.
//!
//! The command API, every projector and every process manager run in this process on a fresh
//! database, as `serve` runs them. Restaurants place one-line orders over HTTP at a fixed rate
//! (open loop: an order leaves on time whether or not earlier ones were answered); a watcher
//! looks at the orders read model's checkpoint every 2 ms, and each order's latency runs from
//! its `201` to the look that finds its `OrderConfirmed` applied. An order costs three appends (placed,
//! reserved, confirmed), so the ceiling is a third of the single-row INSERT transactions/s
//! PostgreSQL takes at the same database in the same run.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use command_api::{AppState, Authenticator, JwtConfig, JwtKey, mint_token};
use event_schemas::values::Role;
use event_store::{EventStore, StoreOptions};
use executors::{ExecutorSettings, Executors};
use projections::{ReadDb, Runtime, RuntimeSettings, models, processes, status};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::served::Served;

/// What to run and for how long.
#[derive(Debug, Clone, Copy)]
pub struct ProcessBenchOptions {
    /// Seconds each rate runs.
    pub seconds: f64,
    /// The first rate, in orders/s.
    pub rate: u32,
    /// The last rate tried, in orders/s.
    pub max_rate: u32,
}

/// Stock items the orders spread over (each with plenty on hand).
const ITEMS: usize = 50;

/// Restaurants placing the orders.
const RESTAURANTS: usize = 64;

/// A rate keeps up when every order is confirmed within this long of its answer.
const KEEPS_UP_P99: Duration = Duration::from_secs(1);

/// How often the watcher looks at the read model.
const WATCH_EVERY: Duration = Duration::from_millis(2);

/// How long the watcher waits for the last orders once sending is over.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs the benchmark on a fresh database on the PostgreSQL server `admin_url` names.
pub async fn run(admin_url: &str, options: ProcessBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(admin_url, |url| async move { run_in(&url, options).await }).await
}

/// One rate's figures.
struct RateRun {
    /// Orders answered `201` per second.
    placed_per_second: f64,
    /// From `201` to `CONFIRMED` in the read model.
    p50_ms: f64,
    p99_ms: f64,
    /// Orders not confirmed within the drain time, or refused.
    missing: usize,
}

impl RateRun {
    fn keeps_up(&self, rate: u32) -> bool {
        self.missing == 0
            && self.p99_ms <= KEEPS_UP_P99.as_secs_f64() * 1000.0
            && self.placed_per_second >= f64::from(rate) * 0.9
    }
}

async fn run_in(url: &str, options: ProcessBenchOptions) -> anyhow::Result<()> {
    let store = EventStore::connect_with(
        url,
        StoreOptions {
            max_connections: 32,
            acquire_timeout: Duration::from_secs(30),
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    let db = ReadDb::open(&store, 12).await?;
    let executors = Executors::new(store.clone(), ExecutorSettings::default());
    let mut workers = models::all();
    workers.extend(processes::all(&executors));
    let runtime = Runtime::start(
        store.clone(),
        db.clone(),
        workers,
        RuntimeSettings::default(),
    )
    .await?;

    let jwt = JwtConfig::new(JwtKey::Secret(
        uuid::Uuid::now_v7().to_string().repeat(2).into_bytes(),
    ));
    let served = Served::start(AppState::with_executors(
        executors,
        Authenticator::new(&jwt)?,
    ))
    .await?;
    let base = served.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let farmer = "bench-farmer";
    let farmer_token = mint_token(&jwt, farmer, Role::Farmer, 3600)?;
    let mut items = Vec::with_capacity(ITEMS);
    for _ in 0..ITEMS {
        let answer: Value = client
            .post(format!("{base}/v1/stock-items"))
            .bearer_auth(&farmer_token)
            .json(&json!({
                "product_name": "Bench kale", "category": "vegetables", "unit": "bunch",
                "unit_price_cents": 300, "quality_grade": "A", "certifications": [],
                "low_stock_threshold": 0, "initial_quantity": 1_000_000_000u64,
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        items.push(answer["id"].as_str().context("no id")?.to_owned());
    }
    let restaurants: Vec<String> = (0..RESTAURANTS)
        .map(|n| {
            mint_token(
                &jwt,
                &format!("bench-restaurant-{n}"),
                Role::Restaurant,
                3600,
            )
        })
        .collect::<Result<_, _>>()?;
    let load = Load {
        client,
        base,
        farmer: farmer.to_owned(),
        items,
        restaurants,
        store: store.clone(),
        db: db.clone(),
    };

    println!(
        "order process on PostgreSQL: one-line orders over HTTP at a fixed rate, {}s per rate; \
         latency from the 201 to CONFIRMED in the read model (its checkpoint looked at every {} ms)",
        options.seconds,
        WATCH_EVERY.as_millis()
    );
    let ceiling_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect_with(event_store::postgres_options(url)?)
        .await?;
    sqlx::query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .execute(&ceiling_pool)
        .await?;
    let raw = super::commands::raw_inserts(&ceiling_pool, 16, options.seconds.min(5.0)).await?;
    let ceiling = raw / 3.0;
    println!(
        "ceiling: {raw:.0} single-row INSERT transactions/s at 16 connections, so \
         {ceiling:.0} orders/s at three appends an order"
    );
    let mut rate = options.rate.max(1);
    let mut best: Option<(u32, RateRun)> = None;
    let mut failed: Option<u32> = None;
    // Doubling until a rate falls behind, then two halvings of the gap.
    let mut halvings = 2;
    loop {
        let run = load.at(rate, options.seconds).await?;
        let keeps_up = run.keeps_up(rate);
        println!(
            "{rate:>6} orders/s  placed {:>7.1}/s  201 -> CONFIRMED p50 {:>7.1} ms  p99 {:>8.1} \
             ms  {}  ratio {:.2}",
            run.placed_per_second,
            run.p50_ms,
            run.p99_ms,
            if keeps_up {
                "keeps up".to_owned()
            } else {
                format!("falls behind ({} unconfirmed)", run.missing)
            },
            run.placed_per_second / ceiling
        );
        if keeps_up {
            best = Some((rate, run));
        } else {
            failed = Some(rate);
            // The next rate starts with nothing left over.
            caught_up(&store, &db).await?;
        }
        let good = best.as_ref().map_or(0, |(r, _)| *r);
        rate = match failed {
            None if rate < options.max_rate => (rate * 2).min(options.max_rate),
            None => break,
            Some(bad) if halvings > 0 && bad - good > good / 8 => {
                halvings -= 1;
                good + (bad - good) / 2
            }
            Some(_) => break,
        };
        if failed.is_some_and(|bad| rate >= bad) {
            break;
        }
    }
    match best {
        Some((rate, run)) => {
            println!(
                "highest rate that keeps up: {rate} orders/s (placed {:.1}/s, p50 {:.1} ms, \
                 p99 {:.1} ms), {:.2} of the ceiling",
                run.placed_per_second,
                run.p50_ms,
                run.p99_ms,
                run.placed_per_second / ceiling
            );
            super::record(
                "processes",
                "orders confirmed, highest rate kept up",
                format!("{rate}/s p99 {:.0} ms", run.p99_ms),
                Some(format!("{ceiling:.0} orders/s")),
                Some(run.placed_per_second / ceiling),
            );
        }
        None => println!("no rate kept up"),
    }
    served.stop().await?;
    runtime.stop().await;
    db.close().await;
    Ok(())
}

/// What places orders and watches them.
struct Load {
    client: reqwest::Client,
    base: String,
    farmer: String,
    items: Vec<String>,
    restaurants: Vec<String>,
    store: EventStore,
    db: ReadDb,
}

impl Load {
    /// Places orders at `rate` per second for `seconds` while a watcher times their
    /// confirmation, then waits (a while) for the last ones.
    async fn at(&self, rate: u32, seconds: f64) -> anyhow::Result<RateRun> {
        let pending: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let sending = Arc::new(AtomicBool::new(true));
        let watcher = tokio::spawn(watch(
            self.store.clone(),
            self.db.clone(),
            pending.clone(),
            sending.clone(),
        ));
        let total = (f64::from(rate) * seconds).round() as usize;
        let every = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut sends = Vec::with_capacity(total);
        for n in 0..total {
            tokio::time::sleep_until((started + every.mul_f64(n as f64)).into()).await;
            let request = self
                .client
                .post(format!("{}/v1/orders", self.base))
                .bearer_auth(&self.restaurants[n % self.restaurants.len()])
                .json(&json!({
                    "farmer_id": self.farmer,
                    "lines": [{"stock_item_id": self.items[n % self.items.len()], "quantity": 1}],
                    "delivery_address": {"line1": "1 Market Street", "city": "Lyon",
                        "postal_code": "69001", "country": "FR"},
                }));
            let pending = pending.clone();
            sends.push(tokio::spawn(async move {
                let response = request.send().await.ok()?;
                if response.status() != reqwest::StatusCode::CREATED {
                    return None;
                }
                let at = Instant::now();
                let body: Value = response.json().await.ok()?;
                let id = body["id"].as_str()?.to_owned();
                pending.lock().await.insert(id, at);
                Some(())
            }));
        }
        let mut refused = 0usize;
        for send in sends {
            if send.await?.is_none() {
                refused += 1;
            }
        }
        let placed_per_second = (total - refused) as f64 / started.elapsed().as_secs_f64();
        sending.store(false, Ordering::Relaxed);
        let (latencies, unconfirmed) = watcher.await??;
        let ms = super::milliseconds(&latencies);
        Ok(RateRun {
            placed_per_second,
            p50_ms: super::percentile(&ms, 0.50),
            p99_ms: super::percentile(&ms, 0.99),
            missing: unconfirmed + refused,
        })
    }
}

/// Follows the orders read model's checkpoint until sending is over and every answered order
/// is confirmed (or the drain time passed): whenever it moves, the `OrderConfirmed` events it
/// passed are in the read model, committed with it. Returns each order's latency from its
/// answer to the look that saw the checkpoint pass its confirmation, and how many were never
/// seen. (One status row a look, not a query over every pending order, so the watcher costs
/// the database next to nothing.)
async fn watch(
    store: EventStore,
    db: ReadDb,
    pending: Arc<Mutex<HashMap<String, Instant>>>,
    sending: Arc<AtomicBool>,
) -> anyhow::Result<(Vec<Duration>, usize)> {
    let mut latencies = Vec::new();
    let mut drain_until: Option<Instant> = None;
    let mut seen = status::checkpoint(&db, "orders").await?.0.position;
    // Confirmations seen before their order's answer came back.
    let mut early: HashMap<String, Instant> = HashMap::new();
    loop {
        if !sending.load(Ordering::Relaxed) {
            let until = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
            let left = pending.lock().await.len();
            if left == 0 || Instant::now() > until {
                return Ok((latencies, left));
            }
        }
        let looked = Instant::now();
        let at = status::checkpoint(&db, "orders").await?.0.position;
        while seen < at {
            let events = store.read_bodies(seen, 1000).await?;
            let Some(last) = events.last() else {
                break;
            };
            seen = last.position.min(at);
            for event in events.iter().filter(|e| e.position <= at) {
                if event.event_type == "OrderConfirmed" {
                    early.insert(event.stream.aggregate_id.clone(), looked);
                }
            }
        }
        {
            let mut pending = pending.lock().await;
            early.retain(|id, confirmed| match pending.remove(id) {
                Some(answered) => {
                    latencies.push(confirmed.saturating_duration_since(answered));
                    false
                }
                None => true,
            });
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// Waits (up to a minute) until every worker has applied the readable log.
async fn caught_up(store: &EventStore, db: &ReadDb) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(head) = store.head().await?.readable else {
            return Ok(());
        };
        let rows = status::all(db).await?;
        if rows.iter().all(|r| r.checkpoint().is_ok_and(|c| c >= head)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
