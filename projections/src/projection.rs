//! What a projection is to the runtime: named tables at a schema version, and the events it
//! folds into them batch by batch.

use async_trait::async_trait;
use event_store::Position;

use crate::changes::Changes;
use crate::db::ReadDb;
use crate::event::Event;
use crate::table::{Table, Tables};

/// Rows a projection may keep between batches before they are dropped (once written).
pub const KEEP_LIMIT: usize = 200_000;

/// Why a projection could not apply an event (an event that contradicts its rows).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(pub String);

/// Why a batch's commands could not all be carried out: the event whose commands failed, and
/// why. The batch is not committed; it is retried, and its commands with it (they are
/// idempotent).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SettleError {
    /// The causing event's position.
    pub position: Position,
    /// The causing event, as `type/id #sequence`.
    pub event: String,
    /// Why.
    pub message: String,
}

/// A read model's builder: it owns its tables and turns events into rows.
///
/// The runtime calls, per batch: [`Projection::load`] with every event of the batch, then
/// [`Projection::apply`] for each in log order, then [`Projection::take_changes`], and writes
/// those changes with the checkpoint in one transaction. A projection keeps rows between
/// batches; [`Projection::forget`] drops them when a batch fails or the tables change.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Its name, e.g. `orders`.
    fn name(&self) -> &'static str;

    /// Its schema version: raised whenever its tables or the way rows are computed change,
    /// which rebuilds it on start.
    fn version(&self) -> i64;

    /// The tables it owns.
    fn tables(&self) -> &'static [&'static Table];

    /// Loads the rows the events will need that it does not keep yet, from `tables`.
    async fn load(&mut self, events: &[Event], db: &ReadDb, tables: Tables) -> sqlx::Result<()>;

    /// Applies one event to the rows in memory.
    fn apply(&mut self, event: &Event) -> Result<(), ApplyError>;

    /// Carries out what the batch's events ask for besides rows, before the rows are written
    /// with the checkpoint: a process manager issues its commands here. Nothing, for a read
    /// model.
    async fn settle(&mut self) -> Result<(), SettleError> {
        Ok(())
    }

    /// Whether it issues commands (a process manager): it is then never rebuilt, since a
    /// rebuild would run its decisions again from the start of the log.
    fn issues_commands(&self) -> bool {
        false
    }

    /// The rows the batch changed, to write.
    fn take_changes(&mut self) -> Changes;

    /// How many rows it keeps (the runtime drops them, once written, past a limit).
    fn kept(&self) -> usize;

    /// Drops every kept row.
    fn forget(&mut self);
}
