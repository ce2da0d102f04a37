//! An event of the log as other services receive it: its subject, headers and JSON body.

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use event_store::RawEvent;
use serde::{Deserialize, Serialize};

/// The first token of every subject (a deployment may choose another).
pub const SUBJECT_PREFIX: &str = "supplyline";

/// JetStream drops a message whose id it has seen within its duplicate window.
pub(crate) const MESSAGE_ID_HEADER: &str = "Nats-Msg-Id";

/// The header naming the event's position in the log.
pub(crate) const POSITION_HEADER: &str = "Supplyline-Position";

/// An event the relay cannot turn into a message: it stops there rather than skip it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{event}: {message}")]
pub struct Unpublishable {
    /// The event, as `type/id #sequence`.
    pub event: String,
    /// Why.
    pub message: String,
}

/// One event of the log, ready for any broker.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationMessage {
    /// `<prefix>.<aggregate_type>.<event_type>`, the prefix [`SUBJECT_PREFIX`] unless
    /// configured.
    pub subject: String,
    /// The event's id, also the broker's deduplication id.
    pub event_id: String,
    /// Header names and values, the deduplication id first.
    pub headers: Vec<(&'static str, String)>,
    /// The event as JSON: payload, metadata, position, stream and sequence (shared, so a
    /// batch sent again is not copied again).
    pub body: Bytes,
}

impl IntegrationMessage {
    /// The message of `event`, under subjects that begin with `prefix`. Its payload and
    /// metadata go into the body as the store holds them, never decoded.
    pub fn of(event: &RawEvent, prefix: &str) -> Result<Self, Unpublishable> {
        let fail = |message: String| Unpublishable {
            event: format!("{} #{}", event.stream, event.sequence),
            message,
        };
        let aggregate_type = subject_token(&event.stream.aggregate_type).map_err(&fail)?;
        let event_type = subject_token(&event.event_type).map_err(&fail)?;
        let ids: Ids<'_> = serde_json::from_str(event.metadata.get())
            .map_err(|e| fail(format!("its metadata lacks its ids: {e}")))?;
        let position = event.position.token();
        let (payload, metadata) = (event.payload.get(), event.metadata.get());
        // Sized for the whole body at once: growing it would copy the payload again and again.
        let mut body = Vec::with_capacity(payload.len() + metadata.len() + 512);
        serde_json::to_writer(
            &mut body,
            &Body {
                event_id: &ids.event_id,
                event_type: &event.event_type,
                event_version: &event.event_version,
                position: &position,
                stream: BodyStream {
                    aggregate_type: &event.stream.aggregate_type,
                    aggregate_id: &event.stream.aggregate_id,
                },
                sequence: event.sequence,
                recorded_at: event.recorded_at,
            },
        )
        .map_err(|e| fail(format!("its JSON cannot be written: {e}")))?;
        // The payload and metadata close the object as the store holds them: JSON already,
        // so written, not decoded and written again.
        body.pop();
        for (name, json) in [(",\"payload\":", payload), (",\"metadata\":", metadata)] {
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(json.as_bytes());
        }
        body.push(b'}');
        let event_id = ids.event_id.into_owned();
        Ok(Self {
            subject: [prefix, ".", aggregate_type, ".", event_type].concat(),
            headers: vec![
                (MESSAGE_ID_HEADER, event_id.clone()),
                ("Supplyline-Event-Id", event_id.clone()),
                ("Supplyline-Event-Type", event.event_type.clone()),
                ("Supplyline-Event-Version", event.event_version.clone()),
                (POSITION_HEADER, position),
                ("Supplyline-Correlation-Id", ids.correlation_id.into_owned()),
            ],
            event_id,
            body: Bytes::from(body),
        })
    }
}

/// The ids a message's headers name, read from the event's metadata without decoding the rest.
#[derive(Deserialize)]
struct Ids<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    correlation_id: Cow<'a, str>,
}

/// A message's body but its payload and metadata, written from the event without copying it
/// first.
#[derive(Serialize)]
struct Body<'a> {
    event_id: &'a str,
    event_type: &'a str,
    event_version: &'a str,
    position: &'a str,
    stream: BodyStream<'a>,
    sequence: u64,
    recorded_at: DateTime<Utc>,
}

/// The body's `stream`.
#[derive(Serialize)]
struct BodyStream<'a> {
    aggregate_type: &'a str,
    aggregate_id: &'a str,
}

/// `text` as one token of a subject: not empty, and no `.`, wildcard or white space, which
/// would put the event under another subject than its own.
fn subject_token(text: &str) -> Result<&str, String> {
    let bad = text.is_empty()
        || text
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control());
    if bad {
        Err(format!("`{text}` cannot be a token of a subject"))
    } else {
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use event_store::{Position, RecordedEvent, StoredJson, StreamId};
    use serde_json::{Value, json};

    use super::*;

    fn recorded(aggregate_type: &str, event_type: &str) -> RawEvent {
        raw(RecordedEvent {
            stream: StreamId::new(aggregate_type, "order-1"),
            sequence: 3,
            event_type: event_type.to_owned(),
            event_version: "1".to_owned(),
            payload: json!({ event_type: { "reason": "x" } }),
            metadata: json!({
                "event_id": "0190d6c2-0000-7000-8000-000000000001",
                "correlation_id": "0190d6c2-0000-7000-8000-0000000000aa",
            }),
            position: Position::new(0, 42, 7),
            recorded_at: Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap(),
        })
    }

    fn raw(event: RecordedEvent) -> RawEvent {
        event
            .try_map_json(|value| StoredJson::from_value(&value))
            .unwrap()
    }

    #[test]
    fn an_event_gets_its_subject_headers_and_body() {
        let message =
            IntegrationMessage::of(&recorded("order", "OrderCancelled"), SUBJECT_PREFIX).unwrap();
        assert_eq!(message.subject, "supplyline.order.OrderCancelled");
        assert_eq!(message.event_id, "0190d6c2-0000-7000-8000-000000000001");
        let header = |name: &str| {
            message
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("Nats-Msg-Id"), Some(message.event_id.as_str()));
        assert_eq!(header("Supplyline-Event-Type"), Some("OrderCancelled"));
        assert_eq!(header("Supplyline-Event-Version"), Some("1"));
        assert_eq!(
            header("Supplyline-Position"),
            Some(Position::new(0, 42, 7).token().as_str())
        );
        assert_eq!(
            header("Supplyline-Correlation-Id"),
            Some("0190d6c2-0000-7000-8000-0000000000aa")
        );
        let body: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["stream"]["aggregate_id"], "order-1");
        assert_eq!(body["sequence"], 3);
        assert_eq!(body["payload"]["OrderCancelled"]["reason"], "x");
        assert_eq!(
            body["metadata"]["correlation_id"],
            "0190d6c2-0000-7000-8000-0000000000aa"
        );
        assert_eq!(body["position"], Position::new(0, 42, 7).token());
    }

    #[test]
    fn stored_text_with_escapes_and_unicode_stays_one_json_object() {
        let mut event = recorded("order", "OrderPlaced");
        let payload =
            json!({ "OrderPlaced": { "note": "a \"quoted\" } , {\n\\ élan 🌱", "n": [1, 2.5] } });
        event.payload = StoredJson::from_value(&payload).unwrap();
        let message = IntegrationMessage::of(&event, SUBJECT_PREFIX).unwrap();
        let body: Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["payload"], payload);
        assert_eq!(body["metadata"]["event_id"], message.event_id);
        assert_eq!(body.as_object().map(|o| o.len()), Some(9));
    }

    #[test]
    fn a_type_that_would_change_the_subject_is_refused() {
        for (aggregate_type, event_type) in [
            ("order.x", "OrderPlaced"),
            ("order", "Order*"),
            ("order", "Order>"),
            ("order", "Order Placed"),
            ("", "OrderPlaced"),
        ] {
            assert!(
                IntegrationMessage::of(&recorded(aggregate_type, event_type), SUBJECT_PREFIX)
                    .is_err()
            );
        }
    }

    #[test]
    fn an_event_without_its_ids_is_refused() {
        let mut event = recorded("order", "OrderPlaced");
        event.metadata = StoredJson::from_value(&json!({ "event_id": "e" })).unwrap();
        let refused = IntegrationMessage::of(&event, SUBJECT_PREFIX).unwrap_err();
        assert!(refused.message.contains("correlation_id"), "{refused}");
    }
}
