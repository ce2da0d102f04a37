//! Links an append's events into their stream's hash chain before they are written.

use event_schemas::ChainHash;
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use crate::hash::event_hash;
use crate::{AppendRequest, StoreError};

/// An event ready to be written: its sequence, and its payload and its metadata (with both
/// hashes set) as the JSON text to store. Written out here, on the appending caller's task,
/// so that a group's committer, which every append of the group waits on, only copies text.
pub(crate) struct ChainedEvent {
    pub(crate) sequence: u64,
    pub(crate) event_type: String,
    pub(crate) event_version: String,
    pub(crate) payload: Box<RawValue>,
    pub(crate) metadata: Box<RawValue>,
}

/// An append's events, chained.
pub(crate) struct Chained {
    pub(crate) events: Vec<ChainedEvent>,
    /// The stream's version after the append.
    pub(crate) version: u64,
    /// The last event's hash.
    pub(crate) last_hash: ChainHash,
}

/// Links the request's events onto `request.prev_hash`, from `request.expected_version` on.
pub(crate) fn chain_events(request: &AppendRequest) -> Result<Chained, StoreError> {
    let mut prev = request.prev_hash;
    let mut version = request.expected_version;
    let mut events = Vec::with_capacity(request.events.len());
    for event in &request.events {
        version = version
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("stream version overflow".into()))?;
        let mut metadata = event.metadata.clone();
        metadata.prev_hash = prev;
        metadata.hash = ChainHash::GENESIS;
        let mut metadata = serde_json::to_value(&metadata)?;
        let hash = event_hash(
            &prev,
            &request.stream,
            version,
            &event.event_type,
            &event.event_version,
            &event.payload,
            &metadata,
        );
        metadata["hash"] = Value::String(hash.to_string());
        events.push(ChainedEvent {
            sequence: version,
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            payload: to_raw_value(&event.payload)?,
            metadata: to_raw_value(&metadata)?,
        });
        prev = hash;
    }
    Ok(Chained {
        events,
        version,
        last_hash: prev,
    })
}
