//! `supplyline bench commands`: commands over HTTP against the raw append ceiling, in one run.
//!
//! The command API runs in this process on a fresh PostgreSQL database; `clients` tasks each
//! send one-event commands (`POST /v1/stock-items/{id}/receive`) over HTTP to stock items of
//! their own for a fixed time, and every request's latency is kept. The ceiling is pgbench's
//! single-row INSERT transactions of an event row at the same concurrency, on the same
//! database (beside it, the same inserts through sqlx in this process).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use command_api::{AppState, Authenticator, JwtConfig, JwtKey, mint_token};
use event_schemas::values::Role;
use event_store::{EventStore, PostgresBackend, StoreOptions};
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

use super::served::Served;

/// What to run and for how long.
#[derive(Debug, Clone, Copy)]
pub struct CommandBenchOptions {
    /// Seconds each measurement runs.
    pub seconds: f64,
}

/// The concurrency levels measured.
const CLIENTS: [usize; 2] = [16, 64];

/// Stock items each client sends commands to.
const ITEMS_PER_CLIENT: usize = 4;

/// Runs the benchmark on a fresh database on the server `admin_url` names.
pub async fn run(admin_url: &str, options: CommandBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(admin_url, |url| async move { run_in(&url, options).await }).await
}

async fn run_in(url: &str, options: CommandBenchOptions) -> anyhow::Result<()> {
    let backend = PostgresBackend::connect(
        url,
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(30),
            ..StoreOptions::default()
        },
    )?;
    let store = EventStore::new(Arc::new(backend));
    store.migrate().await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&PgPoolOptions::new().max_connections(1).connect(url).await?)
        .await?;
    println!(
        "commands over HTTP on PostgreSQL, synchronous_commit = {synchronous_commit}, \
         {}s per figure",
        options.seconds
    );
    println!(
        "one-event commands: POST /v1/stock-items/{{id}}/receive, each client on its own items"
    );

    let jwt = JwtConfig::new(JwtKey::Secret(
        uuid::Uuid::now_v7().to_string().repeat(2).into_bytes(),
    ));
    let state = AppState::new(
        store.clone(),
        Authenticator::new(&jwt)?,
        event_store::DEFAULT_SNAPSHOT_EVERY,
    );
    let served = Served::start(state).await?;
    let base = served.base.clone();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let max_clients = CLIENTS.iter().copied().max().unwrap_or(1);
    let admin = mint_token(&jwt, "bench-admin", Role::Admin, 3600)?;
    let mut clients = Vec::with_capacity(max_clients);
    for n in 0..max_clients {
        let farmer = format!("bench-farmer-{n}");
        let token = mint_token(&jwt, &farmer, Role::Farmer, 3600)?;
        let mut items = Vec::with_capacity(ITEMS_PER_CLIENT);
        for _ in 0..ITEMS_PER_CLIENT {
            let answer: Value = client
                .post(format!("{base}/v1/stock-items"))
                .bearer_auth(&admin)
                .json(&json!({
                    "farmer_id": farmer,
                    "product_name": "Bench kale",
                    "category": "vegetables",
                    "unit": "bunch",
                    "unit_price_cents": 300,
                    "quality_grade": "A",
                    "certifications": [],
                    "low_stock_threshold": 0,
                    "initial_quantity": 0,
                }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            items.push(answer["id"].as_str().context("no id")?.to_owned());
        }
        clients.push(Client { token, items });
    }

    let options_pg = event_store::postgres_options(url)?;
    let setup = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options_pg.clone())
        .await?;
    sqlx::query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .execute(&setup)
        .await?;
    setup.close().await;
    // The ceiling: pgbench's own single-row INSERT transactions (prepared, same row, same
    // concurrency, connected as the store connects), run before this process opens its own 65
    // connections (together they would not fit in PostgreSQL's default 100). Beside it, the
    // same inserts through sqlx in this process, which tells what our client costs.
    let (mut ceilings, mut in_process) = (Vec::new(), Vec::new());
    for clients in CLIENTS {
        ceilings.push(
            super::pgbench::single_row_inserts(
                url,
                options_pg.get_ssl_mode(),
                "raw_events",
                clients,
                options.seconds,
            )
            .await?,
        );
    }
    let raw_pool = PgPoolOptions::new()
        .max_connections(u32::try_from(max_clients)? + 1)
        .connect_with(options_pg.clone())
        .await?;
    for clients in CLIENTS {
        in_process.push(raw_inserts(&raw_pool, clients, options.seconds).await?);
    }
    raw_pool.close().await;

    for (i, count) in CLIENTS.into_iter().enumerate() {
        let run = http_commands(&client, &base, &clients[..count], options.seconds).await?;
        println!(
            "  {count:>2} clients: {:>7.0} commands/s   p50 {:>6.2} ms   p99 {:>6.2} ms   \
             errors {}   pgbench single-row ceiling {:>7.0}/s   ratio {:.2}   (sqlx inserts \
             in this process {:>7.0}/s)",
            run.rate,
            run.p50_ms,
            run.p99_ms,
            run.errors + run.conflicts,
            ceilings[i],
            run.rate / ceilings[i],
            in_process[i]
        );
        super::record(
            "commands",
            format!("HTTP commands, {count} clients"),
            format!("{:.0}/s p99 {:.1} ms", run.rate, run.p99_ms),
            Some(format!("{:.0} inserts/s (pgbench)", ceilings[i])),
            Some(run.rate / ceilings[i]),
        );
    }
    served.stop().await?;
    Ok(())
}

/// One benchmark client: its token and its stock items.
pub(super) struct Client {
    /// The bearer token it sends.
    pub(super) token: String,
    /// The stock items it sends `receive` to, in turn.
    pub(super) items: Vec<String>,
}

/// What a measurement saw.
pub(super) struct HttpRun {
    /// Successful commands per second.
    pub(super) rate: f64,
    /// Median latency of the successful ones.
    pub(super) p50_ms: f64,
    /// 99th percentile latency of the successful ones.
    pub(super) p99_ms: f64,
    /// Answers `409 Conflict`.
    pub(super) conflicts: u64,
    /// Other failures (any other status, or no answer).
    pub(super) errors: u64,
}

/// `clients` each send `receive 1` commands to their items at `base` for `seconds`.
pub(super) async fn http_commands(
    client: &reqwest::Client,
    base: &str,
    clients: &[Client],
    seconds: f64,
) -> anyhow::Result<HttpRun> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .map(|c| {
            let client = client.clone();
            let authorization = format!("Bearer {}", c.token);
            let urls: Vec<String> = c
                .items
                .iter()
                .map(|item| format!("{base}/v1/stock-items/{item}/receive"))
                .collect();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut conflicts = 0u64;
                let mut errors = 0u64;
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let url = &urls[n % urls.len()];
                    n += 1;
                    let sent = Instant::now();
                    let response = client
                        .post(url)
                        .header("authorization", &authorization)
                        .header("content-type", "application/json")
                        .body(r#"{"quantity":1}"#)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            latencies.push(sent.elapsed());
                        }
                        Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => conflicts += 1,
                        _ => errors += 1,
                    }
                }
                (latencies, conflicts, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut conflicts, mut errors) = (0, 0);
    for task in tasks {
        let (l, c, e) = task.await?;
        latencies.extend(l);
        conflicts += c;
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = super::milliseconds(&latencies);
    Ok(HttpRun {
        rate: latencies.len() as f64 / elapsed,
        p50_ms: super::percentile(&ms, 0.50),
        p99_ms: super::percentile(&ms, 0.99),
        conflicts,
        errors,
    })
}

/// Plain single-row INSERTs of an event row by `clients` tasks for `seconds`, per second.
pub(super) async fn raw_inserts(
    pool: &sqlx::PgPool,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<f64> {
    let (payload, metadata) = super::pgbench::event_row_json();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let (pool, payload, metadata) = (pool.clone(), payload.clone(), metadata.clone());
            let stream = format!("raw-{clients}-{n}");
            tokio::spawn(async move {
                let mut done: i64 = 0;
                while Instant::now() < deadline {
                    done += 1;
                    sqlx::query(
                        "INSERT INTO raw_events (aggregate_type, aggregate_id, sequence, \
                             event_type, event_version, payload, metadata, epoch) \
                         VALUES ('stock', $1, $2, 'StockReceived', '1.0.0', $3, $4, 0)",
                    )
                    .bind(&stream)
                    .bind(done)
                    .bind(&payload)
                    .bind(&metadata)
                    .execute(&pool)
                    .await?;
                }
                Ok::<i64, sqlx::Error>(done)
            })
        })
        .collect();
    let mut total = 0i64;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
