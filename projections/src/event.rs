//! An event of the log as projections see it: where it is, and its payload decoded into the
//! aggregate's event type.

use chrono::{DateTime, Utc};
use event_schemas::{DeliveryEvent, InspectionEvent, OrderEvent, PurchaseEvent, StockEvent};
use event_store::{Position, RecordedEvent};
use serde_json::Value;
use uuid::Uuid;

/// One event, decoded.
#[derive(Debug, Clone)]
pub struct Event {
    /// Its place in the global log.
    pub position: Position,
    /// Its aggregate's id.
    pub aggregate_id: String,
    /// Its place in its stream (1, 2, ...).
    pub sequence: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Its metadata as stored (`null` where the reader left it out, as a rebuild does).
    pub metadata: Value,
    /// What happened.
    pub body: Body,
}

/// An event's payload, by aggregate.
#[derive(Debug, Clone)]
pub enum Body {
    /// A stock item's event.
    Stock(StockEvent),
    /// An order's event.
    Order(OrderEvent),
    /// A delivery's event.
    Delivery(DeliveryEvent),
    /// An inspection's event.
    Inspection(InspectionEvent),
    /// A purchase's event.
    Purchase(PurchaseEvent),
}

/// An event a projection cannot read: it stops there rather than skip it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{event}: {message}")]
pub struct Undecodable {
    /// The event, as `type/id #sequence EventType`.
    pub event: String,
    /// Why.
    pub message: String,
}

impl Event {
    /// Decodes a stored event (already upcast by the store) of one of the five aggregates;
    /// `Ok(None)` for another aggregate type, which no projection reads.
    pub fn decode(recorded: RecordedEvent) -> Result<Option<Self>, Undecodable> {
        let RecordedEvent {
            stream,
            sequence,
            event_type,
            payload,
            position,
            recorded_at,
            metadata,
            ..
        } = recorded;
        let fail = |message: String| Undecodable {
            event: format!("{stream} #{sequence} {event_type}"),
            message,
        };
        // Payloads are externally tagged: their one key must be the stored event type.
        let tagged = payload
            .as_object()
            .is_some_and(|m| m.len() == 1 && m.contains_key(&event_type));
        if !tagged && is_ours(&stream.aggregate_type) {
            return Err(fail(format!("the payload is not a {event_type}")));
        }
        let body = match stream.aggregate_type.as_str() {
            StockEvent::AGGREGATE_TYPE => serde_json::from_value(payload).map(Body::Stock),
            OrderEvent::AGGREGATE_TYPE => serde_json::from_value(payload).map(Body::Order),
            DeliveryEvent::AGGREGATE_TYPE => serde_json::from_value(payload).map(Body::Delivery),
            InspectionEvent::AGGREGATE_TYPE => {
                serde_json::from_value(payload).map(Body::Inspection)
            }
            PurchaseEvent::AGGREGATE_TYPE => serde_json::from_value(payload).map(Body::Purchase),
            _ => return Ok(None),
        }
        .map_err(|e| fail(format!("cannot decode the payload: {e}")))?;
        Ok(Some(Self {
            position,
            aggregate_id: stream.aggregate_id,
            sequence,
            recorded_at,
            metadata,
            body,
        }))
    }

    /// Decodes a batch, leaving out other aggregates' events; the first event that cannot be
    /// decoded fails it, with its position (a projection stops there, it never skips).
    pub fn decode_all(recorded: Vec<RecordedEvent>) -> Result<Vec<Self>, (Position, Undecodable)> {
        let mut events = Vec::with_capacity(recorded.len());
        for event in recorded {
            let position = event.position;
            if let Some(event) = Self::decode(event).map_err(|e| (position, e))? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The event as `type/id #sequence`, for errors and logs.
    pub fn describe(&self) -> String {
        let aggregate = match &self.body {
            Body::Stock(_) => StockEvent::AGGREGATE_TYPE,
            Body::Order(_) => OrderEvent::AGGREGATE_TYPE,
            Body::Delivery(_) => DeliveryEvent::AGGREGATE_TYPE,
            Body::Inspection(_) => InspectionEvent::AGGREGATE_TYPE,
            Body::Purchase(_) => PurchaseEvent::AGGREGATE_TYPE,
        };
        format!("{aggregate}/{} #{}", self.aggregate_id, self.sequence)
    }

    /// Its `event_id` and `correlation_id`, from its metadata (`None` when left out).
    pub fn ids(&self) -> Option<(Uuid, Uuid)> {
        let id = |field: &str| {
            self.metadata
                .get(field)
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
        };
        Some((id("event_id")?, id("correlation_id")?))
    }

    /// The stream version after this event, as stored in read models.
    pub fn version(&self) -> i64 {
        i64::try_from(self.sequence).unwrap_or(i64::MAX)
    }
}

/// Whether `aggregate_type` is one of the five aggregates projections read.
fn is_ours(aggregate_type: &str) -> bool {
    [
        StockEvent::AGGREGATE_TYPE,
        OrderEvent::AGGREGATE_TYPE,
        DeliveryEvent::AGGREGATE_TYPE,
        InspectionEvent::AGGREGATE_TYPE,
        PurchaseEvent::AGGREGATE_TYPE,
    ]
    .contains(&aggregate_type)
}
