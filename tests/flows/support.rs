//! The whole product in one test process, as `serve` runs it: the command API on a random
//! port, the projectors and the process managers, over a temporary SQLite log or a scratch
//! PostgreSQL database; and a client that drives it over HTTP.

use std::future::Future;
use std::time::{Duration, Instant};

use command_api::{AppState, Authenticator, JwtConfig, JwtKey, Server, mint_token};
use event_schemas::values::Role;
use event_store::{EventStore, ScratchDatabase};
use executors::{ExecutorSettings, Executors};
use projections::models::{orders, stock};
use projections::{ReadDb, Runtime, RuntimeSettings, models, processes, status};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const SECRET: &[u8] = b"flows-test-secret-of-at-least-32-bytes!!";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Runs `$body` (an async fn taking an [`App`]) on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::support::App::start($crate::support::Kind::Sqlite)
                    .await
                    .unwrap();
                $body(&app).await;
                app.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::support::App::start($crate::support::Kind::Postgres).await
                else {
                    return;
                };
                $body(&app).await;
                app.finish().await;
            }
        }
    };
}

/// The running product and a client of it.
pub struct App {
    pub store: EventStore,
    pub db: ReadDb,
    pub executors: Executors,
    base: String,
    client: reqwest::Client,
    jwt: JwtConfig,
    runtime: Runtime,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    _dir: Option<tempfile::TempDir>,
    scratch: Option<ScratchDatabase>,
}

/// An HTTP answer: its status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The body, after asserting the status.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        self.body
    }
}

impl App {
    /// Starts everything over a fresh log; `None` (said loudly) for PostgreSQL without
    /// `DATABASE_URL`.
    pub async fn start(kind: Kind) -> Option<Self> {
        let (url, dir, scratch) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("log.db").display());
                (url, Some(dir), None)
            }
            Kind::Postgres => {
                let Ok(admin) = std::env::var("DATABASE_URL") else {
                    eprintln!("SKIPPED: DATABASE_URL is not set; this PostgreSQL test did not run");
                    return None;
                };
                let scratch = ScratchDatabase::create(&admin, "flows_test").await.unwrap();
                (scratch.url().to_owned(), None, Some(scratch))
            }
        };
        let store = EventStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let db = ReadDb::open(&store, 8).await.unwrap();
        let executors = Executors::new(store.clone(), ExecutorSettings::default());
        let mut workers = models::all();
        workers.extend(processes::all(&executors));
        let runtime = Runtime::start(store.clone(), db.clone(), workers, quick())
            .await
            .unwrap();
        let jwt = JwtConfig::new(JwtKey::Secret(SECRET.to_vec()));
        let state = AppState::with_executors(executors.clone(), Authenticator::new(&jwt).unwrap())
            .with_rate_limit(0);
        // As `serve` mounts them: GraphQL beside the commands.
        let graphql = query_api::router(
            query_api::build_schema(store.clone(), db.clone()),
            std::sync::Arc::new(Authenticator::new(&jwt).unwrap()),
        );
        let server = Server::bind(
            "127.0.0.1:0",
            command_api::router_beside(state, command_api::DEFAULT_REQUEST_TIMEOUT, graphql),
        )
        .await
        .unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let (stop_server, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            server
                .run_until_stopped(async move {
                    stopped.await.ok();
                })
                .await
                .unwrap();
        });
        Some(Self {
            store,
            db,
            executors,
            base,
            client: reqwest::Client::new(),
            jwt,
            runtime,
            stop_server,
            server,
            _dir: dir,
            scratch,
        })
    }

    /// The HTTP URL of `path` on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The WebSocket URL of `path` on the app.
    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.base.replacen("http", "ws", 1))
    }

    /// Stops everything and drops the scratch database.
    pub async fn finish(self) {
        self.stop_server.send(()).ok();
        self.server.await.ok();
        self.runtime.stop().await;
        self.db.close().await;
        if let Some(scratch) = self.scratch {
            scratch.drop_database().await.unwrap();
        }
    }

    /// A token for `sub` in `role`.
    pub fn token(&self, sub: &str, role: Role) -> String {
        mint_token(&self.jwt, sub, role, 3600).unwrap()
    }

    /// POSTs `body` to `path` as `sub` in `role`.
    pub async fn post(&self, path: &str, (sub, role): (&str, Role), body: &Value) -> Answer {
        self.post_with(path, (sub, role), body, &[]).await
    }

    /// POSTs `body` to `path` as `sub` in `role`, with extra headers.
    pub async fn post_with(
        &self,
        path: &str,
        (sub, role): (&str, Role),
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(sub, role))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    /// POSTs a GraphQL `query` to `/graphql` with `token` (if any); returns the JSON answer.
    pub async fn graphql(&self, token: Option<&str>, query: &str) -> Value {
        self.graphql_with(token, query, &[]).await
    }

    /// As [`Self::graphql`], with extra headers.
    pub async fn graphql_with(
        &self,
        token: Option<&str>,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// POSTs raw `body` bytes to `path`; returns the response.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// GETs `path`; returns the status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Registers a stock item of `farmer` with `quantity` on hand at 450 cents a unit;
    /// returns its id.
    pub async fn stock_item(&self, farmer: &str, quantity: u64) -> String {
        let body = json!({
            "product_name": "Heirloom tomatoes",
            "category": "vegetables",
            "unit": "kg",
            "unit_price_cents": 450,
            "quality_grade": "A",
            "certifications": ["organic"],
            "low_stock_threshold": 1,
            "initial_quantity": quantity,
        });
        let answer = self
            .post("/v1/stock-items", (farmer, Role::Farmer), &body)
            .await
            .expect(201);
        answer["id"].as_str().unwrap().to_owned()
    }

    /// Places an order of `restaurant` with `farmer` for `(stock item, quantity)` lines;
    /// returns its id.
    pub async fn place_order(
        &self,
        restaurant: &str,
        farmer: &str,
        lines: &[(&str, u64)],
    ) -> String {
        let answer = self
            .post(
                "/v1/orders",
                (restaurant, Role::Restaurant),
                &order_body(farmer, lines),
            )
            .await
            .expect(201);
        answer["id"].as_str().unwrap().to_owned()
    }

    /// Waits for the delivery the process scheduled for `order` as its `attempt`-th; its id.
    pub async fn scheduled_delivery(&self, order: &str, attempt: u32) -> String {
        let id = domain::process::DeliveryProcess::delivery_id_for(order.parse().unwrap(), attempt)
            .to_string();
        self.eventually(&format!("delivery {attempt} of {order}"), || async {
            projections::models::deliveries::delivery(&self.db, &id)
                .await
                .unwrap()
                .filter(|d| d.status == "SCHEDULED" && d.order_id == order)
        })
        .await;
        id
    }

    /// An order of bistro-rue with farmer-ada, confirmed, prepared and ready for pickup; its
    /// id and its scheduled delivery's.
    pub async fn order_ready_for_pickup(&self) -> (String, String) {
        let item = self.stock_item("farmer-ada", 10).await;
        let order = self
            .place_order("bistro-rue", "farmer-ada", &[(&item, 3)])
            .await;
        self.order_in(&order, "CONFIRMED").await;
        for step in ["preparing", "ready-for-pickup"] {
            let path = format!("/v1/orders/{order}/{step}");
            self.post(&path, ("farmer-ada", Role::Farmer), &json!({}))
                .await
                .expect(200);
        }
        let delivery = self.scheduled_delivery(&order, 1).await;
        (order, delivery)
    }

    /// Waits until the orders read model shows order `id` in `status`; returns its row.
    pub async fn order_in(&self, id: &str, status: &str) -> orders::OrderRow {
        self.eventually(&format!("order {id} {status}"), || async {
            orders::order(&self.db, id)
                .await
                .unwrap()
                .filter(|row| row.status == status)
        })
        .await
    }

    /// Waits until the stock read model shows item `id` as `check` wants it; returns its row.
    pub async fn stock_where(
        &self,
        id: &str,
        what: &str,
        check: impl Fn(&stock::StockItemRow) -> bool,
    ) -> stock::StockItemRow {
        self.eventually(&format!("stock item {id}: {what}"), || async {
            stock::stock_item(&self.db, id)
                .await
                .unwrap()
                .filter(|row| check(row))
        })
        .await
    }

    /// Polls `probe` until it gives something, failing after a while with `what` and the
    /// workers' states.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            if Instant::now() > deadline {
                let workers: Vec<String> = status::all(&self.db)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| format!("{} {} {:?}", r.name, r.state, r.last_error))
                    .collect();
                panic!("timed out waiting for {what}; workers: {workers:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every worker (read models and processes) has applied the whole log and
    /// the log stays still, so nothing more is coming.
    pub async fn settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last_seen = None;
        loop {
            // Statuses first: a process appends its commands' events before it commits its
            // checkpoint, so they are in the head read after.
            let rows = status::all(&self.db).await.unwrap();
            let head = self.store.head().await.unwrap().readable;
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The payloads (without their type tag) and types of a stream's events, in order.
    pub async fn events(&self, aggregate_type: &str, id: &str) -> Vec<(String, Value)> {
        let stream = event_store::StreamId::new(aggregate_type, id);
        self.store
            .read_stream(&stream, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let payload = e.payload[&e.event_type].clone();
                (e.event_type, payload)
            })
            .collect()
    }
}

/// An order body with `farmer` for `(stock item, quantity)` lines.
pub fn order_body(farmer: &str, lines: &[(&str, u64)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(id, quantity)| json!({"stock_item_id": id, "quantity": quantity}))
        .collect();
    json!({
        "farmer_id": farmer,
        "lines": lines,
        "delivery_address": {
            "line1": "12 Market Street",
            "city": "Paris",
            "postal_code": "75011",
            "country": "FR",
        },
    })
}

/// Settings that notice new events within milliseconds.
pub fn quick() -> RuntimeSettings {
    RuntimeSettings {
        poll_interval: Duration::from_millis(20),
        standby_retry: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..RuntimeSettings::default()
    }
}
