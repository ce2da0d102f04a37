//! What can go wrong in the read side.

use event_store::StoreError;

/// An error of the projector runtime, a rebuild or a read-model query.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The log could not be read.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// The read models' database failed.
    #[error("read-model database: {0}")]
    Database(#[from] sqlx::Error),
    /// An event could not be applied.
    #[error("cannot apply {event} at {position}: {message}")]
    Apply {
        /// The event, as `type/id #sequence`.
        event: String,
        /// Its position token.
        position: String,
        /// Why.
        message: String,
    },
    /// No projection has this name.
    #[error("no projection is named `{0}`")]
    Unknown(String),
    /// Stored state that cannot be read.
    #[error("corrupt projection state: {0}")]
    Corrupt(String),
    /// A lease could not be taken (its file could not be opened or locked).
    #[error("lease: {0}")]
    Lease(String),
    /// The lease was lost (its connection died or the lock is gone).
    #[error("the projection's lease was lost")]
    LeaseLost,
    /// The process is stopping: the work was given up before it finished.
    #[error("stopped before finishing")]
    Stopped,
    /// A rebuild lost its claim or one of its batches (the database restarted under it).
    #[error("the rebuild of `{0}` was interrupted (its claim or a batch was lost): run it again")]
    RebuildInterrupted(String),
    /// Another rebuild of the projection is under way.
    #[error("a rebuild of `{0}` is already under way")]
    RebuildUnderWay(String),
    /// A process manager cannot be rebuilt: it would issue its commands again.
    #[error(
        "`{0}` is a process manager: it issues commands, so it is never rebuilt (its state \
         moves only forward, with the log)"
    )]
    NotRebuildable(String),
    /// A process manager's stored state is of another version than this build's.
    #[error(
        "the process manager `{name}` has state version {stored}, this build knows {ours}: \
         a process manager is never rebuilt, so its state must be migrated"
    )]
    ProcessVersion {
        /// The process manager.
        name: String,
        /// The version of its stored state.
        stored: i64,
        /// This build's version.
        ours: i64,
    },
    /// The projection's tables are of a newer schema than this build knows.
    #[error("`{name}` has schema version {stored}, newer than this build's {ours}: upgrade")]
    NewerSchema {
        /// The projection.
        name: String,
        /// The version of its tables.
        stored: i64,
        /// This build's version.
        ours: i64,
    },
}
