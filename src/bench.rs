//! `supplyline bench ...`: throughput figures printed next to the raw database ceiling
//! measured in the same run, as ratios.

mod all;
mod commands;
mod hot;
mod load_client;
mod pgbench;
mod processes;
mod projections;
mod queries;
mod relay;
mod served;
mod store;
mod transparency;

pub use all::run as run_all;
pub use commands::{CommandBenchOptions, run as run_commands};

use all::record;
pub use hot::{HotBenchOptions, run as run_hot};
pub use processes::{ProcessBenchOptions, run as run_processes};
pub use projections::{ProjectionBenchOptions, run as run_projections};
pub use queries::{QueryBenchOptions, run as run_queries};
pub use relay::{RelayBenchOptions, run as run_relay};
pub use transparency::{TransparencyBenchOptions, run as run_transparency};

use std::future::Future;

use anyhow::Context;
use event_store::ScratchDatabase;

/// Rebuilds every read model from the log, with the default settings and no progress shown.
async fn rebuild_every_model(
    store: &event_store::EventStore,
    db: &::projections::ReadDb,
) -> Result<::projections::RebuildReport, ::projections::ProjectionError> {
    let mut all = ::projections::models::all();
    let mut refs: Vec<&mut dyn ::projections::Projection> =
        all.iter_mut().map(|p| p.as_mut()).collect();
    ::projections::rebuild(
        store,
        db,
        &mut refs,
        &::projections::Unwatched,
        ::projections::rebuild::RebuildSettings::default(),
    )
    .await
}

/// Runs `bench` on a fresh database on the PostgreSQL server `admin_url` names, and drops the
/// database afterwards.
async fn on_scratch_database<F, Fut>(admin_url: &str, bench: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let database = ScratchDatabase::create(admin_url, "sl_bench")
        .await
        .context("benchmarks run on PostgreSQL: set DATABASE_URL to a postgres:// URL")?;
    let outcome = bench(database.url().to_owned()).await;
    database.drop_database().await?;
    outcome
}
pub use store::{StoreBenchOptions, run as run_store};

/// The body of `POST /v1/stock-items` for a benchmark's stock item: registered by its farmer,
/// or by an administrator on behalf of `farmer`.
fn stock_item_registration(
    product: &str,
    on_behalf_of: Option<&str>,
    initial_quantity: u64,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "product_name": product,
        "category": "vegetables",
        "unit": "bunch",
        "unit_price_cents": 300,
        "quality_grade": "A",
        "certifications": [],
        "low_stock_threshold": 0,
        "initial_quantity": initial_quantity,
    });
    if let Some(farmer) = on_behalf_of {
        body["farmer_id"] = serde_json::Value::from(farmer);
    }
    body
}

/// The `q` quantile of `values` (0 for none).
fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Prints a line of `latencies` (ms: how many, p50, p99, max) and records p50 and p99 as the
/// figure `what` of `bench`.
fn report_latencies(bench: &'static str, what: String, latencies: &[f64]) {
    let (p50, p99) = (percentile(latencies, 0.5), percentile(latencies, 0.99));
    println!(
        "  {} commands: p50 {p50:.1} ms   p99 {p99:.1} ms   max {:.1} ms",
        latencies.len(),
        percentile(latencies, 1.0)
    );
    record(
        bench,
        what,
        format!("p50 {p50:.1} ms p99 {p99:.1} ms"),
        None,
        None,
    );
}

/// Latencies in milliseconds, for [`percentile`].
fn milliseconds(latencies: &[std::time::Duration]) -> Vec<f64> {
    latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_pick_from_the_sorted_values() {
        let values = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&values, 0.5), 3.0);
        assert_eq!(percentile(&values, 1.0), 5.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }
}
