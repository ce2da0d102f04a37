//! `supplyline bench ...`: throughput figures printed next to the raw database ceiling
//! measured in the same run, as ratios.

mod store;

pub use store::{StoreBenchOptions, run as run_store};
