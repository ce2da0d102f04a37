//! The interface every storage backend implements. Callers never see it: they use
//! [`crate::EventStore`], which adds upcasting and the hash chain's checks on top.

use async_trait::async_trait;
use tokio::sync::watch;

use crate::{AppendRequest, Appended, Position, RecordedEvent, Snapshot, StoreError, StreamId};

/// The stored outcome of an append made under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentOutcome {
    /// The fingerprint of the request the key was first used with.
    pub fingerprint: String,
    /// The stream that request appended to.
    pub stream: StreamId,
    /// What the append did.
    pub appended: Appended,
}

/// Where the global log's readers stand relative to writers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogHead {
    /// The last event readers can see (`None` for an empty log).
    pub readable: Option<Position>,
    /// How long the oldest transaction still running in the database has been open, in
    /// seconds: readers cannot pass its events until it ends (PostgreSQL only).
    pub horizon_age_seconds: Option<f64>,
}

/// A storage backend for the log (PostgreSQL, SQLite; KurrentDB could be a third).
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name for logs and metrics: `postgres`, `sqlite`.
    fn name(&self) -> &'static str;

    /// Applies the backend's migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Whether the database answers and is migrated.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Appends the events atomically at `expected_version + 1..`, filling their hash chain;
    /// a concurrent append at the same version is [`StoreError::Conflict`]; an idempotency key
    /// already stored returns the first append's result with `replayed` set, and writes nothing.
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError>;

    /// The stored outcome of an idempotency key, if any.
    async fn idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, StoreError>;

    /// The stream's events with a sequence above `after_version`, in order, as stored.
    async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of the global log after `after`, in an order that never skips a
    /// committed event, as stored.
    async fn read_all(&self, after: Position, limit: u32)
    -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of every stream in (type, id, sequence) order after the given
    /// stream event, for whole-log audits.
    async fn read_streams_after(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The head of the log as readers see it.
    async fn head(&self) -> Result<LogHead, StoreError>;

    /// The stream's latest snapshot, if any.
    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError>;

    /// Stores a snapshot unless a newer one is stored already.
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// A receiver that changes whenever events may have been appended (by this process or,
    /// where the backend can tell, another); never the only way to notice new events.
    fn wakeups(&self) -> watch::Receiver<u64>;
}
