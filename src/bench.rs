//! `supplyline bench ...`: throughput figures printed next to the raw database ceiling
//! measured in the same run, as ratios.

mod commands;
mod hot;
mod store;

pub use commands::{CommandBenchOptions, run as run_commands};
pub use hot::{HotBenchOptions, run as run_hot};
pub use store::{StoreBenchOptions, run as run_store};
