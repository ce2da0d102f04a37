//! Tests of the inspection process's decisions.

use event_schemas::values::{
    ActorId, Description, InspectionId, Score, Severity, StockItemId, ViolationCode, ViolationId,
};
use event_schemas::{InspectionEvent, InspectionFailed, InspectionPassed, ViolationRecorded};
use uuid::Uuid;

use crate::process::test_support::{at, cause};

use super::*;
use crate::process::Target;

fn inspection() -> InspectionId {
    InspectionId::from_uuid(Uuid::from_u128(300))
}

fn item(n: u128) -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(n))
}

fn farmer() -> ActorId {
    ActorId::parse("farmer-ana").unwrap()
}

fn violation(n: u128, severity: Severity, items: Vec<StockItemId>) -> InspectionEvent {
    InspectionEvent::ViolationRecorded(ViolationRecorded {
        violation_id: ViolationId::from_uuid(Uuid::from_u128(n)),
        farmer_id: farmer(),
        code: ViolationCode::parse("HYG-12").unwrap(),
        severity,
        description: Description::parse("cold room too warm").unwrap(),
        stock_item_ids: items,
        recorded_at: at(),
    })
}

fn passed() -> InspectionEvent {
    InspectionEvent::InspectionPassed(InspectionPassed {
        farmer_id: farmer(),
        score: Score::new(90).unwrap(),
        notes: None,
        completed_at: at(),
    })
}

/// The stock items and whether each command quarantines (true) or releases (false).
fn targets(commands: &[ProcessCommand]) -> Vec<(StockItemId, bool)> {
    commands
        .iter()
        .map(|c| match &c.target {
            Target::Stock {
                stock_item_id,
                command:
                    StockCommand::QuarantineStock {
                        inspection_id,
                        inspected_farmer_id,
                        ..
                    },
            } => {
                assert_eq!(*inspection_id, Some(inspection()));
                assert_eq!(*inspected_farmer_id, Some(farmer()));
                (*stock_item_id, true)
            }
            Target::Stock {
                stock_item_id,
                command: StockCommand::ReleaseQuarantine { inspection_id, .. },
            } => {
                assert_eq!(*inspection_id, Some(inspection()));
                (*stock_item_id, false)
            }
            other => panic!("unexpected command {other:?}"),
        })
        .collect()
}

#[test]
fn a_critical_violation_quarantines_every_item_it_names() {
    let mut process = InspectionProcess::default();
    let commands = process.handle(
        cause(1),
        inspection(),
        &violation(1, Severity::Critical, vec![item(1), item(2)]),
    );
    assert_eq!(targets(&commands), vec![(item(1), true), (item(2), true)]);
    assert_eq!(
        process.quarantined().collect::<Vec<_>>(),
        vec![item(1), item(2)]
    );
}

#[test]
fn minor_and_major_violations_quarantine_nothing() {
    let mut process = InspectionProcess::default();
    for severity in [Severity::Minor, Severity::Major] {
        assert!(
            process
                .handle(
                    cause(1),
                    inspection(),
                    &violation(1, severity, vec![item(1)])
                )
                .is_empty(),
            "{severity:?}"
        );
    }
}

#[test]
fn an_item_already_quarantined_by_the_process_is_not_quarantined_again() {
    let mut process = InspectionProcess::default();
    let event = violation(1, Severity::Critical, vec![item(1)]);
    assert_eq!(process.handle(cause(1), inspection(), &event).len(), 1);
    assert!(
        process.handle(cause(1), inspection(), &event).is_empty(),
        "the same event delivered twice"
    );
    let other = violation(2, Severity::Critical, vec![item(1), item(3)]);
    assert_eq!(
        targets(&process.handle(cause(2), inspection(), &other)),
        vec![(item(3), true)]
    );
}

#[test]
fn a_passed_inspection_releases_what_was_quarantined_once() {
    let mut process = InspectionProcess::default();
    process.handle(
        cause(1),
        inspection(),
        &violation(1, Severity::Critical, vec![item(1), item(2)]),
    );
    let releases = process.handle(cause(2), inspection(), &passed());
    assert_eq!(targets(&releases), vec![(item(1), false), (item(2), false)]);
    assert!(
        process.handle(cause(2), inspection(), &passed()).is_empty(),
        "a second delivery releases nothing"
    );
}

#[test]
fn a_quarantine_not_taken_is_not_released_by_a_passed_inspection() {
    let mut process = InspectionProcess::default();
    process.handle(
        cause(1),
        inspection(),
        &violation(1, Severity::Critical, vec![item(1), item(2), item(3)]),
    );
    // Item 2 belongs to another farm (refused) and item 3 was quarantined by someone else.
    process.quarantine_not_taken(item(2));
    process.quarantine_not_taken(item(3));
    assert_eq!(process.quarantined().collect::<Vec<_>>(), vec![item(1)]);
    let releases = process.handle(cause(2), inspection(), &passed());
    assert_eq!(targets(&releases), vec![(item(1), false)]);
}

#[test]
fn forgetting_an_item_the_process_does_not_hold_changes_nothing() {
    let mut process = InspectionProcess::default();
    process.handle(
        cause(1),
        inspection(),
        &violation(1, Severity::Critical, vec![item(1)]),
    );
    let before = process.clone();
    process.quarantine_not_taken(item(9));
    assert_eq!(process, before);
}

#[test]
fn a_failed_inspection_releases_nothing() {
    let mut process = InspectionProcess::default();
    process.handle(
        cause(1),
        inspection(),
        &violation(1, Severity::Critical, vec![item(1)]),
    );
    let failed = InspectionEvent::InspectionFailed(InspectionFailed {
        farmer_id: farmer(),
        score: Score::new(40).unwrap(),
        notes: None,
        open_critical_violations: vec![],
        completed_at: at(),
    });
    assert!(process.handle(cause(2), inspection(), &failed).is_empty());
    assert_eq!(process.quarantined().count(), 1);
}

#[test]
fn events_are_routed_by_the_farm_they_concern() {
    assert_eq!(InspectionProcess::farm_of(&passed()), Some(&farmer()));
}
