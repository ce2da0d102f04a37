//! `supplyline bench ...`: throughput figures printed next to the raw database ceiling
//! measured in the same run, as ratios.

mod commands;
mod hot;
mod processes;
mod projections;
mod served;
mod store;

pub use commands::{CommandBenchOptions, run as run_commands};
pub use hot::{HotBenchOptions, run as run_hot};
pub use processes::{ProcessBenchOptions, run as run_processes};
pub use projections::{ProjectionBenchOptions, run as run_projections};

use std::future::Future;

use anyhow::Context;
use event_store::ScratchDatabase;

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
