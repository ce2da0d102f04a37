//! The interface every storage backend implements. Callers never see it: they use
//! [`crate::EventStore`], which adds upcasting and the hash chain's checks on top.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use tokio::sync::watch;

use crate::group_commit::GroupCommitStats;
use crate::{
    AppendRequest, Appended, CommitPoint, IdempotencyClaim, IdempotentOutcome, KeyOutcome,
    LogFilter, Position, RawEvent, RecordedEvent, Snapshot, StoreError, StoredJson, StreamId,
};

/// Where the log lives, for the crates that keep their own tables beside it (read models,
/// checkpoints, leases).
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL: keep tables in the same database, through a pool of your own built from
    /// these options (the log's database, without the append path's statement timeouts; a
    /// pool apart, so the log's connections are never taken). Appends never wait on your
    /// transactions as long as they do not lock the `events` table.
    Postgres(sqlx::postgres::PgConnectOptions),
    /// SQLite has one writer per file, and the log's writer is the store's alone: keep tables
    /// in a database file of your own beside the log, and read the log through the store.
    Sqlite {
        /// The log's database file (`None` when it is in memory).
        log_file: Option<std::path::PathBuf>,
    },
}

/// A stream head that a snapshot or an idempotency key vouches for but the log contradicts: the
/// event at that version is missing or has another hash (events deleted or replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContradictedHead {
    /// The stream.
    pub stream: StreamId,
    /// The version the witness saw the stream at.
    pub version: u64,
    /// What vouches for it: `snapshot` or `idempotency key`.
    pub witness: String,
    /// Whether an event exists at that version (with another hash); `false`: it is gone.
    pub found: bool,
}

/// A stream locked for one append: while it is held no other append to the stream commits,
/// so a command decided now on the stream's latest state cannot lose a race. Dropping it
/// without appending releases the lock.
#[async_trait]
pub trait StreamLock: Send {
    /// The stream's latest snapshot, read under the lock (on its own connection: a lock never
    /// waits for a second one).
    async fn load_snapshot(&mut self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError>;

    /// The stream's events after `after_version`, as stored, read under the lock.
    async fn read_stream(
        &mut self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Appends (as [`Backend::append`]) and commits, releasing the lock.
    async fn append(
        self: Box<Self>,
        request: AppendRequest,
        commit: &CommitPoint,
    ) -> Result<Appended, StoreError>;
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

    /// Where the log lives, for crates keeping tables beside it.
    fn database(&self) -> Database;

    /// Appends the events atomically at `expected_version + 1..`, chained to `prev_hash`; a
    /// stream not at that version, or whose event there has another hash, is
    /// [`StoreError::Conflict`]. An idempotency key that already stands for an append returns
    /// that append with `replayed` set, and one that stands for another answer is
    /// [`StoreError::Answered`]; neither writes anything. `commit` is reached when the write
    /// is sent and can no longer be called back.
    async fn append(
        &self,
        request: AppendRequest,
        commit: &CommitPoint,
    ) -> Result<Appended, StoreError>;

    /// Locks `stream` for one append (see [`StreamLock`]); waits while another holds it.
    async fn lock_stream(&self, stream: &StreamId) -> Result<Box<dyn StreamLock>, StoreError>;

    /// The live (not expired) outcome of an idempotency key, if any.
    async fn idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, StoreError>;

    /// Records `outcome` (not an append) as the answer of the claim's key; if the key already
    /// stands for an answer, records nothing and returns that one.
    async fn record_outcome(
        &self,
        claim: &IdempotencyClaim,
        stream: &StreamId,
        outcome: &KeyOutcome,
    ) -> Result<Option<IdempotentOutcome>, StoreError>;

    /// Deletes up to `limit` expired idempotency keys; returns how many.
    async fn remove_expired_keys(&self, limit: u32) -> Result<u64, StoreError>;

    /// Up to `limit` stream heads vouched for by a snapshot or an idempotency key that the log
    /// contradicts (of one stream, or of all).
    async fn contradicted_heads(
        &self,
        stream: Option<&StreamId>,
        limit: u32,
    ) -> Result<Vec<ContradictedHead>, StoreError>;

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

    /// As [`Self::read_all`], with each event's payload and metadata as the stored JSON text.
    async fn read_all_raw(&self, after: Position, limit: u32) -> Result<Vec<RawEvent>, StoreError>;

    /// Up to `limit` events of the global log after `after`, in the same order as
    /// [`Self::read_all`], as stored, streamed: each event is handed over as soon as its row
    /// is decoded, in one query, so nothing is held per batch. Without `metadata`, each
    /// event's metadata is `null` (neither sent nor decoded).
    fn stream_all(
        &self,
        after: Position,
        limit: u32,
        metadata: bool,
    ) -> BoxStream<'_, Result<RecordedEvent, StoreError>>;

    /// Up to `limit` events of the global log after `after` that `filter` matches, in the
    /// order of [`Self::read_all`], as stored.
    async fn read_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// How many readable events after `after` `filter` matches, counting at most `cap`.
    async fn count_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        cap: u64,
    ) -> Result<u64, StoreError>;

    /// Up to `limit` events of every stream in (type, id, sequence) order after the given
    /// stream event, for whole-log audits.
    async fn read_streams_after(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The head of the log as readers see it.
    async fn head(&self) -> Result<LogHead, StoreError>;

    /// How many readable events come after `after`, counting at most `cap` (a lag figure,
    /// not a full scan of a long log).
    async fn count_after(&self, after: Position, cap: u64) -> Result<u64, StoreError>;

    /// The stream's latest snapshot, if any.
    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError>;

    /// The stream's latest snapshot and the events after it (all its events without one), as
    /// stored: what a cold load needs. Without `metadata`, a backend may leave each event's
    /// metadata as its `hash` alone (all that deciding the next command needs of it), neither
    /// sent whole nor decoded. A backend that can answers in one query; this default reads
    /// the snapshot, then the events after its version (any appended in between come along,
    /// which is as good), with their metadata.
    async fn load_stream(
        &self,
        stream: &StreamId,
        _metadata: bool,
    ) -> Result<(Option<Snapshot>, Vec<RecordedEvent>), StoreError> {
        let snapshot = self.load_snapshot(stream).await?;
        let after = snapshot.as_ref().map_or(0, |s| s.version);
        Ok((snapshot, self.read_stream(stream, after).await?))
    }

    /// As [`Self::load_stream`] (each event's metadata perhaps its `hash` alone), each event's
    /// JSON left as the text stored: what deciding a command needs, decoded by the executor
    /// straight into its event type. This default writes out what `load_stream` decoded.
    async fn load_to_decide(
        &self,
        stream: &StreamId,
    ) -> Result<(Option<Snapshot>, Vec<RawEvent>), StoreError> {
        let (snapshot, events) = self.load_stream(stream, false).await?;
        let events = events
            .into_iter()
            .map(|event| event.try_map_json(|json| StoredJson::from_value(&json)))
            .collect::<Result<_, _>>()?;
        Ok((snapshot, events))
    }

    /// Stores a snapshot unless a newer one is stored already.
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// Stores each snapshot that the log still bears out (its version's event is there, with
    /// its hash: snapshots taken long ago may speak of a history the log lost since), unless
    /// a newer one of its stream is stored already.
    async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError>;

    /// How group commit has gone so far, where appends are committed in groups.
    fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        None
    }

    /// A receiver that changes whenever events may have been appended (by this process or,
    /// where the backend can tell, another); never the only way to notice new events.
    fn wakeups(&self) -> watch::Receiver<u64>;
}
