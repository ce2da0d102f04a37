//! `supplyline bench commands`: commands over HTTP against the raw append ceiling, in one run.
//!
//! The command API runs in this process on a fresh PostgreSQL database; `clients` tasks each
//! send one-event commands (`POST /v1/stock-items/{id}/receive`) over HTTP to stock items of
//! their own for a fixed time, each on a connection of its own, and every request's latency is
//! kept. The ceiling is pgbench's single-row INSERT transactions of an event row at the same
//! concurrency, on the same database (beside it, the same inserts through sqlx in this
//! process). Then the same commands with a working set ten times the executors' cache, and on
//! the embedded SQLite store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Request, StatusCode};
use command_api::{AppState, Authenticator, JwtConfig, JwtKey, mint_token};
use event_schemas::values::Role;
use event_store::{EventStore, GroupCommitStats, PostgresBackend, StoreOptions};
use executors::{ExecutorSettings, Executors};
use http_body_util::Full;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;

use super::load_client::LoadClient;
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
    let options_pg = event_store::postgres_options(url)?;
    let setup = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options_pg.clone())
        .await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&setup)
        .await?;
    println!(
        "commands over HTTP on PostgreSQL, synchronous_commit = {synchronous_commit}, \
         {}s per figure",
        options.seconds
    );
    println!(
        "one-event commands: POST /v1/stock-items/{{id}}/receive, each client on its own items"
    );
    sqlx::query("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        .execute(&setup)
        .await?;
    setup.close().await;
    // The ceiling: pgbench's own single-row INSERT transactions (prepared, same row, same
    // concurrency, connected as the store connects), run before this process opens its own
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
    let max_clients = CLIENTS.iter().copied().max().unwrap_or(1);
    let raw_pool = PgPoolOptions::new()
        .max_connections(u32::try_from(max_clients)? + 1)
        .connect_with(options_pg.clone())
        .await?;
    for clients in CLIENTS {
        in_process.push(raw_inserts(&raw_pool, clients, options.seconds).await?);
    }
    raw_pool.close().await;

    let jwt = JwtConfig::new(JwtKey::Secret(
        uuid::Uuid::now_v7().to_string().repeat(2).into_bytes(),
    ));
    let api = Api::start(
        store.clone(),
        &jwt,
        ExecutorSettings::default(),
        max_clients,
    )
    .await?;
    let clients = api.clients(max_clients, ITEMS_PER_CLIENT).await?;
    for (i, count) in CLIENTS.into_iter().enumerate() {
        let grouped = store.group_commit_stats();
        let run = http_commands(&api.load, &clients[..count], options.seconds).await?;
        println!(
            "  {count:>2} clients: {:>7.0} commands/s   p50 {:>6.2} ms   p99 {:>6.2} ms   \
             errors {}   pgbench single-row ceiling {:>7.0}/s   ratio {:.2}   (sqlx inserts \
             in this process {:>7.0}/s; {})",
            run.rate,
            run.p50_ms,
            run.p99_ms,
            run.errors + run.conflicts,
            ceilings[i],
            run.rate / ceilings[i],
            in_process[i],
            group_sizes(grouped, store.group_commit_stats()),
        );
        super::record(
            "commands",
            format!("HTTP commands, {count} clients"),
            format!("{:.0}/s p99 {:.1} ms", run.rate, run.p99_ms),
            Some(format!("{:.0} inserts/s (pgbench)", ceilings[i])),
            Some(run.rate / ceilings[i]),
        );
    }
    api.stop().await?;

    cache_misses(&store, &jwt, options.seconds).await?;
    sqlite_commands(&jwt, options.seconds).await
}

/// The executors' cache in the cache-miss figure: small, so that the working set can be ten
/// times larger without a long setup.
const MISS_CACHE: usize = 1_000;

/// Clients of the cache-miss figure.
const MISS_CLIENTS: usize = 64;

/// Commands/s with a working set that fits the executors' cache against one ten times larger
/// (about nine commands in ten then load their aggregate from the log), at the same
/// concurrency, through executors keeping at most [`MISS_CACHE`] aggregates.
async fn cache_misses(store: &EventStore, jwt: &JwtConfig, seconds: f64) -> anyhow::Result<()> {
    let settings = ExecutorSettings {
        cache_capacity: MISS_CACHE,
        ..ExecutorSettings::default()
    };
    let api = Api::start(store.clone(), jwt, settings, MISS_CLIENTS).await?;
    let warm = api.clients(MISS_CLIENTS, ITEMS_PER_CLIENT).await?;
    let cold = api
        .clients(MISS_CLIENTS, MISS_CACHE * 10 / MISS_CLIENTS)
        .await?;
    println!("\ncache misses: {MISS_CLIENTS} clients, executors keeping {MISS_CACHE} aggregates");
    // The warm clients' items are in the cache from their registration.
    let warm_run = http_commands(&api.load, &warm, seconds).await?;
    println!(
        "  working set {:>5} items (fits): {:>7.0} commands/s   p99 {:>6.2} ms",
        MISS_CLIENTS * ITEMS_PER_CLIENT,
        warm_run.rate,
        warm_run.p99_ms,
    );
    let cold_run = http_commands(&api.load, &cold, seconds).await?;
    api.stop().await?;
    let items: usize = cold.iter().map(|c| c.items.len()).sum();
    println!(
        "  working set {items:>5} items (10x):  {:>7.0} commands/s   p99 {:>6.2} ms   ratio {:.2}",
        cold_run.rate,
        cold_run.p99_ms,
        cold_run.rate / warm_run.rate
    );
    super::record(
        "commands",
        format!("HTTP commands, working set 10x the cache, {MISS_CLIENTS} clients"),
        format!("{:.0}/s p99 {:.1} ms", cold_run.rate, cold_run.p99_ms),
        Some(format!(
            "{:.0}/s with the working set cached",
            warm_run.rate
        )),
        Some(cold_run.rate / warm_run.rate),
    );
    Ok(())
}

/// Clients of the SQLite figure.
const SQLITE_CLIENTS: usize = 16;

/// The same commands on the embedded SQLite store (a file in a temporary folder).
async fn sqlite_commands(jwt: &JwtConfig, seconds: f64) -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let url = format!("sqlite://{}", folder.path().join("log.db").display());
    let store = EventStore::connect(&url).await?;
    store.migrate().await?;
    let api = Api::start(
        store.clone(),
        jwt,
        ExecutorSettings::default(),
        SQLITE_CLIENTS,
    )
    .await?;
    let clients = api.clients(SQLITE_CLIENTS, ITEMS_PER_CLIENT).await?;
    let grouped = store.group_commit_stats();
    let run = http_commands(&api.load, &clients, seconds).await?;
    api.stop().await?;
    println!(
        "\nSQLite (synchronous = FULL): {SQLITE_CLIENTS} clients: {:>7.0} commands/s   \
         p50 {:>6.2} ms   p99 {:>6.2} ms   errors {}   ({})",
        run.rate,
        run.p50_ms,
        run.p99_ms,
        run.errors + run.conflicts,
        group_sizes(grouped, store.group_commit_stats()),
    );
    super::record(
        "commands",
        format!("HTTP commands on SQLite, {SQLITE_CLIENTS} clients"),
        format!("{:.0}/s p99 {:.1} ms", run.rate, run.p99_ms),
        None,
        None,
    );
    Ok(())
}

/// How large the groups committed between two readings were.
fn group_sizes(before: Option<GroupCommitStats>, after: Option<GroupCommitStats>) -> String {
    match (before, after) {
        (Some(before), Some(after)) if after.groups > before.groups => format!(
            "{:.1} appends per commit",
            (after.appends - before.appends) as f64 / (after.groups - before.groups) as f64
        ),
        _ => "one commit per append".to_owned(),
    }
}

/// The command API served in this process, with a load client of its own.
struct Api {
    served: Served,
    load: LoadClient,
    jwt: JwtConfig,
}

impl Api {
    /// Serves the API over `store` with executors so set, and opens `clients` connections.
    async fn start(
        store: EventStore,
        jwt: &JwtConfig,
        settings: ExecutorSettings,
        clients: usize,
    ) -> anyhow::Result<Self> {
        let state = AppState::with_executors(
            Executors::new(
                store,
                ExecutorSettings {
                    snapshot_every: event_store::DEFAULT_SNAPSHOT_EVERY,
                    ..settings
                },
            ),
            Authenticator::new(jwt)?,
        );
        let served = Served::start(state).await?;
        let load = LoadClient::connect(served.addr, clients).await?;
        Ok(Self {
            served,
            load,
            jwt: jwt.clone(),
        })
    }

    /// `count` clients, each a farmer of its own with `items` stock items of its own,
    /// registered over HTTP (by the clients together).
    async fn clients(&self, count: usize, items: usize) -> anyhow::Result<Vec<Client>> {
        let admin = HeaderValue::try_from(format!(
            "Bearer {}",
            mint_token(&self.jwt, "bench-admin", Role::Admin, 3600)?
        ))?;
        let registering = (0..count).map(|n| {
            let admin = admin.clone();
            async move {
                let farmer = format!("bench-farmer-{}", uuid::Uuid::now_v7().simple());
                let token = mint_token(&self.jwt, &farmer, Role::Farmer, 3600)?;
                let body = Bytes::from(
                    super::stock_item_registration("Bench kale", Some(&farmer), 0).to_string(),
                );
                let mut ids = Vec::with_capacity(items);
                for _ in 0..items {
                    let request = Request::post("/v1/stock-items")
                        .header(AUTHORIZATION, admin.clone())
                        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                        .body(Full::new(body.clone()))?;
                    let answer: Value =
                        serde_json::from_slice(&self.load.expect_success(n, request).await?)?;
                    ids.push(answer["id"].as_str().context("no id")?.to_owned());
                }
                anyhow::Ok(Client { token, items: ids })
            }
        });
        futures_util::future::try_join_all(registering).await
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.served.stop().await
    }
}

/// One benchmark client: its token and its stock items.
pub(super) struct Client {
    /// The bearer token it sends.
    pub(super) token: String,
    /// The stock items it sends `receive` to, picked at random.
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

/// Client `n` of `clients` sends `receive 1` commands to its items, each picked at random, on
/// connection `n` of `load`, for `seconds`.
pub(super) async fn http_commands(
    load: &LoadClient,
    clients: &[Client],
    seconds: f64,
) -> anyhow::Result<HttpRun> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let body = Bytes::from_static(br#"{"quantity":1}"#);
    let runs = clients.iter().enumerate().map(|(n, c)| {
        let body = body.clone();
        async move {
            let authorization = HeaderValue::try_from(format!("Bearer {}", c.token))?;
            let paths: Vec<String> = c
                .items
                .iter()
                .map(|item| format!("/v1/stock-items/{item}/receive"))
                .collect();
            let mut latencies = Vec::new();
            let (mut conflicts, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let path = &paths[rand::random_range(0..paths.len())];
                let request = Request::post(path.as_str())
                    .header(AUTHORIZATION, authorization.clone())
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(Full::new(body.clone()))?;
                let sent = Instant::now();
                match load.send(n, request).await {
                    Ok((status, _)) if status.is_success() => latencies.push(sent.elapsed()),
                    Ok((StatusCode::CONFLICT, _)) => conflicts += 1,
                    _ => errors += 1,
                }
            }
            anyhow::Ok((latencies, conflicts, errors))
        }
    });
    let mut latencies = Vec::new();
    let (mut conflicts, mut errors) = (0, 0);
    for (l, c, e) in futures_util::future::try_join_all(runs).await? {
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
