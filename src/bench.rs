//! `supplyline bench ...`: throughput figures printed next to the raw database ceiling
//! measured in the same run, as ratios.

mod database;
mod store;

pub use store::{StoreBenchOptions, run as run_store};
