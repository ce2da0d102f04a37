//! The leaf of an event: the canonical bytes of the event as stored (stream, sequence, type,
//! version, payload and metadata with its chain hash), so that any change to any of them, or
//! to the log's order, changes the tree.

use event_store::{RecordedEvent, canonical_event};
use transparency_log::{Hash, leaf_hash};

/// The bytes a leaf covers: [`canonical_event`] of the event as stored (never upcast, so an
/// upcaster added later changes no leaf).
pub fn leaf_input(event: &RecordedEvent) -> Vec<u8> {
    canonical_event(event)
}

/// The event's leaf hash, RFC 9162's `SHA-256(0x00 || input)`.
pub fn event_leaf(event: &RecordedEvent) -> Hash {
    leaf_hash(&leaf_input(event))
}

/// The event's id, from its metadata.
pub(crate) fn event_id(event: &RecordedEvent) -> Option<&str> {
    event.metadata.get("event_id").and_then(|id| id.as_str())
}
