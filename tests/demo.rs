//! `serve --demo` as a new user runs it: the binary with no configuration seeds a day, GraphQL
//! answers with it, and a second start seeds nothing more.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::{Process, free_port, graphql};

/// A `supplyline` command run in `dir` with no configuration.
fn supplyline(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_supplyline"));
    command
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SUPPLYLINE_JWT_SECRET");
    command
}

/// Starts `serve --demo` in `dir` on `port`; the process and the lines it prints.
fn serve_demo(dir: &Path, port: u16) -> (Process, mpsc::Receiver<String>) {
    let mut child = supplyline(dir)
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, printed) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    (Process(child), printed)
}

/// Waits for a printed line starting with `prefix`.
fn line_starting(printed: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = printed
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("no line starting `{prefix}`"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

async fn ask(port: u16, token: &str, query: &str) -> Value {
    graphql(&format!("http://127.0.0.1:{port}"), token, query).await
}

/// The statuses of a connection's nodes, sorted.
fn statuses(connection: &Value) -> Vec<String> {
    let mut found: Vec<String> = connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["status"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeds_a_day_that_graphql_answers_with_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut server, printed) = serve_demo(dir.path(), port);
    let banner = line_starting(&printed, "supplyline is listening");
    assert!(banner.contains(&port.to_string()), "{banner}");
    line_starting(&printed, "demo: seeded");

    let token = supplyline(dir.path())
        .args(["token", "--sub", "admin-1", "--role", "admin"])
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let day = "{ orders(first: 20) { totalCount edges { node { status } } } \
                deliveries { edges { node { status } } } \
                inspections { edges { node { status } } } \
                purchases { edges { node { status } } } \
                stockItems { edges { node { productName quarantined } } } }";
    let seeded = ask(port, &token, day).await;
    assert_eq!(
        statuses(&seeded["orders"]),
        [
            "CANCELLED",
            "CONFIRMED",
            "DELIVERED",
            "DELIVERED",
            "IN_TRANSIT",
            "PREPARING",
            "READY_FOR_PICKUP",
            "REJECTED"
        ]
    );
    assert_eq!(
        statuses(&seeded["deliveries"]),
        [
            "DELIVERED",
            "DELIVERED",
            "FAILED",
            "IN_TRANSIT",
            "SCHEDULED"
        ]
    );
    assert_eq!(
        statuses(&seeded["inspections"]),
        ["FAILED", "PASSED", "PASSED"]
    );
    assert_eq!(statuses(&seeded["purchases"]), ["COMPLETED"]);
    // The failed inspection's quarantine was released by the one that passed.
    assert!(
        seeded["stockItems"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["quarantined"] == false)
    );
    let lettuce = ask(
        port,
        &token,
        "{ events(filter: {eventType: \"QuarantineReleased\"}) { totalCount } }",
    )
    .await;
    assert_eq!(lettuce["events"]["totalCount"], 1);

    assert!(server.terminate().success());

    // A second start leaves the day as it was.
    let (_server, printed) = serve_demo(dir.path(), port);
    let again = line_starting(&printed, "demo:");
    assert!(again.contains("already there"), "{again}");
    let after = ask(port, &token, "{ orders { totalCount } }").await;
    assert_eq!(after["orders"]["totalCount"], 8);
}
