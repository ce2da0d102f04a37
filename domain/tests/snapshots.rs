//! An aggregate's state survives a snapshot: serialized and read back, it is the same state.
//! Each aggregate is fed its golden fixtures (every event kind, in catalogue order).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::path::Path;

use cqrs_es::{Aggregate, DomainEvent};
use domain::delivery::Delivery;
use domain::inspection::Inspection;
use domain::order::Order;
use domain::purchase::Purchase;
use domain::stock::StockItem;
use serde::de::DeserializeOwned;

/// The aggregate's state after applying the current fixture of every event kind in `kinds`.
fn state_from_fixtures<A>(kinds: &[event_schemas::EventKind]) -> A
where
    A: Aggregate + PartialEq + std::fmt::Debug,
    A::Event: DeserializeOwned + DomainEvent,
{
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../event-schemas/tests/fixtures");
    let mut state = A::default();
    for kind in kinds {
        let path = dir
            .join(kind.aggregate_type)
            .join(format!("{}.v{}.json", kind.event_type, kind.event_version));
        let fixture: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let event: A::Event = serde_json::from_value(fixture["payload"].clone()).unwrap();
        state.apply(event);
    }
    state
}

fn assert_round_trips<A>(state: A)
where
    A: Aggregate + PartialEq + std::fmt::Debug,
{
    assert_ne!(state, A::default(), "the fixtures must change the state");
    let json = serde_json::to_value(&state).unwrap();
    let back: A = serde_json::from_value(json).unwrap();
    assert_eq!(back, state);
}

#[test]
fn a_stock_item_round_trips_through_its_snapshot() {
    assert_round_trips(state_from_fixtures::<StockItem>(
        event_schemas::StockEvent::KINDS,
    ));
}

#[test]
fn an_order_round_trips_through_its_snapshot() {
    assert_round_trips(state_from_fixtures::<Order>(
        event_schemas::OrderEvent::KINDS,
    ));
}

#[test]
fn a_delivery_round_trips_through_its_snapshot() {
    assert_round_trips(state_from_fixtures::<Delivery>(
        event_schemas::DeliveryEvent::KINDS,
    ));
}

#[test]
fn an_inspection_round_trips_through_its_snapshot() {
    assert_round_trips(state_from_fixtures::<Inspection>(
        event_schemas::InspectionEvent::KINDS,
    ));
}

#[test]
fn a_purchase_round_trips_through_its_snapshot() {
    assert_round_trips(state_from_fixtures::<Purchase>(
        event_schemas::PurchaseEvent::KINDS,
    ));
}
