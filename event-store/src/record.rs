//! What goes into the log and what comes out of it.

use chrono::{DateTime, Utc};
use cqrs_es::persist::SerializedEvent;
use event_schemas::{ChainHash, EventMetadata};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::{Position, StoreError};

/// One aggregate's stream: its type (`stock`, `order`...) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
}

impl StreamId {
    /// The stream of aggregate `aggregate_id` of type `aggregate_type`.
    pub fn new(aggregate_type: impl Into<String>, aggregate_id: impl Into<String>) -> Self {
        Self {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.aggregate_type, self.aggregate_id)
    }
}

/// An event to append. Its metadata's `prev_hash` and `hash` are filled in by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The stable event type, e.g. `StockReserved`.
    pub event_type: String,
    /// The payload schema's version.
    pub event_version: String,
    /// The serialized payload.
    pub payload: Value,
    /// Who, what, why (hash fields are overwritten).
    pub metadata: EventMetadata,
}

/// An idempotency key claimed by an append, with a fingerprint of the request it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The key, already scoped by the caller (e.g. to the actor).
    pub key: String,
    /// A digest of the request; the same key with another fingerprint is refused.
    pub fingerprint: String,
    /// How long the key stands for its first answer (`None`: forever, for the system actor,
    /// whose process managers may replay after any outage).
    pub ttl: Option<std::time::Duration>,
}

/// An append: events for one stream, expected at a version, chained to its last hash.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    /// The stream appended to.
    pub stream: StreamId,
    /// The stream's version the events were decided on (0 for a new stream).
    pub expected_version: u64,
    /// The hash of the stream's last event ([`ChainHash::GENESIS`] for a new stream).
    pub prev_hash: ChainHash,
    /// The events, in order; at least one.
    pub events: Vec<NewEvent>,
    /// The idempotency key, if the client sent one.
    pub idempotency: Option<IdempotencyClaim>,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
    /// The global position of the last event appended.
    pub position: Position,
    /// The hash of the last event appended.
    pub last_hash: ChainHash,
    /// True when nothing was written because the idempotency key already stood for this
    /// request: the values are the first append's.
    pub replayed: bool,
}

/// An event as stored in the log, its payload and metadata decoded as `J` (a JSON value by
/// default; see [`RawEvent`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent<J = Value> {
    /// Its stream.
    pub stream: StreamId,
    /// Its place in the stream (1, 2, ...).
    pub sequence: u64,
    /// Its event type.
    pub event_type: String,
    /// Its payload schema's version (after upcasting, on the store's read paths).
    pub event_version: String,
    /// Its payload.
    pub payload: J,
    /// Its metadata, as stored.
    pub metadata: J,
    /// Its global position.
    pub position: Position,
    /// When the database recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// An event whose payload and metadata are the JSON text the store holds, not decoded: what a
/// reader that only passes them on (the relay) reads, at a fraction of the decoding.
pub type RawEvent = RecordedEvent<StoredJson>;

/// JSON text as the store holds it, neither decoded nor checked again on the way out: the
/// database checked it on the way in (PostgreSQL's `jsonb` holds nothing else), and SQLite's
/// text is checked as it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredJson(Box<str>);

impl StoredJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }

    /// `value` written as JSON text.
    pub fn from_value(value: &Value) -> Result<Self, serde_json::Error> {
        Ok(Self(serde_json::to_string(value)?.into_boxed_str()))
    }

    /// Text a database vouches is JSON.
    pub(crate) fn vouched(text: String) -> Self {
        Self(text.into_boxed_str())
    }
}

/// Checks the text is JSON, and keeps it as it is.
impl<'de> serde::Deserialize<'de> for StoredJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self(raw.into()))
    }
}

impl<J> RecordedEvent<J> {
    /// The same event with its payload and metadata turned into `K` by `convert`.
    pub fn try_map_json<K, E>(
        self,
        mut convert: impl FnMut(J) -> Result<K, E>,
    ) -> Result<RecordedEvent<K>, E> {
        Ok(RecordedEvent {
            payload: convert(self.payload)?,
            metadata: convert(self.metadata)?,
            stream: self.stream,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            position: self.position,
            recorded_at: self.recorded_at,
        })
    }
}

impl RawEvent {
    /// The event's `hash`, read from its metadata's text.
    pub fn hash(&self) -> Result<ChainHash, StoreError> {
        #[derive(serde::Deserialize)]
        struct Hashed {
            hash: String,
        }
        serde_json::from_str::<Hashed>(self.metadata.get())
            .ok()
            .and_then(|m| m.hash.parse().ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{} #{}: no valid hash", self.stream, self.sequence))
            })
    }
}

impl RecordedEvent {
    /// The metadata, typed.
    pub fn typed_metadata(&self) -> Result<EventMetadata, StoreError> {
        serde_json::from_value(self.metadata.clone()).map_err(|e| {
            StoreError::Corrupt(format!("{} #{}: metadata: {e}", self.stream, self.sequence))
        })
    }

    /// When the event was recorded, as its metadata says: the time its hash covers (unlike the
    /// `recorded_at` column, which the database fills and nothing protects).
    pub fn hashed_recorded_at(&self) -> Result<DateTime<Utc>, StoreError> {
        self.metadata
            .get("recorded_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{} #{}: no valid recorded_at in the metadata",
                    self.stream, self.sequence
                ))
            })
    }

    /// The event's `hash`, read from its metadata.
    pub fn hash(&self) -> Result<ChainHash, StoreError> {
        self.metadata
            .get("hash")
            .and_then(Value::as_str)
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("{} #{}: no valid hash", self.stream, self.sequence))
            })
    }

    /// Runs the event through cqrs-es upcasters (`event_schemas::upcast`), so every read path
    /// returns current event versions.
    pub fn upcast(self, upcast: impl Fn(SerializedEvent) -> SerializedEvent) -> Self {
        let Self {
            stream,
            sequence,
            event_type,
            event_version,
            payload,
            metadata,
            position,
            recorded_at,
        } = self;
        let serialized = upcast(SerializedEvent {
            aggregate_id: stream.aggregate_id,
            sequence: usize::try_from(sequence).unwrap_or(usize::MAX),
            aggregate_type: stream.aggregate_type,
            event_type,
            event_version,
            payload,
            metadata,
        });
        Self {
            stream: StreamId::new(serialized.aggregate_type, serialized.aggregate_id),
            sequence,
            event_type: serialized.event_type,
            event_version: serialized.event_version,
            payload: serialized.payload,
            metadata: serialized.metadata,
            position,
            recorded_at,
        }
    }
}

/// An aggregate's state at a version, so loading it replays only later events.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Its stream.
    pub stream: StreamId,
    /// The stream version the state includes.
    pub version: u64,
    /// The aggregate's serialized state.
    pub state: Value,
    /// The hash of the event at `version`, to chain the next append.
    pub last_hash: ChainHash,
    /// The position of the event at `version`.
    pub position: Position,
}
