//! Starts the real command API on port 0 over a fresh store, and talks to it like a client.

use std::future::Future;
use std::io::Write;
use std::panic;

use command_api::{AppState, Authenticator, JwtConfig, JwtKey, Server, mint_token, router};
use event_schemas::values::Role;
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
    /// The store's URL.
    pub store_url: String,
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
        let jwt = JwtConfig {
            key: JwtKey::Secret(SECRET.to_vec()),
            issuer: None,
            audience: None,
        };
        Self::start_with(store_url, store, jwt).await
    }

    /// Starts an app over `store` that verifies tokens with `jwt`.
    pub async fn start_with(store_url: &str, store: EventStore, jwt: JwtConfig) -> Self {
        let state = AppState::new(store.clone(), Authenticator::new(&jwt).unwrap(), 10);
        let server = Server::bind(
            "127.0.0.1:0",
            router(state, command_api::DEFAULT_REQUEST_TIMEOUT),
        )
        .await
        .unwrap();
        let address = format!("http://{}", server.local_addr().unwrap());
        // The server lives as long as the test's runtime.
        tokio::spawn(server.run_until_stopped(std::future::pending()));
        Self {
            address,
            store,
            store_url: store_url.to_owned(),
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
