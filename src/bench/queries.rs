//! `supplyline bench queries`: the GraphQL query API on PostgreSQL, in one run.
//!
//! A fresh database gets `--orders` orders the way the product gets them: simulated activity
//! appended to the log through the store (each order's whole life, its stock items, deliveries,
//! inspections and purchases), then every read model rebuilt from the log. The query API is
//! served over HTTP in this process, as `supplyline query-api` serves it, and `--clients`
//! clients (each its own keep-alive connection, as wrk's are; an admin's token) send for
//! `--seconds` each:
//!
//! * `orders(first: 50)` with each order's lines and delivery, and the total count;
//! * `stockItem(id)` of a random existing item.
//!
//! Each figure sits next to its ceiling, measured in the same run: the same rows read by the
//! same statements the resolvers run, through the same read-model pool, by as many tasks, with
//! no GraphQL and no HTTP.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, Request};
use command_api::{Authenticator, JwtConfig, JwtKey, mint_token};
use event_schemas::values::Role;
use event_store::{EventStore, Position, StoreOptions};
use http_body_util::Full;
use projections::ReadDb;
use projections::models::orders::OrderFilter;
use projections::models::{deliveries, orders, stock};
use projections::query::Page;
use projections::simulate::Simulator;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::load_client::LoadClient;
use super::served::Served;
use super::{milliseconds, percentile};

/// What to run and for how long.
#[derive(Debug, Clone, Copy)]
pub struct QueryBenchOptions {
    /// Orders in the read models (each a whole simulated life in the log).
    pub orders: u64,
    /// Seconds each measurement runs.
    pub seconds: f64,
    /// Concurrent clients (and ceiling tasks).
    pub clients: usize,
}

/// Orders per page, as the issue asks.
const PAGE: u32 = 50;

/// Simulators filling the log at once (each owns its stock items, so they never conflict).
const WRITERS: u64 = 16;

/// A GraphQL answer slower than this misses the target.
const P99_TARGET_MS: f64 = 20.0;

/// GraphQL's throughput must be at least this share of the ceiling's.
const RATIO_TARGET: f64 = 0.5;

/// The orders query: the first page, with what a dashboard shows of each order.
const ORDERS_QUERY: &str = "{ orders(first: 50) { totalCount edges { node { id status \
     lines { stockItemId quantity unitPriceCents } delivery { id status } } } } }";

/// The stock item query, its id a variable.
const STOCK_ITEM_QUERY: &str =
    "query($id: ID!) { stockItem(id: $id) { id productName onHand available } }";

/// Runs the benchmark on a fresh database on the PostgreSQL server `admin_url` names.
pub async fn run(admin_url: &str, options: QueryBenchOptions) -> anyhow::Result<()> {
    super::on_scratch_database(admin_url, |url| async move { run_in(&url, options).await }).await
}

async fn run_in(url: &str, options: QueryBenchOptions) -> anyhow::Result<()> {
    ensure!(options.clients > 0, "--clients must be at least 1");
    // Only the filling writes, and a scratch database need not survive a crash: commits that
    // do not wait for the disk fill it faster. The measured queries only read.
    let setup = sqlx::PgPool::connect(url).await?;
    sqlx::query(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', \
         current_database()); END $$",
    )
    .execute(&setup)
    .await?;
    setup.close().await;
    let store = EventStore::connect_with(
        url,
        StoreOptions {
            max_connections: 32,
            // No statement timeout: the rebuild's reads of the whole log are not requests.
            statement_timeout: Duration::ZERO,
            ..StoreOptions::default()
        },
    )
    .await?;
    store.migrate().await?;
    let filling = Instant::now();
    fill(&store, options.orders).await?;
    let events = store.count_after(Position::START, u64::MAX).await?;
    let filled = filling.elapsed();
    // The pool the query API has when it is served.
    let db = crate::query::query_db(&store, None).await?;
    let rebuilding = Instant::now();
    super::rebuild_every_model(&store, &db).await?;
    let rebuilt = rebuilding.elapsed();
    // Autovacuum would otherwise visit the freshly written tables, and the checkpointer write
    // them out, in the middle of the measurements: both are done before.
    if let ReadDb::Postgres(pool) = &db {
        sqlx::query("VACUUM (ANALYZE)").execute(pool).await?;
        sqlx::query("CHECKPOINT").execute(pool).await?;
    }
    let data = Data::read(&db).await?;
    ensure!(
        data.orders >= i64::try_from(options.orders)?,
        "the read models hold {} orders, not {}",
        data.orders,
        options.orders
    );
    println!(
        "GraphQL queries on PostgreSQL: {} orders ({} with lines, {} with a delivery), {} stock \
         items; {} clients, {} s per figure",
        data.orders,
        data.with_lines,
        data.with_delivery,
        data.stock_items.len(),
        options.clients,
        options.seconds
    );
    println!(
        "  seeding: {events} events appended in {:.1} s, every read model rebuilt from them in \
         {:.1} s",
        filled.as_secs_f64(),
        rebuilt.as_secs_f64()
    );

    let jwt = JwtConfig::new(JwtKey::Secret(
        uuid::Uuid::now_v7().to_string().repeat(2).into_bytes(),
    ));
    let auth = Arc::new(Authenticator::new(&jwt)?);
    let routes = crate::query::router(
        store.clone(),
        db.clone(),
        auth,
        // The load generator is one process hammering on purpose.
        command_api::RateLimit::unlimited(),
        command_api::DEFAULT_REQUEST_TIMEOUT,
        query_api::Sockets::default(),
    );
    let served = Served::router(routes).await?;
    let http = Http {
        client: Arc::new(LoadClient::connect(served.addr, options.clients).await?),
        authorization: HeaderValue::try_from(format!(
            "Bearer {}",
            mint_token(&jwt, "bench-admin", Role::Admin, 3600)?
        ))?,
    };
    let orders_body = Bytes::from(json!({ "query": ORDERS_QUERY }).to_string());
    let stock_bodies: Arc<Vec<Bytes>> = Arc::new(
        data.stock_items
            .iter()
            .map(|id| {
                let body = json!({ "query": STOCK_ITEM_QUERY, "variables": { "id": id } });
                Bytes::from(body.to_string())
            })
            .collect(),
    );
    check_answers(&http, &orders_body, &stock_bodies, &data, &db).await?;

    let seconds = options.seconds;
    let clients = options.clients;
    let page = Page::new(Some(PAGE), None)?;
    let orders_sql = {
        let (db, page) = (db.clone(), page.clone());
        move |_: usize, _: usize| {
            let (db, page) = (db.clone(), page.clone());
            async move { orders_page(&db, &page).await }
        }
    };
    let orders_graphql = {
        let (http, body) = (http.clone(), orders_body.clone());
        move |client: usize, _: usize| {
            let (http, body) = (http.clone(), body.clone());
            async move { http.post(client, body).await }
        }
    };
    println!("\norders(first: {PAGE}) with lines, delivery and totalCount");
    let ceiling = measure(clients, seconds, 1, orders_sql).await?;
    let graphql = measure(clients, seconds, 1, orders_graphql).await?;
    report(
        &format!("orders(first: {PAGE}), {clients} clients"),
        &graphql,
        &ceiling,
    );

    let items = Arc::new(data.stock_items);
    let stock_sql = {
        let (db, items) = (db.clone(), items.clone());
        move |_: usize, n: usize| {
            let (db, items) = (db.clone(), items.clone());
            async move {
                let found = stock::stock_item(&db, &items[n]).await?;
                ensure!(found.is_some(), "stock item {} not found", items[n]);
                Ok(())
            }
        }
    };
    let stock_graphql = {
        let (http, bodies) = (http.clone(), stock_bodies.clone());
        move |client: usize, n: usize| {
            let (http, bodies) = (http.clone(), bodies.clone());
            async move { http.post(client, bodies[n].clone()).await }
        }
    };
    println!("\nstockItem(id) of a random item");
    let ceiling = measure(clients, seconds, items.len(), stock_sql).await?;
    let graphql = measure(clients, seconds, items.len(), stock_graphql).await?;
    report(
        &format!("stockItem(id), {clients} clients"),
        &graphql,
        &ceiling,
    );

    // What HTTP alone costs here (the same client, server and layers, no GraphQL and no
    // database): the bound on any answer over HTTP on this machine.
    let health = {
        let http = http.clone();
        move |client: usize, _: usize| {
            let http = http.clone();
            async move { http.health(client).await }
        }
    };
    let floor = measure(clients, seconds, 1, health).await?;
    super::record(
        "queries",
        format!("HTTP alone (GET /health), {clients} clients"),
        format!("{:.0}/s p99 {:.1} ms", floor.per_second, floor.p99_ms),
        None,
        None,
    );
    println!(
        "\nHTTP alone: GET /health through the same client, server and layers\n  \
         {:>8.0} requests/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        floor.per_second, floor.p50_ms, floor.p99_ms
    );

    served.stop().await?;
    db.close().await;
    Ok(())
}

/// Appends whole order lives with [`WRITERS`] simulators until `orders` orders are in the log
/// (a simulator's step is one order, with now and then a new stock item, a restock, an
/// inspection or a purchase).
async fn fill(store: &EventStore, orders: u64) -> anyhow::Result<()> {
    let writers = WRITERS.min(orders.max(1));
    let mut tasks = Vec::new();
    for seed in 0..writers {
        let steps = orders / writers + u64::from(seed < orders % writers);
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut simulator = Simulator::new(store, seed)?;
            for _ in 0..steps {
                simulator.step().await?;
            }
            Ok::<(), projections::simulate::SimulationError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// What the read models hold, and the ids the clients ask for.
struct Data {
    orders: i64,
    with_lines: i64,
    with_delivery: i64,
    stock_items: Vec<String>,
}

impl Data {
    async fn read(db: &ReadDb) -> anyhow::Result<Self> {
        let ReadDb::Postgres(pool) = db else {
            bail!("the query benchmark runs on PostgreSQL");
        };
        let (orders, with_lines, with_delivery): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE lines <> '[]'), \
                    count(delivery_id) FROM orders",
        )
        .fetch_one(pool)
        .await?;
        let stock_items = sqlx::query_scalar("SELECT id FROM stock_items ORDER BY id")
            .fetch_all(pool)
            .await?;
        Ok(Self {
            orders,
            with_lines,
            with_delivery,
            stock_items,
        })
    }
}

/// What the orders resolver reads for the first page: the page with its total count, then
/// the page's deliveries in one batch.
async fn orders_page(db: &ReadDb, page: &Page) -> anyhow::Result<()> {
    let paged = orders::orders(db, &OrderFilter::default(), page).await?;
    let ids: Vec<String> = paged
        .rows
        .iter()
        .filter_map(|(_, row)| row.delivery_id.clone())
        .collect();
    let found = deliveries::deliveries_by_id(db, &ids).await?;
    ensure!(
        paged.rows.len() == PAGE as usize && found.len() == ids.len(),
        "the orders page is short"
    );
    Ok(())
}

/// A client of the served API: one connection per client, an admin's token.
#[derive(Clone)]
struct Http {
    client: Arc<LoadClient>,
    authorization: HeaderValue,
}

impl Http {
    /// Asks for `/health` on client `client`'s connection; anything but 200 is an error.
    async fn health(&self, client: usize) -> anyhow::Result<()> {
        let request = Request::get("/health").body(Full::default())?;
        self.client.expect_success(client, request).await?;
        Ok(())
    }

    /// Posts a GraphQL request body; an answer with errors is an error.
    async fn post(&self, client: usize, body: Bytes) -> anyhow::Result<()> {
        let answer = self.send(client, body).await?;
        // A scan of the bytes, not a parse.
        if answer.windows(9).any(|w| w == b"\"errors\":") {
            bail!(
                "GraphQL answered an error: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(())
    }

    /// Posts a GraphQL request body on client `client`'s connection; its answer's bytes, if
    /// its status is a success. (What every request needs is made once: the clients share the
    /// machine with the server.)
    async fn send(&self, client: usize, body: Bytes) -> anyhow::Result<Bytes> {
        let request = Request::post("/graphql")
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(body))?;
        self.client
            .expect_success(client, request)
            .await
            .context("GraphQL")
    }
}

/// Checks once, in full, that the measured queries answer what they should: a full page of
/// orders with their lines, deliveries where the read model has them, the right total, and
/// the stock item asked for.
async fn check_answers(
    http: &Http,
    orders_body: &Bytes,
    stock_bodies: &[Bytes],
    data: &Data,
    db: &ReadDb,
) -> anyhow::Result<()> {
    let answer: Value = serde_json::from_slice(&http.send(0, orders_body.clone()).await?)?;
    ensure!(
        answer.get("errors").is_none(),
        "the orders query failed: {answer}"
    );
    let connection = &answer["data"]["orders"];
    ensure!(
        connection["totalCount"].as_i64() == Some(data.orders),
        "orders' totalCount is not {}: {answer}",
        data.orders
    );
    let edges = connection["edges"]
        .as_array()
        .context("the orders query has no edges")?;
    ensure!(
        edges.len() == PAGE as usize,
        "a page of {} orders",
        edges.len()
    );
    let with_lines = edges
        .iter()
        .filter(|e| e["node"]["lines"].as_array().is_some_and(|l| !l.is_empty()))
        .count();
    ensure!(with_lines == edges.len(), "orders without lines: {answer}");
    let delivered = edges
        .iter()
        .filter(|e| e["node"]["delivery"]["id"].is_string())
        .count();
    let page = orders::orders(db, &OrderFilter::default(), &Page::new(Some(PAGE), None)?).await?;
    let expected = page
        .rows
        .iter()
        .filter(|(_, r)| r.delivery_id.is_some())
        .count();
    ensure!(
        delivered == expected,
        "{delivered} orders of the page have a delivery, not {expected}: {answer}"
    );
    let Some(body) = stock_bodies.first() else {
        bail!("no stock items in the read models");
    };
    let answer: Value = serde_json::from_slice(&http.send(0, body.clone()).await?)?;
    ensure!(
        answer["data"]["stockItem"]["id"].as_str() == data.stock_items.first().map(String::as_str),
        "the stock item query failed: {answer}"
    );
    Ok(())
}

/// What a measurement saw.
struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `clients` tasks each run `request` (with a random index below `choices`) one after the
/// other for `seconds`, after a short warm-up that fills pools and statement caches; every
/// request must succeed.
async fn measure<F, Fut>(
    clients: usize,
    seconds: f64,
    choices: usize,
    request: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let warm_up = (seconds / 10.0).min(1.0);
    drive(clients, warm_up, choices, request.clone()).await?;
    drive(clients, seconds, choices, request).await
}

async fn drive<F, Fut>(
    clients: usize,
    seconds: f64,
    choices: usize,
    request: F,
) -> anyhow::Result<Run>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(client as u64);
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let choice = rng.random_range(0..choices.max(1));
                    let sent = Instant::now();
                    request(client, choice).await?;
                    latencies.push(sent.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = milliseconds(&latencies);
    Ok(Run {
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&ms, 0.50),
        p99_ms: percentile(&ms, 0.99),
    })
}

/// Prints a GraphQL figure beside its ceiling, and whether it meets the targets.
fn report(what: &str, graphql: &Run, ceiling: &Run) {
    let ratio = graphql.per_second / ceiling.per_second.max(1e-9);
    super::record(
        "queries",
        what.to_owned(),
        format!("{:.0}/s p99 {:.1} ms", graphql.per_second, graphql.p99_ms),
        Some(format!(
            "{:.0}/s p99 {:.1} ms",
            ceiling.per_second, ceiling.p99_ms
        )),
        Some(ratio),
    );
    println!(
        "  GraphQL over HTTP  {:>8.0} requests/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        graphql.per_second, graphql.p50_ms, graphql.p99_ms
    );
    println!(
        "  direct SQL ceiling {:>8.0} requests/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        ceiling.per_second, ceiling.p50_ms, ceiling.p99_ms
    );
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "  ratio {ratio:.2} (target {RATIO_TARGET}: {})   GraphQL p99 target < {P99_TARGET_MS} \
         ms: {}",
        verdict(ratio >= RATIO_TARGET),
        verdict(graphql.p99_ms < P99_TARGET_MS)
    );
}
