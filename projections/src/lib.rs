//! supplyline's read side: the projector runtime and the read models.
//!
//! A projection ([`Projection`]) owns tables and folds events into them. The runtime
//! ([`Runtime`]) runs each projection as a loop: read a batch of the global log after its
//! checkpoint, apply it in memory, and write the changed rows with the new checkpoint in one
//! transaction, so a crash anywhere neither loses nor repeats an event. One instance per
//! projection is live (a lease); the others stand by. A projection that fails on an event
//! stops there, records why, and retries with backoff; it never skips.
//!
//! A rebuild ([`rebuild`]) builds a projection's tables afresh under new names while the live
//! ones keep serving, then swaps them in one transaction with the checkpoint.
//!
//! The process managers ([`processes`]) run on the same runtime: their output is commands,
//! issued through the shared executors before each batch commits, and they are never rebuilt.
//!
//! The read models ([`models`]) each own their tables and the typed queries over them, for
//! the query API. On PostgreSQL they live in the log's database; on SQLite in a file of their
//! own beside the log's ([`db::read_model_file`]), so appends never wait behind a batch.

pub mod cache;
pub mod ceiling;
pub mod changes;
pub mod checksum;
mod convert;
pub mod db;
mod error;
pub mod event;
pub mod lease;
pub mod models;
pub mod processes;
pub mod projection;
pub mod query;
pub mod rebuild;
pub mod runtime;
pub mod simulate;
pub mod status;
pub mod table;
pub mod time;

pub use db::ReadDb;
pub use error::ProjectionError;
pub use projection::{ApplyError, Projection, SettleError};
pub use rebuild::{Progress, RebuildReport, Spent, Unwatched, rebuild};
pub use runtime::{Runtime, RuntimeSettings};
