//! [`EventStore`]: what every caller uses. It picks the backend from the database URL and
//! upcasts on every read path, so callers only ever see current event versions.

use std::sync::Arc;

use futures_util::{Stream, TryStreamExt};
use tokio::sync::watch;

use crate::backend::{Backend, Database, LogHead, StreamLock};
use crate::postgres::PostgresBackend;
use crate::sqlite::SqliteBackend;
use crate::{
    AppendRequest, Appended, CommitPoint, GroupCommitStats, IdempotencyClaim, IdempotentOutcome,
    KeyOutcome, LogFilter, Position, RawEvent, RecordedEvent, Snapshot, StoreError, StoreOptions,
    StoredJson, StreamId,
};

/// The log, on whichever backend the URL names.
#[derive(Clone)]
pub struct EventStore {
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("backend", &self.backend.name())
            .finish()
    }
}

impl EventStore {
    /// Opens the store named by `url`: `postgres://...` (or `postgresql://`) or
    /// `sqlite://<path>`, with the default options. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Opens the store named by `url` with these options. Does not migrate.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let backend = PostgresBackend::connect(url, options)?;
            Ok(Self::new(Arc::new(backend)))
        } else if url.starts_with("sqlite:") {
            Ok(Self::new(Arc::new(
                SqliteBackend::connect_with(url, options).await?,
            )))
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL `{}`: use postgres://... or sqlite://<path>",
                url.split('@').next_back().unwrap_or_default()
            )))
        }
    }

    /// A store over an already built backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// The backend's name (`postgres`, `sqlite`).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Where the log lives, for the crates that keep their own tables beside it.
    pub fn database(&self) -> Database {
        self.backend.database()
    }

    /// The backend itself, for audits that must read events exactly as stored.
    pub(crate) fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// How group commit has gone so far (`None` where the backend commits each append alone).
    pub fn group_commit_stats(&self) -> Option<GroupCommitStats> {
        self.backend.group_commit_stats()
    }

    /// Applies the migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.backend.migrate().await
    }

    /// Whether the store answers and is migrated.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.backend.ready().await
    }

    /// Appends events atomically at the expected version (see [`Backend::append`]).
    pub async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        self.backend.append(request, &CommitPoint::new()).await
    }

    /// Appends, reaching `commit` when the write is sent (see [`CommitPoint`]).
    pub async fn append_noting(
        &self,
        request: AppendRequest,
        commit: &CommitPoint,
    ) -> Result<Appended, StoreError> {
        self.backend.append(request, commit).await
    }

    /// Locks `stream` for one append, waiting while another holds it (see [`StreamLock`]).
    pub async fn lock_stream(&self, stream: &StreamId) -> Result<Box<dyn StreamLock>, StoreError> {
        self.backend.lock_stream(stream).await
    }

    /// Records a first answer that appended nothing under the claim's key; returns the key's
    /// earlier answer instead if it already has one.
    pub async fn record_outcome(
        &self,
        claim: &IdempotencyClaim,
        stream: &StreamId,
        outcome: &KeyOutcome,
    ) -> Result<Option<IdempotentOutcome>, StoreError> {
        self.backend.record_outcome(claim, stream, outcome).await
    }

    /// Deletes expired idempotency keys, in batches of `batch` (short transactions, so the
    /// log's readers are never held back); returns how many.
    pub async fn remove_expired_keys(&self, batch: u32) -> Result<u64, StoreError> {
        let mut removed = 0;
        loop {
            let n = self.backend.remove_expired_keys(batch.max(1)).await?;
            removed += n;
            if n < u64::from(batch.max(1)) {
                return Ok(removed);
            }
        }
    }

    /// The live outcome of an idempotency key, if any.
    pub async fn idempotent_outcome(
        &self,
        key: &str,
    ) -> Result<Option<IdempotentOutcome>, StoreError> {
        self.backend.idempotent_outcome(key).await
    }

    /// The stream's events after `after_version`, upcast to current versions.
    pub async fn read_stream(
        &self,
        stream: &StreamId,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.backend.read_stream(stream, after_version).await?;
        Ok(upcast_all(events))
    }

    /// Up to `limit` events of the global log after `after`, upcast to current versions.
    pub async fn read_all(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.backend.read_all(after, limit).await?;
        Ok(upcast_all(events))
    }

    /// As [`Self::read_all`], each event as stored, not upcast: what hashes over the log
    /// cover.
    pub async fn read_all_as_stored(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.backend.read_all(after, limit).await
    }

    /// As [`Self::read_all`], with each event's payload and metadata as the stored JSON text
    /// (decoded and written again only for an event an upcaster changes): what a reader that
    /// passes events on without looking into them reads, at a fraction of the decoding.
    pub async fn read_all_raw(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let events = self.backend.read_all_raw(after, limit).await?;
        events.into_iter().map(upcast_raw).collect()
    }

    /// Up to `limit` events of the global log after `after` that `filter` matches, upcast to
    /// current versions.
    pub async fn read_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.backend.read_filtered(filter, after, limit).await?;
        Ok(upcast_all(events))
    }

    /// How many readable events after `after` `filter` matches, counting at most `cap`.
    pub async fn count_filtered(
        &self,
        filter: &LogFilter,
        after: Position,
        cap: u64,
    ) -> Result<u64, StoreError> {
        let cap = cap.min(i64::MAX.unsigned_abs());
        self.backend.count_filtered(filter, after, cap).await
    }

    /// Up to `limit` events of the global log after `after`, upcast, streamed: each event is
    /// handed over as soon as it is decoded, in one query, so a long read (a rebuild) holds no
    /// batch in memory and overlaps decoding with the transfer. Read on after the last event
    /// seen while a stream ends with `limit` events.
    pub fn stream_all(
        &self,
        after: Position,
        limit: u32,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + '_ {
        self.backend
            .stream_all(after, limit, true)
            .map_ok(upcast_one)
    }

    /// As [`Self::stream_all`], without the events' metadata (`null`): what a rebuild, which
    /// folds payloads only, reads, at a fraction of the transfer and decoding.
    pub fn stream_bodies(
        &self,
        after: Position,
        limit: u32,
    ) -> impl Stream<Item = Result<RecordedEvent, StoreError>> + '_ {
        self.backend
            .stream_all(after, limit, false)
            .map_ok(upcast_one)
    }

    /// As [`Self::read_all`], without the events' metadata (`null`): what a projector, which
    /// folds payloads only, reads, at a fraction of the transfer and decoding.
    pub async fn read_bodies(
        &self,
        after: Position,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.stream_bodies(after, limit).try_collect().await
    }

    /// The head of the log as readers see it.
    pub async fn head(&self) -> Result<LogHead, StoreError> {
        self.backend.head().await
    }

    /// How many readable events come after `after`, counting at most `cap`.
    pub async fn count_after(&self, after: Position, cap: u64) -> Result<u64, StoreError> {
        // The databases count in signed 64 bits.
        let cap = cap.min(i64::MAX.unsigned_abs());
        self.backend.count_after(after, cap).await
    }

    /// The stream's latest snapshot.
    pub async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, StoreError> {
        self.backend.load_snapshot(stream).await
    }

    /// The stream's latest snapshot and its events after it, upcast to current versions (one
    /// query on PostgreSQL): a cold load.
    pub async fn load_stream(
        &self,
        stream: &StreamId,
    ) -> Result<(Option<Snapshot>, Vec<RecordedEvent>), StoreError> {
        let (snapshot, events) = self.backend.load_stream(stream, true).await?;
        Ok((snapshot, upcast_all(events)))
    }

    /// As [`Self::load_stream`], each event's payload left as its JSON text and its metadata
    /// perhaps its `hash` alone: what deciding a command needs, for less to send and decode.
    pub(crate) async fn load_to_decide(
        &self,
        stream: &StreamId,
    ) -> Result<(Option<Snapshot>, Vec<RawEvent>), StoreError> {
        let (snapshot, events) = self.backend.load_to_decide(stream).await?;
        let events = events
            .into_iter()
            .map(upcast_raw)
            .collect::<Result<_, _>>()?;
        Ok((snapshot, events))
    }

    /// Stores a snapshot unless a newer one exists.
    pub async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.backend.save_snapshot(snapshot).await
    }

    /// Stores each snapshot that the log bears out (its version's event is there, with its
    /// hash) unless a newer one of its stream exists.
    pub async fn save_snapshots(&self, snapshots: &[Snapshot]) -> Result<(), StoreError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        self.backend.save_snapshots(snapshots).await
    }

    /// A receiver that changes when events may have been appended.
    pub fn wakeups(&self) -> watch::Receiver<u64> {
        self.backend.wakeups()
    }
}

/// Upcasts stored events to their current versions. Only the events some upcaster applies to
/// are taken apart into a `SerializedEvent` and rebuilt; the others, nearly all, pass as they
/// are.
pub(crate) fn upcast_all(events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
    events.into_iter().map(upcast_one).collect()
}

/// Upcasts one stored event whose JSON is still text: only one an upcaster changes is decoded.
fn upcast_raw(event: RawEvent) -> Result<RawEvent, StoreError> {
    if !event_schemas::needs_upcast(&event.event_type, &event.event_version) {
        return Ok(event);
    }
    let decoded = event.try_map_json(|raw| serde_json::from_str::<serde_json::Value>(raw.get()))?;
    let upcast = decoded.upcast(event_schemas::upcast);
    Ok(upcast.try_map_json(|value| StoredJson::from_value(&value))?)
}

/// Upcasts one stored event to its current version.
fn upcast_one(event: RecordedEvent) -> RecordedEvent {
    if event_schemas::needs_upcast(&event.event_type, &event.event_version) {
        event.upcast(event_schemas::upcast)
    } else {
        event
    }
}
