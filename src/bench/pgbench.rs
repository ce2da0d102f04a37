//! The single-row ceiling measured by pgbench itself: prepared single-row INSERT transactions
//! of an event row, at a given concurrency, into a table shaped like the log's. A separate
//! process with libpq, so the ceiling owes nothing to our client's costs.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sqlx::postgres::PgSslMode;

/// The payload and metadata of the rows the ceilings insert: what a `receive` command records.
pub(super) fn event_row_json() -> (Value, Value) {
    let payload = json!({"StockReceived": {"quantity": 1, "purchase_id": null,
        "levels": {"on_hand": 1, "reserved": 0}, "received_at": "2026-05-01T08:00:00Z"}});
    let id = uuid::Uuid::now_v7();
    let metadata = json!({"event_id": id, "correlation_id": id, "causation_id": id,
        "actor": {"sub": "bench-farmer-0", "role": "farmer"}, "command": "ReceiveStock",
        "idempotency_key": null, "request_id": id, "recorded_at": "2026-05-01T08:00:00.123456Z",
        "prev_hash": "0".repeat(64), "hash": "1".repeat(64)});
    (payload, metadata)
}

/// The script each pgbench client runs: one INSERT, its own transaction. The row's JSON comes
/// in variables, so that prepared mode binds it as parameters (as our appends do).
const SCRIPT: &str = "\\set seq random(1, 1000000000000000)\n\
    INSERT INTO {table} (aggregate_type, aggregate_id, sequence, event_type, event_version, \
    payload, metadata, epoch) VALUES ('stock', 'pgbench-' || :client_id::text, :seq, \
    'StockReceived', '1.0.0', :payload, :metadata, 0);\n";

/// Transactions per second of pgbench inserting event rows into `table` (a copy of `events`)
/// of the database at `url`, `clients` connections for `seconds`, connected with TLS as `ssl`
/// says (so that the ceiling and the store connect alike).
pub(super) async fn single_row_inserts(
    url: &str,
    ssl: PgSslMode,
    table: &str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<f64> {
    let (payload, metadata) = event_row_json();
    let script_path =
        std::env::temp_dir().join(format!("supplyline-pgbench-{}.sql", uuid::Uuid::now_v7()));
    std::fs::write(&script_path, SCRIPT.replace("{table}", table))
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    let mut command = Command::new("pgbench");
    command
        .args(["--no-vacuum", "--protocol=prepared", "--client"])
        .arg(clients.to_string())
        .args(["--jobs", "2", "--time"])
        .arg(format!("{}", seconds.ceil().max(1.0)))
        .arg("--file")
        .arg(&script_path)
        .arg("--define")
        .arg(format!("payload={payload}"))
        .arg("--define")
        .arg(format!("metadata={metadata}"))
        .arg(url)
        .env("PGSSLMODE", libpq_ssl_mode(ssl));
    let output = tokio::task::spawn_blocking(move || command.output()).await?;
    std::fs::remove_file(&script_path).ok();
    let output = output
        .context("cannot run pgbench (it ships with the PostgreSQL client: postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    tps(&stdout).with_context(|| format!("no tps in pgbench's output:\n{stdout}"))
}

/// The `tps = ...` figure of pgbench's report.
fn tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
}

/// libpq's name of `mode` (only where the URL names none: libpq prefers the URL's own).
fn libpq_ssl_mode(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tps_line_is_read() {
        let report = "number of failed transactions: 0 (0.000%)\n\
                      latency average = 0.794 ms\n\
                      initial connection time = 12.345 ms\n\
                      tps = 20145.123456 (without initial connection time)\n";
        assert_eq!(tps(report), Some(20145.123456));
        assert_eq!(tps("latency average = 0.794 ms\n"), None);
    }
}
