//! Golden fixtures: every published event version still loads (through the upcasters, as every
//! read path loads a stored event), and every current event type has a fixture. A change to an
//! event type that would break stored events fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::fs;
use std::path::{Path, PathBuf};

use cqrs_es::DomainEvent;
use cqrs_es::persist::SerializedEvent;
use event_schemas::{
    DeliveryEvent, EventKind, InspectionEvent, OrderEvent, PurchaseEvent, StockEvent, all_kinds,
};
use serde::Deserialize;
use serde_json::Value;

/// One stored event as the log holds it.
#[derive(Debug, Deserialize)]
struct Fixture {
    aggregate_type: String,
    event_type: String,
    event_version: String,
    payload: Value,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for aggregate in fs::read_dir(fixtures_dir()).unwrap() {
        let aggregate = aggregate.unwrap().path();
        if !aggregate.is_dir() {
            continue;
        }
        for file in fs::read_dir(&aggregate).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> Fixture {
    let text = fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixture as the log hands it to a read path.
fn stored(fixture: &Fixture) -> SerializedEvent {
    SerializedEvent::new(
        "0190f3a0-0000-7000-8000-0000000000ff".to_owned(),
        1,
        fixture.aggregate_type.clone(),
        fixture.event_type.clone(),
        fixture.event_version.clone(),
        fixture.payload.clone(),
        Value::Null,
    )
}

/// Loads the fixture the way every read path does: upcast to the current version, then
/// deserialized as the aggregate's event enum.
fn load<E: DomainEvent>(fixture: &Fixture) -> (SerializedEvent, E) {
    let upcast = event_schemas::upcast(stored(fixture));
    let event: E = serde_json::from_value(upcast.payload.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", fixture.event_type, fixture.event_version));
    (upcast, event)
}

/// Checks that the fixture loads as its event type at the current version and, when it is at the
/// current version already, that it serializes back to the same JSON.
fn check<E: DomainEvent>(fixture: &Fixture) {
    let (upcast, event) = load::<E>(fixture);
    assert_eq!(event.event_type(), fixture.event_type);
    assert_eq!(
        upcast.event_version,
        event.event_version(),
        "{} {} is not upcast to the current version",
        fixture.event_type,
        fixture.event_version
    );
    if event.event_version() == fixture.event_version {
        assert_eq!(
            upcast,
            stored(fixture),
            "{} {} is current: no upcaster may touch it",
            fixture.event_type,
            fixture.event_version
        );
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            fixture.payload,
            "{} {} does not round-trip: a field was renamed, dropped or retyped",
            fixture.event_type,
            fixture.event_version
        );
    }
}

#[test]
fn every_fixture_still_deserializes() {
    let files = fixture_files();
    assert!(!files.is_empty(), "no fixtures found");
    for path in files {
        let fixture = read(&path);
        let expected_name = format!("{}.v{}.json", fixture.event_type, fixture.event_version);
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            expected_name,
            "fixture file name must match its content"
        );
        match fixture.aggregate_type.as_str() {
            "stock" => check::<StockEvent>(&fixture),
            "order" => check::<OrderEvent>(&fixture),
            "delivery" => check::<DeliveryEvent>(&fixture),
            "inspection" => check::<InspectionEvent>(&fixture),
            "purchase" => check::<PurchaseEvent>(&fixture),
            other => panic!("{}: unknown aggregate type {other}", path.display()),
        }
    }
}

#[test]
fn every_current_event_version_has_a_fixture() {
    for EventKind {
        aggregate_type,
        event_type,
        event_version,
    } in all_kinds()
    {
        let path = fixtures_dir()
            .join(aggregate_type)
            .join(format!("{event_type}.v{event_version}.json"));
        assert!(path.is_file(), "missing golden fixture {}", path.display());
    }
}

#[test]
fn an_upcast_v1_delivery_scheduled_is_the_v2_event() {
    let v1 = read(&fixtures_dir().join("delivery/DeliveryScheduled.v1.0.0.json"));
    let v2 = read(&fixtures_dir().join("delivery/DeliveryScheduled.v2.0.0.json"));
    let (upcast_v1, from_v1) = load::<DeliveryEvent>(&v1);
    let (_, from_v2) = load::<DeliveryEvent>(&v2);
    assert_eq!(from_v1, from_v2);
    assert_eq!(upcast_v1.event_version, "2.0.0");
    assert_eq!(upcast_v1.payload, v2.payload);
}

#[test]
fn a_fixture_with_a_broken_field_is_refused() {
    let path = fixtures_dir().join("stock/StockReserved.v1.0.0.json");
    let mut fixture = read(&path);
    fixture.payload["StockReserved"]["quantity"] = Value::from(0);
    let result: Result<StockEvent, _> = serde_json::from_value(fixture.payload);
    assert!(result.is_err(), "a zero reservation must not load");
}

#[test]
fn every_current_fixture_matches_its_published_json_schema() {
    for (kind, schema) in event_schemas::all_schemas() {
        let path = fixtures_dir()
            .join(kind.aggregate_type)
            .join(format!("{}.v{}.json", kind.event_type, kind.event_version));
        let fixture = read(&path);
        let body = &fixture.payload[kind.event_type];
        let validator = jsonschema::validator_for(schema.as_value())
            .unwrap_or_else(|e| panic!("{}: invalid schema: {e}", kind.event_type));
        let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn a_schema_refuses_what_the_type_refuses() {
    let schema = event_schemas::all_schemas()
        .into_iter()
        .find(|(kind, _)| kind.event_type == "StockReserved")
        .map(|(_, schema)| schema)
        .unwrap();
    let validator = jsonschema::validator_for(schema.as_value()).unwrap();
    let mut body = read(&fixtures_dir().join("stock/StockReserved.v1.0.0.json")).payload;
    body["StockReserved"]["quantity"] = Value::from(0);
    assert!(!validator.is_valid(&body["StockReserved"]));
}
