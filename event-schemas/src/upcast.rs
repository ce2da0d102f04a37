//! Upcasters: rewrite a stored event of an older published version into its current shape, so
//! old events keep loading after an event type changes.
//!
//! Every read path of the log runs each stored event through [`upcast`] (or hands
//! [`upcasters`] to cqrs-es) before deserializing its payload. An upcaster never fails: a payload
//! that does not have the shape its version promises is left unchanged, version included, and
//! deserialization then reports it.

use std::collections::HashSet;
use std::sync::LazyLock;

use cqrs_es::persist::{EventUpcaster, SemanticVersion, SerializedEvent};
use serde_json::{Value, json};

/// Every upcaster of the product, built once.
static UPCASTERS: LazyLock<Vec<Box<dyn EventUpcaster>>> = LazyLock::new(upcasters);

/// Every upcaster of the product, in chain order: one that writes version N of an event type
/// comes before one that reads version N, so a single pass over the list in order (as cqrs-es's
/// `PersistedEventStore` makes) also brings an event through a chain v1 -> v2 -> v3.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(DeliveryScheduledV1ToV2)]
}

/// Brings a stored event to the current version of its type: applies the product's upcasters
/// until none applies. An event already current, or of a type no upcaster knows, comes back
/// unchanged.
pub fn upcast(event: SerializedEvent) -> SerializedEvent {
    upcast_with(&UPCASTERS, event)
}

/// Whether some upcaster applies to a stored event of this type and version. When none does,
/// [`upcast`] returns the event unchanged, so a reader can skip the call (and the
/// `SerializedEvent` it needs) for the events that are current, nearly all of them.
pub fn needs_upcast(event_type: &str, event_version: &str) -> bool {
    UPCASTERS
        .iter()
        .any(|upcaster| upcaster.can_upcast(event_type, event_version))
}

/// Applies `upcasters` to `event` until none applies, or until one leaves the event at a
/// `(event_type, event_version)` it was at already (a malformed payload it refused, or a cycle),
/// so this always ends.
fn upcast_with(
    upcasters: &[Box<dyn EventUpcaster>],
    mut event: SerializedEvent,
) -> SerializedEvent {
    let mut seen = HashSet::new();
    while let Some(upcaster) = upcasters
        .iter()
        .find(|upcaster| upcaster.can_upcast(&event.event_type, &event.event_version))
    {
        if !seen.insert((event.event_type.clone(), event.event_version.clone())) {
            break;
        }
        event = upcaster.upcast(event);
    }
    event
}

/// Whether `version` is a semantic version older than `than`; `false` when either does not
/// parse (an event of an unknown version is left for deserialization to report).
fn is_older(version: &str, than: &str) -> bool {
    match (
        version.parse::<SemanticVersion>(),
        than.parse::<SemanticVersion>(),
    ) {
        (Ok(version), Ok(than)) => than.supersedes(&version),
        _ => false,
    }
}

/// `DeliveryScheduled` 1.0.0 -> 2.0.0: the flat `window_start` and `window_end` become
/// `window: {start, end}` (a [`DeliveryWindow`](crate::DeliveryWindow)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryScheduledV1ToV2;

impl DeliveryScheduledV1ToV2 {
    /// The event type it upcasts.
    const EVENT_TYPE: &'static str = "DeliveryScheduled";
    /// The version it writes.
    const TO_VERSION: &'static str = "2.0.0";

    /// Moves the flat window fields of a 1.0.0 payload into `window`; returns `false`, leaving
    /// the payload untouched, when it does not have the 1.0.0 shape.
    fn group_window(payload: &mut Value) -> bool {
        let Some(body) = payload
            .get_mut(Self::EVENT_TYPE)
            .and_then(Value::as_object_mut)
        else {
            return false;
        };
        if body.contains_key("window")
            || !body.contains_key("window_start")
            || !body.contains_key("window_end")
        {
            return false;
        }
        let (Some(start), Some(end)) = (body.remove("window_start"), body.remove("window_end"))
        else {
            return false;
        };
        body.insert("window".to_owned(), json!({ "start": start, "end": end }));
        true
    }
}

impl EventUpcaster for DeliveryScheduledV1ToV2 {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == Self::EVENT_TYPE && is_older(event_version, Self::TO_VERSION)
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        if Self::group_window(&mut event.payload) {
            event.event_version = Self::TO_VERSION.to_owned();
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(event_type: &str, event_version: &str, payload: Value) -> SerializedEvent {
        SerializedEvent::new(
            "0190f3a0-0000-7000-8000-000000000020".to_owned(),
            1,
            "delivery".to_owned(),
            event_type.to_owned(),
            event_version.to_owned(),
            payload,
            json!({ "request_id": "r-1" }),
        )
    }

    fn v1_payload() -> Value {
        json!({ "DeliveryScheduled": {
            "delivery_id": "0190f3a0-0000-7000-8000-000000000020",
            "order_id": "0190f3a0-0000-7000-8000-000000000010",
            "pickup_address": null,
            "dropoff_address": { "line1": "12 Rue des Halles", "line2": null, "city": "Lyon",
                                 "postal_code": "69001", "country": "FR" },
            "window_start": "2026-05-01T08:00:00Z",
            "window_end": "2026-05-01T12:00:00Z",
            "scheduled_at": "2026-05-01T08:00:00Z"
        }})
    }

    fn v2_payload() -> Value {
        json!({ "DeliveryScheduled": {
            "delivery_id": "0190f3a0-0000-7000-8000-000000000020",
            "order_id": "0190f3a0-0000-7000-8000-000000000010",
            "pickup_address": null,
            "dropoff_address": { "line1": "12 Rue des Halles", "line2": null, "city": "Lyon",
                                 "postal_code": "69001", "country": "FR" },
            "window": { "start": "2026-05-01T08:00:00Z", "end": "2026-05-01T12:00:00Z" },
            "scheduled_at": "2026-05-01T08:00:00Z"
        }})
    }

    #[test]
    fn a_v1_delivery_scheduled_becomes_v2() {
        let upcast = upcast(stored("DeliveryScheduled", "1.0.0", v1_payload()));
        assert_eq!(upcast, stored("DeliveryScheduled", "2.0.0", v2_payload()));
        let event: crate::DeliveryEvent = serde_json::from_value(upcast.payload).unwrap();
        let crate::DeliveryEvent::DeliveryScheduled(scheduled) = event else {
            panic!("expected DeliveryScheduled, got {event:?}");
        };
        assert_eq!(
            scheduled.window.start.to_rfc3339(),
            "2026-05-01T08:00:00+00:00"
        );
        assert_eq!(
            scheduled.window.end.to_rfc3339(),
            "2026-05-01T12:00:00+00:00"
        );
    }

    #[test]
    fn a_v2_delivery_scheduled_is_left_alone() {
        let event = stored("DeliveryScheduled", "2.0.0", v2_payload());
        assert!(!DeliveryScheduledV1ToV2.can_upcast("DeliveryScheduled", "2.0.0"));
        assert_eq!(upcast(event.clone()), event);
    }

    #[test]
    fn another_event_type_is_left_alone() {
        let event = stored(
            "DeliveryFailed",
            "1.0.0",
            json!({ "DeliveryFailed": { "window_start": "x", "window_end": "y" } }),
        );
        assert!(!DeliveryScheduledV1ToV2.can_upcast("DeliveryFailed", "1.0.0"));
        assert_eq!(upcast(event.clone()), event);
    }

    #[test]
    fn only_events_an_upcaster_applies_to_need_upcasting() {
        assert!(needs_upcast("DeliveryScheduled", "1.0.0"));
        assert!(!needs_upcast("DeliveryScheduled", "2.0.0"));
        assert!(!needs_upcast("StockReceived", "1.0.0"));
        assert!(!needs_upcast("NoSuchEvent", "0.1.0"));
    }

    #[test]
    fn an_event_that_needs_no_upcasting_comes_back_unchanged_from_upcast() {
        for (event_type, event_version) in [
            ("DeliveryScheduled", "2.0.0"),
            ("DeliveryFailed", "1.0.0"),
            ("StockReceived", "1.0.0"),
        ] {
            let event = stored(event_type, event_version, v1_payload());
            assert!(!needs_upcast(event_type, event_version));
            assert_eq!(upcast(event.clone()), event);
        }
    }

    #[test]
    fn a_malformed_v1_payload_is_left_unchanged_without_panicking() {
        let mut missing_end = v1_payload();
        if let Some(body) = missing_end["DeliveryScheduled"].as_object_mut() {
            body.remove("window_end");
        }
        let mut both_shapes = v1_payload();
        both_shapes["DeliveryScheduled"]["window"] = json!({ "start": "x", "end": "y" });
        for payload in [
            Value::Null,
            json!("DeliveryScheduled"),
            json!([1, 2, 3]),
            json!({ "DeliveryScheduled": null }),
            json!({ "DeliveryScheduled": [] }),
            json!({ "SomethingElse": {} }),
            missing_end,
            both_shapes,
        ] {
            let event = stored("DeliveryScheduled", "1.0.0", payload);
            assert_eq!(upcast(event.clone()), event);
        }
    }

    #[test]
    fn versions_are_compared_as_semantic_versions_not_as_strings() {
        let upcaster = DeliveryScheduledV1ToV2;
        assert!(upcaster.can_upcast("DeliveryScheduled", "1.0.0"));
        assert!(upcaster.can_upcast("DeliveryScheduled", "1.10.3"));
        assert!(upcaster.can_upcast("DeliveryScheduled", "0.9.0"));
        assert!(!upcaster.can_upcast("DeliveryScheduled", "2.0.0"));
        assert!(!upcaster.can_upcast("DeliveryScheduled", "2.0.1"));
        assert!(!upcaster.can_upcast("DeliveryScheduled", "10.0.0"));
        assert!(!upcaster.can_upcast("DeliveryScheduled", "not a version"));
        assert!(!upcaster.can_upcast("DeliveryScheduled", ""));
    }

    /// A later change, for the chain test: `DeliveryScheduled` 2.0.0 -> 3.0.0 adds `notes`.
    struct AddNotes;

    impl EventUpcaster for AddNotes {
        fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
            event_type == "DeliveryScheduled"
                && is_older(event_version, "3.0.0")
                && !is_older(event_version, "2.0.0")
        }

        fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
            event.payload["DeliveryScheduled"]["notes"] = Value::Null;
            event.event_version = "3.0.0".to_owned();
            event
        }
    }

    #[test]
    fn upcasters_chain_whatever_their_order() {
        let mut v3_payload = v2_payload();
        v3_payload["DeliveryScheduled"]["notes"] = Value::Null;
        let expected = stored("DeliveryScheduled", "3.0.0", v3_payload);
        let forward: Vec<Box<dyn EventUpcaster>> =
            vec![Box::new(DeliveryScheduledV1ToV2), Box::new(AddNotes)];
        let backward: Vec<Box<dyn EventUpcaster>> =
            vec![Box::new(AddNotes), Box::new(DeliveryScheduledV1ToV2)];
        for upcasters in [forward, backward] {
            let event = stored("DeliveryScheduled", "1.0.0", v1_payload());
            assert_eq!(upcast_with(&upcasters, event), expected);
        }
    }

    /// An upcaster that claims every version and never moves it on.
    struct Stuck;

    impl EventUpcaster for Stuck {
        fn can_upcast(&self, _: &str, _: &str) -> bool {
            true
        }

        fn upcast(&self, event: SerializedEvent) -> SerializedEvent {
            event
        }
    }

    #[test]
    fn an_upcaster_that_makes_no_progress_does_not_loop_forever() {
        let event = stored("DeliveryScheduled", "1.0.0", v1_payload());
        let stuck: Vec<Box<dyn EventUpcaster>> = vec![Box::new(Stuck)];
        assert_eq!(upcast_with(&stuck, event.clone()), event);
    }

    #[test]
    fn every_upcaster_of_the_product_is_listed() {
        assert_eq!(upcasters().len(), 1);
        assert!(upcasters()[0].can_upcast("DeliveryScheduled", "1.0.0"));
    }
}
