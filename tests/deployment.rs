//! The multi-process deployment of docker-compose.yml, as real processes against one
//! PostgreSQL: `command-api`, two `projector`s (one live, one standing by) and `query-api`. A
//! scenario runs across them; the live projector is killed and the standby carries on.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use command_api::{JwtConfig, JwtKey, mint_token};
use event_schemas::values::Role;
use event_store::ScratchDatabase;
use serde_json::{Value, json};

mod common;
use common::{Process, free_port, graphql};

const SECRET: &str = "deployment-test-secret-of-32-bytes-or-more";

/// Starts `supplyline <part> --listen 127.0.0.1:<port>` against `url`; its base URL.
fn start(url: &str, part: &str, extra: &[&str]) -> (Process, String) {
    let port = free_port();
    let process = Process(
        Command::new(env!("CARGO_BIN_EXE_supplyline"))
            .args([part, "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("DATABASE_URL", url)
            .env("SUPPLYLINE_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    (process, format!("http://127.0.0.1:{port}"))
}

/// The users of the deployment, speaking to its processes.
struct Users {
    http: reqwest::Client,
    jwt: JwtConfig,
    commands: String,
    queries: String,
}

impl Users {
    async fn ready(&self, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self.http.get(format!("{base}/ready")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "{base} never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// POSTs a command as `sub` in `role`; the answer, which must be a success.
    async fn command(&self, (sub, role): (&str, Role), path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.commands))
            .bearer_auth(mint_token(&self.jwt, sub, role, 600).unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    /// Asks the query API as an admin; the `data`.
    async fn ask(&self, query: &str) -> Value {
        let token = mint_token(&self.jwt, "admin-1", Role::Admin, 600).unwrap();
        graphql(&self.queries, &token, query).await
    }

    /// Waits until the query API shows order `id` in `status` (the order process, in a
    /// projector, decides it).
    async fn order_in(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let query = format!("{{ order(id: \"{id}\") {{ status }} }}");
        while self.ask(&query).await["order"]["status"] != status {
            assert!(Instant::now() < deadline, "order {id} never {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn place_order(&self, restaurant: &str, item: &str) -> String {
        let body = json!({
            "farmer_id": "farmer-ada",
            "lines": [{"stock_item_id": item, "quantity": 2}],
            "delivery_address": {"line1": "1 Quai", "city": "Lyon", "postal_code": "69002",
                "country": "FR"},
        });
        let placed = self
            .command((restaurant, Role::Restaurant), "/v1/orders", body)
            .await;
        placed["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_runs_across_processes_and_survives_its_live_projector() {
    let Ok(admin) = std::env::var("DATABASE_URL") else {
        eprintln!("SKIPPED: DATABASE_URL is not set; the multi-process deployment did not run");
        return;
    };
    let scratch = ScratchDatabase::create(&admin, "deployment_test")
        .await
        .unwrap();
    let url = scratch.url().to_owned();
    let migrated = Command::new(env!("CARGO_BIN_EXE_supplyline"))
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let poll = ["--projector-poll", "50ms"];
    let (commands, commands_base) = start(&url, "command-api", &[]);
    let (mut live, live_base) = start(&url, "projector", &poll);
    let (queries, queries_base) = start(&url, "query-api", &[]);
    let users = Users {
        http: reqwest::Client::new(),
        jwt: JwtConfig::new(JwtKey::Secret(SECRET.as_bytes().to_vec())),
        commands: commands_base.clone(),
        queries: queries_base.clone(),
    };
    for base in [&commands_base, &live_base, &queries_base] {
        users.ready(base).await;
    }

    // The first projector takes every lease; an order placed at the command API is confirmed
    // by its order process and read at the query API.
    let item = users
        .command(
            ("farmer-ada", Role::Farmer),
            "/v1/stock-items",
            json!({"product_name": "Heirloom tomatoes", "category": "vegetables", "unit": "kg",
                "unit_price_cents": 450, "quality_grade": "A", "certifications": [],
                "low_stock_threshold": 1, "initial_quantity": 100}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = users.place_order("bistro-rue", &item).await;
    users.order_in(&first, "CONFIRMED").await;

    // A second projector stands by; the live one is killed without a chance to let go.
    let (_standby, standby_base) = start(&url, "projector", &poll);
    users.ready(&standby_base).await;
    live.kill().unwrap();
    live.wait().unwrap();

    // The standby carries on: a new order is confirmed, and the first goes on to a delivery.
    let second = users.place_order("cafe-nord", &item).await;
    users.order_in(&second, "CONFIRMED").await;
    for step in ["preparing", "ready-for-pickup"] {
        let path = format!("/v1/orders/{first}/{step}");
        users
            .command(("farmer-ada", Role::Farmer), &path, json!({}))
            .await;
    }
    users.order_in(&first, "READY_FOR_PICKUP").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = format!("{{ order(id: \"{first}\") {{ delivery {{ status }} }} }}");
    while users.ask(&query).await["order"]["delivery"]["status"] != "SCHEDULED" {
        assert!(
            Instant::now() < deadline,
            "the standby never scheduled the delivery"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stock = users
        .ask(&format!(
            "{{ stockItem(id: \"{item}\") {{ reserved available }} }}"
        ))
        .await;
    assert_eq!(stock["stockItem"], json!({"reserved": 4, "available": 96}));
    let status = users.ask("{ projections { name status } }").await;
    assert!(
        status["projections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] != "FAILED"),
        "{status}"
    );

    drop((commands, queries));
    scratch.drop_database().await.unwrap();
}
