//! Which events of the global log an audit read wants: every field narrows, none reads the
//! whole log. Each field has an index beside the log's order, so a filtered page costs the
//! same at any depth.

use chrono::{DateTime, Utc};

use crate::RecordedEvent;

/// A filter over the global log (every field narrows; the default matches every event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Events of any of these aggregate types (empty: of every type).
    pub aggregate_types: Vec<String>,
    /// Events of aggregates with this id.
    pub aggregate_id: Option<String>,
    /// Events of this type, e.g. `OrderPlaced`.
    pub event_type: Option<String>,
    /// Events whose command was sent by this actor (the metadata's `actor.sub`).
    pub actor: Option<String>,
    /// Events recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events recorded before this time.
    pub to: Option<DateTime<Utc>>,
}

impl LogFilter {
    /// Whether `event` is one the filter reads (what the databases' queries select, for
    /// events already in hand).
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        (self.aggregate_types.is_empty()
            || self.aggregate_types.contains(&event.stream.aggregate_type))
            && self
                .aggregate_id
                .as_ref()
                .is_none_or(|id| *id == event.stream.aggregate_id)
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| *t == event.event_type)
            && self
                .actor
                .as_deref()
                .is_none_or(|actor| event.metadata["actor"]["sub"].as_str() == Some(actor))
            && self.from.is_none_or(|from| event.recorded_at >= from)
            && self.to.is_none_or(|to| event.recorded_at < to)
    }
}
