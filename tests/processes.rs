//! The process managers against SIGKILL: a `projector` process (read models and processes
//! together) is killed again and again while restaurants place and cancel orders through a
//! `command-api` process. Afterwards every order is decided exactly once, no stock item
//! holds units for a rejected or cancelled order, and no command took effect twice.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use command_api::{JwtConfig, JwtKey, mint_token};
use event_schemas::values::Role;
use event_store::{EventStore, Position, ScratchDatabase, StreamId};
use executors::{ExecutorSettings, Executors};
use projections::{ReadDb, models, processes, status};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::Mutex;

mod common;
use common::{Process, free_port};

const SECRET: &str = "processes-test-secret-of-at-least-32-bytes";
const FARMER: &str = "farmer-ada";

fn supplyline(url: &str, args: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_supplyline"))
            .args(args)
            .env("DATABASE_URL", url)
            .env("SUPPLYLINE_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn projector(url: &str) -> Process {
    let listen = format!("127.0.0.1:{}", free_port());
    supplyline(
        url,
        &[
            "projector",
            "--listen",
            &listen,
            "--projector-batch",
            "50",
            "--projector-poll",
            "20ms",
        ],
    )
}

/// A client of the command API process.
#[derive(Clone)]
struct Client {
    base: String,
    http: reqwest::Client,
    jwt: Arc<JwtConfig>,
}

impl Client {
    async fn post(&self, path: &str, sub: &str, role: Role, body: &Value) -> (u16, Value) {
        let token = mint_token(&self.jwt, sub, role, 3600).unwrap();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn stock_item(&self, quantity: u64) -> String {
        let body = json!({
            "product_name": "Heirloom tomatoes", "category": "vegetables", "unit": "kg",
            "unit_price_cents": 450, "quality_grade": "A", "certifications": [],
            "low_stock_threshold": 1, "initial_quantity": quantity,
        });
        let (status, answer) = self
            .post("/v1/stock-items", FARMER, Role::Farmer, &body)
            .await;
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().unwrap().to_owned()
    }
}

async fn wait_until_up(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/health")).await.is_err() {
        assert!(Instant::now() < deadline, "the command API never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places orders (one to three lines over a few scarce items) and cancels some, until
/// `running` is cleared; returns the orders placed.
fn keep_ordering(
    client: Client,
    items: Vec<String>,
    restaurant: String,
    running: Arc<AtomicBool>,
    placed: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while running.load(Ordering::Relaxed) {
            let (lines, cancel) = {
                let mut rng = rand::rng();
                let count = rng.random_range(1..=3);
                let mut chosen: Vec<&String> = Vec::new();
                while chosen.len() < count {
                    let item = &items[rng.random_range(0..items.len())];
                    if !chosen.contains(&item) {
                        chosen.push(item);
                    }
                }
                let lines: Vec<Value> = chosen
                    .iter()
                    .map(|id| json!({"stock_item_id": id, "quantity": rng.random_range(1..=3)}))
                    .collect();
                (lines, rng.random_bool(0.3))
            };
            let body = json!({
                "farmer_id": FARMER,
                "lines": lines,
                "delivery_address": {
                    "line1": "1 Market Street", "city": "Lyon",
                    "postal_code": "69001", "country": "FR",
                },
            });
            let (status, answer) = client
                .post("/v1/orders", &restaurant, Role::Restaurant, &body)
                .await;
            assert_eq!(status, 201, "{answer}");
            let order = answer["id"].as_str().unwrap().to_owned();
            placed.lock().await.push(order.clone());
            if cancel {
                // Sometimes at once (still pending), sometimes a little later.
                let wait = rand::rng().random_range(0..30);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let (status, answer) = client
                    .post(
                        &format!("/v1/orders/{order}/cancel"),
                        &restaurant,
                        Role::Restaurant,
                        &json!({"reason": "changed our mind"}),
                    )
                    .await;
                // A rejected order is already closed.
                assert!(status == 200 || status == 409, "{status} {answer}");
            }
        }
    })
}

/// Waits until every worker has applied the log and it stays still.
async fn settled(store: &EventStore, db: &ReadDb) {
    // Generous: on a loaded two-core machine the order process, which sends commands for the
    // events it handles, was seen still 2,500 events behind (and moving) two minutes after the
    // last kill; a stuck worker still fails this.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last_seen = None;
    loop {
        let rows = status::all(db).await.unwrap_or_default();
        let head = store.head().await.unwrap().readable;
        let caught_up = rows.len() == models::names().len() + processes::names().len()
            && rows
                .iter()
                .all(|r| head.is_none_or(|h| r.checkpoint().is_ok_and(|c| c >= h)));
        if caught_up && last_seen == Some(head) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the workers never settled: {rows:#?}"
        );
        last_seen = caught_up.then_some(head);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_processes_killed_twenty_times_decide_each_order_once() {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the process crash test did not run");
        return;
    };
    let scratch = ScratchDatabase::create(&admin, "processes_test")
        .await
        .unwrap();
    killed_twenty_times(scratch.url()).await;
    scratch.drop_database().await.unwrap();
}

/// The same on SQLite: the command API and the projector are two processes on one log file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_processes_killed_twenty_times_decide_each_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    killed_twenty_times(&url).await;
}

/// Kills the projector (read models and processes) 22 times while orders flow, then checks
/// that every order was decided once, no reservation outlived its order, and no command took
/// effect twice.
async fn killed_twenty_times(url: &str) {
    let url = url.to_owned();
    let store = EventStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let db = ReadDb::open(&store, 4).await.unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut api = supplyline(
        &url,
        &[
            "command-api",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--rate-limit",
            "0",
        ],
    );
    wait_until_up(&base).await;
    let client = Client {
        base,
        http: reqwest::Client::new(),
        jwt: Arc::new(JwtConfig::new(JwtKey::Secret(SECRET.as_bytes().to_vec()))),
    };
    // Scarce stock, so that orders are both confirmed and rejected.
    let mut items = Vec::new();
    for _ in 0..6 {
        items.push(client.stock_item(200).await);
    }

    let running = Arc::new(AtomicBool::new(true));
    let placed = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..3)
        .map(|i| {
            keep_ordering(
                client.clone(),
                items.clone(),
                format!("restaurant-{i}"),
                running.clone(),
                placed.clone(),
            )
        })
        .collect();
    let mut kills = 0;
    let mut progressed = 0;
    let applied = async || {
        status::one(&db, "order-process")
            .await
            .map_or(0, |row| row.applied)
    };
    while kills < 22 {
        let before = applied().await;
        let mut child = projector(&url);
        // Kill it while it works: once the order process has committed a batch (a slow
        // start on a busy machine must not make the kill land before any work), then at a
        // random moment of the batches that follow.
        let started = Instant::now();
        while applied().await <= before && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let wait = rand::rng().random_range(0..400);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().unwrap(); // SIGKILL: no chance to finish the batch or its commands
        child.wait().unwrap();
        kills += 1;
        progressed += usize::from(applied().await > before);
    }
    // The kills must land while the processes work, not before they start.
    assert!(
        progressed >= 20,
        "the order process made progress in only {progressed} of {kills} runs"
    );
    running.store(false, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let mut child = projector(&url);
    settled(&store, &db).await;
    child.kill().unwrap();
    child.wait().unwrap();
    api.kill().unwrap();
    api.wait().unwrap();

    let orders = placed.lock().await.clone();
    assert!(orders.len() >= 50, "only {} orders flowed", orders.len());
    let executors = Executors::new(store.clone(), ExecutorSettings::default());
    let (mut confirmed, mut rejected, mut cancelled_count) = (0, 0, 0);
    let mut closed: HashSet<String> = HashSet::new();
    let mut held_by_confirmed: HashMap<String, u64> = HashMap::new();
    for order in &orders {
        let events = store
            .read_stream(&StreamId::new("order", order), 0)
            .await
            .unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let decisions = types
            .iter()
            .filter(|t| matches!(**t, "OrderConfirmed" | "OrderRejected"))
            .count();
        let cancelled = types.contains(&"OrderCancelled");
        // Decided exactly once; only an order cancelled while pending goes undecided.
        assert!(decisions <= 1, "order {order}: {types:?}");
        assert!(
            decisions == 1 || (cancelled && types[1] == "OrderCancelled"),
            "order {order} undecided: {types:?}"
        );
        confirmed += usize::from(types.contains(&"OrderConfirmed"));
        rejected += usize::from(types.contains(&"OrderRejected"));
        cancelled_count += usize::from(cancelled);
        if cancelled || types.contains(&"OrderRejected") {
            closed.insert(order.clone());
        } else {
            let placed: &Value = &events[0].payload["OrderPlaced"];
            for line in placed["lines"].as_array().unwrap() {
                *held_by_confirmed
                    .entry(line["stock_item_id"].as_str().unwrap().to_owned())
                    .or_default() += line["quantity"].as_u64().unwrap();
            }
        }
    }
    eprintln!(
        "{} orders: {confirmed} confirmed, {rejected} rejected, {cancelled_count} cancelled",
        orders.len()
    );
    assert!(
        confirmed > 0 && rejected > 0 && cancelled_count > 0,
        "the run must confirm, reject and cancel orders"
    );
    for item in &items {
        let loaded = executors.stock.load(item).await.unwrap();
        for order in &closed {
            assert_eq!(
                loaded.state.held_for(order.parse().unwrap()),
                None,
                "stock item {item} still holds units for closed order {order}"
            );
        }
        assert_eq!(
            loaded.state.levels().reserved.get(),
            held_by_confirmed.get(item).copied().unwrap_or(0),
            "stock item {item} reserves other than its confirmed orders' lines"
        );
    }
    // No command took effect twice: each system command's key names one append, and no
    // stock item answered or released one order's line twice.
    let log = store.read_all(Position::START, 1_000_000).await.unwrap();
    let mut appends: HashMap<String, (String, u64, u64)> = HashMap::new();
    let mut answers: HashSet<(String, String, String)> = HashSet::new();
    for event in &log {
        let metadata = &event.metadata;
        if metadata["actor"]["role"] == "system" {
            let key = metadata["idempotency_key"].as_str().unwrap().to_owned();
            let stream = event.stream.to_string();
            let entry = appends.entry(key.clone()).or_insert((
                stream.clone(),
                event.sequence,
                event.sequence,
            ));
            assert_eq!(entry.0, stream, "key {key} took effect on two streams");
            assert_eq!(
                entry.2 + u64::from(entry.2 != event.sequence),
                event.sequence,
                "key {key} took effect twice in {stream}"
            );
            entry.2 = event.sequence;
        }
        if event.stream.aggregate_type == "stock" {
            let payload = &event.payload[&event.event_type];
            if let Some(order) = payload["order_id"].as_str() {
                let kind = match event.event_type.as_str() {
                    "StockReserved" | "StockReservationRefused" => "answer",
                    other => other,
                };
                assert!(
                    answers.insert((
                        event.stream.aggregate_id.clone(),
                        order.to_owned(),
                        kind.to_owned()
                    )),
                    "{} twice for order {order} on {}",
                    event.event_type,
                    event.stream
                );
            }
        }
    }
    db.close().await;
}
