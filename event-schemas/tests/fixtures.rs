//! Golden fixtures: every published event version still loads, and every current event type
//! has a fixture. A change to an event type that would break stored events fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::fs;
use std::path::{Path, PathBuf};

use cqrs_es::DomainEvent;
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

/// Deserializes the payload as the aggregate's event enum and returns its type and, for the
/// current version, whether it serializes back to the same JSON.
fn load<E: DomainEvent>(fixture: &Fixture) -> (E, Value) {
    let event: E = serde_json::from_value(fixture.payload.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", fixture.event_type, fixture.event_version));
    let reserialized = serde_json::to_value(&event).unwrap();
    (event, reserialized)
}

fn check<E: DomainEvent>(fixture: &Fixture) {
    let (event, reserialized) = load::<E>(fixture);
    assert_eq!(event.event_type(), fixture.event_type);
    if event.event_version() == fixture.event_version {
        assert_eq!(
            reserialized, fixture.payload,
            "{} {} does not round-trip: a field was renamed, dropped or retyped",
            fixture.event_type, fixture.event_version
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
