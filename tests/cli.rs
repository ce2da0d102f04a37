//! The binary's command line, run as a user would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::process::Command;

mod common;
use common::{Process, free_port};

fn supplyline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_supplyline"))
}

#[test]
fn schemas_export_writes_every_event_schema_and_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = supplyline()
        .args(["schemas", "export"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let entries = index.as_array().unwrap();
    assert_eq!(entries.len(), event_schemas::all_kinds().len());
    for entry in entries {
        let path = dir.path().join(entry["schema"].as_str().unwrap());
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(schema["type"], "object", "{}", path.display());
    }
    let registered = dir
        .path()
        .join("stock/StockItemRegistered.v1.0.0.schema.json");
    assert!(registered.is_file());
    assert!(dir.path().join("metadata.schema.json").is_file());
    let sdl = std::fs::read_to_string(dir.path().join("schema.graphql")).unwrap();
    for root in ["orders(", "stockItems(", "farmCompliance(", "salesReport("] {
        assert!(sdl.contains(root), "the SDL lacks {root}");
    }
}

#[test]
fn schemas_export_into_an_unwritable_place_fails_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = supplyline()
        .args(["schemas", "export"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create"));
}

#[test]
fn query_api_serves_graphql_alone_and_refuses_a_caller_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    supplyline()
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    let mut server = Process(
        supplyline()
            .env("DATABASE_URL", &url)
            .env(
                "SUPPLYLINE_JWT_SECRET",
                "cli-test-secret-of-at-least-32-bytes!!",
            )
            .args(["query-api", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = health_once_up(port, "query-api");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = r#"{"query":"{ stockItems { totalCount } }"}"#;
    let answer = http(
        port,
        &format!(
            "POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .unwrap();
    assert!(answer.contains("UNAUTHENTICATED"), "{answer}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn help_lists_every_subcommand_of_the_contract() {
    let out = supplyline().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "serve",
        "command-api",
        "projector",
        "query-api",
        "token",
        "projections",
        "audit",
        "replay",
        "migrate",
        "schemas",
        "bench",
    ] {
        assert!(help.contains(sub), "--help does not mention {sub}");
    }
}

/// `supplyline <args> --help`, as text.
fn help(args: &[&str]) -> String {
    let out = supplyline().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn each_subcommand_shows_only_its_own_settings() {
    let bench = help(&["bench", "store"]).to_lowercase();
    assert!(bench.contains("--database-url"), "{bench}");
    for unrelated in ["jwt", "--listen", "--rate-limit", "--log-format"] {
        assert!(
            !bench.contains(unrelated),
            "bench store --help lists {unrelated}:\n{bench}"
        );
    }
    let export = help(&["schemas", "export"]);
    assert!(!export.contains("--database-url"), "{export}");
    let migrate = help(&["migrate"]);
    assert!(migrate.contains("--database-url") && !migrate.contains("jwt"));
}

#[test]
fn serve_help_names_the_secret_variable_and_offers_no_secret_flag() {
    let serve = help(&["serve"]);
    // The variable itself, not only `SUPPLYLINE_JWT_SECRET_FILE`.
    assert!(serve.contains("`SUPPLYLINE_JWT_SECRET`"), "{serve}");
    assert!(serve.contains("--jwt-secret-file"), "{serve}");
    assert!(!serve.contains("--jwt-secret "), "{serve}");
    assert!(serve.contains("--max-connections") && serve.contains("--jwt-leeway"));
}

#[test]
fn a_secret_on_the_command_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = supplyline()
        .current_dir(dir.path())
        .args(["token", "--sub", "a", "--role", "admin"])
        .args([
            "--jwt-secret",
            "a-secret-on-the-command-line-is-visible-to-all",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jwt-secret-file"));
}

#[test]
fn token_signs_with_the_secret_in_a_file_and_refuses_a_short_one() {
    use command_api::{Authenticator, JwtConfig, JwtKey};

    let dir = tempfile::tempdir().unwrap();
    let secret = "a-secret-kept-in-a-file-of-its-own-0123";
    let file = dir.path().join("jwt-secret.txt");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let mint = |file: &std::path::Path| {
        supplyline()
            .current_dir(dir.path())
            .env_remove("SUPPLYLINE_JWT_SECRET")
            .args(["token", "--sub", "farmer-ana", "--role", "farmer"])
            .arg("--jwt-secret-file")
            .arg(file)
            .output()
            .unwrap()
    };
    let out = mint(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let verifier =
        Authenticator::new(&JwtConfig::new(JwtKey::Secret(secret.as_bytes().to_vec()))).unwrap();
    let actor = verifier.authenticate(token.trim()).unwrap();
    assert_eq!(actor.sub.as_str(), "farmer-ana");
    // No secret was generated in the data folder: the file's was used.
    assert!(!dir.path().join("data/jwt-secret").exists());

    std::fs::write(&file, "too-short\n").unwrap();
    let out = mint(&file);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let out = supplyline().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Registers a stock item and receives stock twice in a fresh SQLite store; returns its URL,
/// the stock item's id and the folder holding the database.
fn store_with_a_stock_item() -> (String, String, tempfile::TempDir) {
    use chrono::Utc;
    use domain::Issued;
    use domain::stock::{RegisterStockItem, StockCommand, StockItem};
    use event_schemas::values::{
        Actor, ActorId, Category, Cents, PositiveQuantity, ProductName, QualityGrade, Quantity,
        Role, StockItemId, Unit,
    };
    use event_store::{CommandContext, EventStore, Executor};
    use uuid::Uuid;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let id = Uuid::now_v7();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = EventStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let executor = Executor::<StockItem>::new(store, ());
        let farmer = Actor::new(ActorId::parse("farmer-ana").unwrap(), Role::Farmer);
        let context = CommandContext {
            actor: farmer.clone(),
            command: "test".into(),
            request_id: "cli-test".into(),
            correlation_id: id,
            causation_id: id,
            idempotency: None,
            expected_version: None,
            commit_point: event_store::CommitPoint::new(),
        };
        let register = StockCommand::RegisterStockItem(RegisterStockItem {
            stock_item_id: StockItemId::from_uuid(id),
            farmer_id: None,
            product_name: ProductName::parse("Kale").unwrap(),
            category: Category::Vegetables,
            unit: Unit::Bunch,
            unit_price_cents: Cents::new(300).unwrap(),
            quality_grade: QualityGrade::A,
            harvest_date: None,
            certifications: vec![],
            low_stock_threshold: Quantity::new(1).unwrap(),
            initial_quantity: Quantity::new(10).unwrap(),
        });
        let receive = StockCommand::ReceiveStock {
            quantity: PositiveQuantity::new(5).unwrap(),
            purchase_id: None,
        };
        for command in [register, receive.clone(), receive] {
            executor
                .execute(
                    &id.to_string(),
                    Issued::new(farmer.clone(), Utc::now(), command),
                    &context,
                )
                .await
                .unwrap();
        }
    });
    (url, id.to_string(), dir)
}

#[test]
fn audit_verify_passes_on_an_intact_log_and_names_an_altered_event() {
    let (url, id, _dir) = store_with_a_stock_item();
    let verify = |args: &[&str]| {
        supplyline()
            .args(["audit", "verify", "--database-url", &url])
            .args(args)
            .output()
            .unwrap()
    };
    let intact = verify(&[]);
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(String::from_utf8_lossy(&intact.stdout).contains("ok: 3 events in 1 streams"));

    // Alter the second event's payload behind the product's back.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(
            "UPDATE events SET payload = json_set(payload, '$.StockReceived.quantity', 500) \
             WHERE sequence = 2",
        )
        .execute(&pool)
        .await
        .unwrap();
    });

    let whole = verify(&[]);
    assert_eq!(whole.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&whole.stdout)
            .contains(&format!("stock/{id} is altered from event #2")),
        "{}",
        String::from_utf8_lossy(&whole.stdout)
    );
    let one = verify(&["--type", "stock", "--id", &id]);
    assert_eq!(one.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&one.stdout).contains("from event #2"));
}

#[test]
fn replay_shows_a_stock_item_as_of_a_version() {
    let (url, id, _dir) = store_with_a_stock_item();
    let out = supplyline()
        .args([
            "replay",
            "--database-url",
            &url,
            "stock",
            &id,
            "--at-version",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["version"], 2);
    let full = supplyline()
        .args(["replay", "--database-url", &url, "stock", &id])
        .output()
        .unwrap();
    let full: serde_json::Value = serde_json::from_slice(&full.stdout).unwrap();
    assert_eq!(full["version"], 3);
    assert_ne!(shown["state"], full["state"]);
}

#[test]
fn replay_of_an_unknown_type_or_aggregate_is_a_clear_error() {
    let (url, _id, _dir) = store_with_a_stock_item();
    let out = supplyline()
        .args(["replay", "--database-url", &url, "tractor", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown aggregate type"));
    let out = supplyline()
        .args(["replay", "--database-url", &url, "stock", "no-such-id"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no stock no-such-id"));
}

#[test]
fn migrate_creates_the_embedded_store_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/store.db").display());
    for _ in 0..2 {
        let out = supplyline()
            .args(["migrate", "--database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("nested/store.db").is_file());
}

#[test]
fn an_unsupported_database_url_is_refused() {
    let out = supplyline()
        .args(["migrate", "--database-url", "mysql://localhost/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}

/// A free local port (bound, then released).
/// The answer to `GET /health` on `port` once the server `what` listens (at most 30 s).
fn health_once_up(port: u16, what: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Some(answer) = http(
            port,
            "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ) {
            return answer;
        }
        assert!(started.elapsed().as_secs() < 30, "{what} did not come up");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A plain HTTP request over a socket; returns the whole answer.
fn http(port: u16, request: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn serve_runs_with_no_configuration_takes_a_minted_token_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Process(
        supplyline()
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("SUPPLYLINE_JWT_SECRET")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let health = health_once_up(port, "serve");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(dir.path().join("data/supplyline.db").is_file());
    assert!(dir.path().join("data/jwt-secret").is_file());

    let token = supplyline()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("SUPPLYLINE_JWT_SECRET")
        .args([
            "token",
            "--sub",
            "farmer-ana",
            "--role",
            "farmer",
            "--ttl",
            "10m",
        ])
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap();
    let body = serde_json::json!({
        "product_name": "Kale", "category": "vegetables", "unit": "bunch",
        "unit_price_cents": 300, "quality_grade": "A", "certifications": [],
        "low_stock_threshold": 2, "initial_quantity": 10,
    })
    .to_string();
    let answer = http(
        port,
        &format!(
            "POST /v1/stock-items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            token.trim(),
            body.len()
        ),
    )
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // The projectors run in the same process: the stock item shows in its read model.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = supplyline()
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .args(["projections", "status"])
            .output()
            .unwrap();
        assert!(status.status.success());
        let text = String::from_utf8_lossy(&status.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.starts_with("stock_items"))
            .unwrap_or("");
        if line.split_whitespace().nth(2) == Some("1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not projected: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn token_refuses_an_unknown_role_and_a_bad_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let out = supplyline()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .args(["token", "--sub", "a", "--role", "system"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a role"));
    let out = supplyline()
        .current_dir(dir.path())
        .args(["token", "--sub", "a", "--role", "admin", "--ttl", "forever"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn token_refuses_a_subject_of_the_products_own_processes() {
    let dir = tempfile::tempdir().unwrap();
    let out = supplyline()
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env(
            "SUPPLYLINE_JWT_SECRET",
            "cli-test-secret-of-at-least-32-bytes!!",
        )
        .args(["token", "--sub", "system:order-process", "--role", "admin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
}

#[test]
fn a_process_manager_is_never_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let out = supplyline()
        .args([
            "projections",
            "rebuild",
            "order-process",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("process manager"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tells_its_subscribers_it_is_going_away_when_it_stops() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret = "going-away-test-secret-of-32-bytes-or-more";
    let mut server = Process(
        supplyline()
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env("SUPPLYLINE_JWT_SECRET", secret)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    tokio::task::spawn_blocking(move || health_once_up(port, "serve"))
        .await
        .unwrap();
    let jwt = command_api::JwtConfig::new(command_api::JwtKey::Secret(secret.into()));
    let token = command_api::mint_token(
        &jwt,
        "auditor-ida",
        event_schemas::values::Role::Auditor,
        600,
    )
    .unwrap();
    let mut request = format!("ws://127.0.0.1:{port}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = serde_json::json!({"type": "connection_init",
        "payload": {"Authorization": format!("Bearer {token}")}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack}");
    let subscribe = serde_json::json!({"id": "log", "type": "subscribe",
        "payload": {"query": "subscription { eventAppended { position } }"}});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();

    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
    let mut close = None;
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Close(frame) = message {
            close = frame.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(
        close,
        Some(1001),
        "the socket was not told the server is going away"
    );
}

#[test]
fn the_transparency_worker_without_a_key_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    // Set but empty, as a compose file passes an unset variable on: not a key at all.
    for key in [None, Some(""), Some("  ")] {
        let mut command = supplyline();
        command.args(["transparency-log"]).env("DATABASE_URL", &url);
        match key {
            Some(key) => command.env("SUPPLYLINE_TLOG_KEY", key),
            None => command.env_remove("SUPPLYLINE_TLOG_KEY"),
        };
        let out = command.output().unwrap();
        assert!(!out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("needs a signing key"), "{key:?}: {said}");
        assert!(said.contains("audit keygen"), "{key:?}: {said}");
    }
}
