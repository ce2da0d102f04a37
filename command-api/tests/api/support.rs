//! Starts the real command API on port 0 over a fresh store, and talks to it like a client.

use std::future::Future;
use std::io::Write;
use std::panic;

use command_api::{AppState, Authenticator, JwtConfig, JwtKey, Server, mint_token, router};
use domain::Issued;
use domain::order::{Order, OrderCommand};
use event_schemas::PricedLine;
use event_schemas::values::{Actor, Cents, ProductName, Role};
use event_store::{EventStore, ScratchDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The HS256 secret every test app uses.
pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// A running command API and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The store behind it (to inspect events).
    pub store: EventStore,
    client: reqwest::Client,
    jwt: JwtConfig,
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// The body's `type`-less problem fields, for quick assertions: (status, detail).
    pub fn problem_status(&self) -> u64 {
        self.body["status"].as_u64().unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and returns the body.
    pub fn expect_problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        let content_type = self.headers["content-type"].to_str().unwrap();
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(self.problem_status(), u64::from(status));
        assert!(self.body["type"].is_string() && self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
        &self.body
    }

    /// Asserts success with this status and returns `(id, version, position)`.
    pub fn expect_ok(&self, status: u16) -> (String, u64, String) {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        (
            self.body["id"].as_str().unwrap().to_owned(),
            self.body["version"].as_u64().unwrap(),
            self.body["position"].as_str().unwrap().to_owned(),
        )
    }

    /// The field names listed in a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    async fn start(store_url: &str) -> Self {
        let store = EventStore::connect(store_url).await.unwrap();
        store.migrate().await.unwrap();
        let jwt = JwtConfig::new(JwtKey::Secret(SECRET.to_vec()));
        Self::start_with(store, jwt).await
    }

    /// Starts an app over `store` that verifies tokens with `jwt`.
    pub async fn start_with(store: EventStore, jwt: JwtConfig) -> Self {
        let state = AppState::new(store.clone(), Authenticator::new(&jwt).unwrap(), 10);
        let server = Server::bind(
            "127.0.0.1:0",
            router(state, command_api::DEFAULT_REQUEST_TIMEOUT),
        )
        .await
        .unwrap();
        Self::serving(server, store, jwt)
    }

    /// Serves `server` (over `store`, verifying tokens with `jwt`) for the rest of the test.
    pub fn serving(server: Server, store: EventStore, jwt: JwtConfig) -> Self {
        let address = format!("http://{}", server.local_addr().unwrap());
        // The server lives as long as the test's runtime.
        tokio::spawn(server.run_until_stopped(std::future::pending()));
        Self {
            address,
            store,
            client: reqwest::Client::new(),
            jwt,
        }
    }

    /// A valid token for `sub` in `role`.
    pub fn token(&self, sub: &str, role: Role) -> String {
        mint_token(&self.jwt, sub, role, 3600).unwrap()
    }

    /// `POST path` with a bearer token (if any) and a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.post_with(path, token, body, &[]).await
    }

    /// `POST path` with extra headers.
    pub async fn post_with(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.unwrap()).await
    }

    /// `POST path` with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        read(
            self.client
                .get(format!("{}{path}", self.address))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `GET path`, the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let answer = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "GET {path}: {}",
            answer.status()
        );
        answer.text().await.unwrap()
    }

    /// How many events the stream holds.
    pub async fn stream_len(&self, aggregate_type: &str, id: &str) -> usize {
        self.store
            .read_stream(&event_store::StreamId::new(aggregate_type, id), 0)
            .await
            .unwrap()
            .len()
    }

    /// The event types of a stream, in order.
    pub async fn event_types(&self, aggregate_type: &str, id: &str) -> Vec<String> {
        self.store
            .read_stream(&event_store::StreamId::new(aggregate_type, id), 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    /// Registers a stock item owned by `farmer` with `quantity` on hand; returns its id.
    pub async fn stock_item(&self, farmer: &str, quantity: u64) -> String {
        let token = self.token(farmer, Role::Farmer);
        let answer = self
            .post("/v1/stock-items", Some(&token), &stock_item_body(quantity))
            .await;
        answer.expect_ok(201).0
    }
}

/// A valid stock item registration body.
pub fn stock_item_body(quantity: u64) -> Value {
    json!({
        "product_name": "Heirloom tomatoes",
        "category": "vegetables",
        "unit": "kg",
        "unit_price_cents": 450,
        "quality_grade": "A",
        "harvest_date": "2026-04-29",
        "certifications": ["organic"],
        "low_stock_threshold": 5,
        "initial_quantity": quantity,
    })
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// Runs `body` against an app over a fresh SQLite store.
pub async fn on_sqlite<F, Fut>(body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("api.db").display());
    body(TestApp::start(&url).await).await;
}

/// Runs `body` against an app over a fresh PostgreSQL database (skipped loudly without
/// `DATABASE_URL`), dropping the database even when the body panics.
pub async fn on_postgres<F, Fut>(body: F)
where
    F: FnOnce(TestApp) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: DATABASE_URL is not set; a PostgreSQL API test did not run"
        );
        return;
    };
    let database = ScratchDatabase::create(&admin_url, "sl_api").await.unwrap();
    let url = database.url().to_owned();
    let outcome = tokio::spawn(async move { body(TestApp::start(&url).await).await }).await;
    database.drop_database().await.unwrap();
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(payload) => panic::resume_unwind(payload),
            Err(error) => panic!("the test task did not finish: {error}"),
        }
    }
}

/// A valid postal address body in `city`.
pub fn address_body(city: &str) -> Value {
    json!({
        "line1": "12 Market Street",
        "line2": "Back door",
        "city": city,
        "postal_code": "75011",
        "country": "FR",
    })
}

/// A valid order body placed with `farmer`: two units of each stock item.
pub fn order_body(farmer: &str, stock_item_ids: &[&str]) -> Value {
    let lines: Vec<Value> = stock_item_ids
        .iter()
        .map(|id| json!({"stock_item_id": id, "quantity": 2}))
        .collect();
    json!({
        "farmer_id": farmer,
        "lines": lines,
        "delivery_address": address_body("Paris"),
    })
}

/// A valid delivery body for `order_id`, with a two-hour window.
pub fn delivery_body(order_id: &str) -> Value {
    json!({
        "order_id": order_id,
        "pickup_address": address_body("Montreuil"),
        "dropoff_address": address_body("Paris"),
        "window_start": "2026-05-04T08:00:00Z",
        "window_end": "2026-05-04T10:00:00+00:00",
    })
}

/// The price `confirm_order` gives every unit, in cents.
pub const CONFIRMED_UNIT_PRICE_CENTS: u64 = 450;

impl TestApp {
    /// The fields of a stream's events (each payload without its event type tag), in order.
    pub async fn payloads(&self, aggregate_type: &str, id: &str) -> Vec<Value> {
        self.store
            .read_stream(&event_store::StreamId::new(aggregate_type, id), 0)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.payload[e.event_type.as_str()].clone())
            .collect()
    }

    /// Places an order of `restaurant` with `farmer` for two units of a new stock item of the
    /// farmer's; returns the order's id.
    pub async fn place_order(&self, restaurant: &str, farmer: &str) -> String {
        let stock_item_id = self.stock_item(farmer, 10).await;
        let token = self.token(restaurant, Role::Restaurant);
        let body = order_body(farmer, &[&stock_item_id]);
        self.post("/v1/orders", Some(&token), &body)
            .await
            .expect_ok(201)
            .0
    }

    /// Executes an internal order command as the system would (the order process, which these
    /// tests do not run); returns the stream's version after it.
    pub async fn order_as_system(&self, order_id: &str, command: OrderCommand) -> u64 {
        let executor = event_store::Executor::<Order>::new(self.store.clone(), ());
        let actor = Actor::system("test");
        let correlation_id = uuid::Uuid::now_v7();
        let context = event_store::CommandContext {
            actor: actor.clone(),
            command: command.name().to_owned(),
            request_id: "test-setup".to_owned(),
            correlation_id,
            causation_id: correlation_id,
            idempotency: None,
            expected_version: None,
            commit_point: event_store::CommitPoint::new(),
        };
        let issued = Issued::new(actor, chrono::Utc::now(), command);
        executor
            .execute(order_id, issued, &context)
            .await
            .unwrap()
            .version
    }

    /// Confirms a pending order as the order process would once every line is reserved,
    /// pricing each unit at [`CONFIRMED_UNIT_PRICE_CENTS`]; returns the version.
    pub async fn confirm_order(&self, order_id: &str) -> u64 {
        let executor = event_store::Executor::<Order>::new(self.store.clone(), ());
        let order = executor.load(order_id).await.unwrap().state;
        let unit_price_cents = Cents::new(CONFIRMED_UNIT_PRICE_CENTS).unwrap();
        let lines = order
            .lines()
            .iter()
            .map(|line| PricedLine {
                stock_item_id: line.stock_item_id,
                product_name: ProductName::parse("Heirloom tomatoes").unwrap(),
                quantity: line.quantity,
                unit_price_cents,
                line_total_cents: unit_price_cents.times(line.quantity.quantity()).unwrap(),
            })
            .collect();
        self.order_as_system(order_id, OrderCommand::ConfirmOrder { lines })
            .await
    }

    /// Schedules (as an admin) the delivery of a new order of "bistro" with "farmer-ana";
    /// returns the delivery's id.
    pub async fn schedule_delivery(&self) -> String {
        let order_id = self.place_order("bistro", "farmer-ana").await;
        let admin = self.token("root", Role::Admin);
        self.post("/v1/deliveries", Some(&admin), &delivery_body(&order_id))
            .await
            .expect_ok(201)
            .0
    }

    /// A scheduled delivery that the distributor `driver` assigned itself; returns its id.
    pub async fn assigned_delivery(&self, driver: &str) -> String {
        let id = self.schedule_delivery().await;
        let token = self.token(driver, Role::Distributor);
        self.post(
            &format!("/v1/deliveries/{id}/assign"),
            Some(&token),
            &json!({}),
        )
        .await
        .expect_ok(200);
        id
    }

    /// A delivery that the distributor `driver` assigned itself and picked up; returns its id.
    pub async fn delivery_in_transit(&self, driver: &str) -> String {
        let id = self.assigned_delivery(driver).await;
        let token = self.token(driver, Role::Distributor);
        self.post(
            &format!("/v1/deliveries/{id}/pickup"),
            Some(&token),
            &json!({}),
        )
        .await
        .expect_ok(200);
        id
    }
}
