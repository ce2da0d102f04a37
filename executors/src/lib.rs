//! The write model of one process: the five aggregates' executors over one store, built once
//! and shared by everything that issues commands (the command API and the process managers),
//! so that they take turns on the same aggregates and share what they keep in memory; and the
//! mapping from an aggregate type's name (`stock`, `order`, ...) to its Rust type, for audits
//! and replays.

mod aggregate_type;
mod owners;
mod registry;

pub use aggregate_type::{AggregateType, Replayed, UnknownAggregateType};
pub use owners::StoreStockItemOwners;
pub use registry::{ExecutorSettings, Executors};
