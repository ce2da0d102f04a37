//! Given/when/then tests of the `inspection` aggregate.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::values::{
    Actor, ActorId, Description, InspectionId, Notes, Resolution, Role, Score, Severity,
    StockItemId, ViolationCode, ViolationId,
};
use event_schemas::{
    InspectionEvent, InspectionFailed, InspectionPassed, InspectionScheduled, InspectionStarted,
    InspectionStatus, ViolationRecorded, ViolationResolved,
};
use uuid::Uuid;

use super::{Inspection, InspectionCommand, InspectionError};
use crate::{Issued, Refusal, RefusalKind};

type Result = std::result::Result<Vec<InspectionEvent>, InspectionError>;

// ---- fixtures ----

const ALL_STATUSES: [InspectionStatus; 4] = [
    InspectionStatus::Scheduled,
    InspectionStatus::InProgress,
    InspectionStatus::Passed,
    InspectionStatus::Failed,
];

/// Every role that may issue no inspection command.
const REFUSED_ROLES: [Role; 6] = [
    Role::Farmer,
    Role::Restaurant,
    Role::Distributor,
    Role::Auditor,
    Role::Analyst,
    Role::System,
];

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

fn earlier() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 20, 8, 0, 0).unwrap()
}

fn scheduled_for() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 10, 9, 0, 0).unwrap()
}

fn inspection_id() -> InspectionId {
    InspectionId::from_uuid(Uuid::from_u128(1))
}

fn violation_id(n: u128) -> ViolationId {
    ViolationId::from_uuid(Uuid::from_u128(100 + n))
}

fn stock_item(n: u128) -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(200 + n))
}

fn id(raw: &str) -> ActorId {
    ActorId::parse(raw).unwrap()
}

fn farmer_id() -> ActorId {
    id("farmer-1")
}

fn inspector_id() -> ActorId {
    id("inspector-1")
}

fn actor(sub: &str, role: Role) -> Actor {
    Actor::new(id(sub), role)
}

/// The inspector assigned to the inspection.
fn assigned() -> Actor {
    actor("inspector-1", Role::Inspector)
}

/// An inspector not assigned to the inspection.
fn other_inspector() -> Actor {
    actor("inspector-2", Role::Inspector)
}

fn admin() -> Actor {
    actor("admin-1", Role::Admin)
}

/// An actor of `role`; for farmers, the inspected farmer itself.
fn with_role(role: Role) -> Actor {
    match role {
        Role::System => Actor::system("inspection"),
        Role::Farmer => Actor::new(farmer_id(), role),
        // Same sub as the assigned inspector, so only the role can refuse it.
        _ => Actor::new(inspector_id(), role),
    }
}

fn score(n: u8) -> Score {
    Score::new(n).unwrap()
}

fn notes() -> Option<Notes> {
    Some(Notes::parse("Cold room at 6 degrees").unwrap())
}

fn resolution() -> Resolution {
    Resolution::parse("Lot destroyed, cold room repaired").unwrap()
}

// ---- commands ----

fn issue(by: Actor, command: InspectionCommand) -> Issued<InspectionCommand> {
    Issued::new(by, at(), command)
}

fn schedule_for(inspector: ActorId) -> InspectionCommand {
    InspectionCommand::ScheduleInspection {
        inspection_id: inspection_id(),
        farmer_id: farmer_id(),
        inspector_id: inspector,
        scheduled_for: scheduled_for(),
    }
}

fn schedule() -> InspectionCommand {
    schedule_for(inspector_id())
}

fn start() -> InspectionCommand {
    InspectionCommand::StartInspection
}

fn record(n: u128, severity: Severity) -> InspectionCommand {
    InspectionCommand::RecordViolation {
        violation_id: violation_id(n),
        code: ViolationCode::parse("HYG-12").unwrap(),
        severity,
        description: Description::parse("Produce stored above 4 degrees").unwrap(),
        stock_item_ids: vec![stock_item(n)],
    }
}

fn complete(n: u8) -> InspectionCommand {
    InspectionCommand::CompleteInspection {
        score: score(n),
        notes: notes(),
    }
}

fn resolve(n: u128) -> InspectionCommand {
    InspectionCommand::ResolveViolation {
        violation_id: violation_id(n),
        resolution: resolution(),
    }
}

/// One command of each kind, for the role and existence tables.
fn every_command() -> Vec<InspectionCommand> {
    vec![
        schedule(),
        start(),
        record(1, Severity::Minor),
        complete(80),
        resolve(1),
    ]
}

/// Every command but the create.
fn every_command_on_an_inspection() -> Vec<InspectionCommand> {
    every_command().split_off(1)
}

// ---- events ----

fn scheduled() -> InspectionEvent {
    InspectionScheduled {
        inspection_id: inspection_id(),
        farmer_id: farmer_id(),
        inspector_id: inspector_id(),
        scheduled_for: scheduled_for(),
        scheduled_at: earlier(),
    }
    .into()
}

fn started_at(when: DateTime<Utc>) -> InspectionEvent {
    InspectionStarted { started_at: when }.into()
}

fn recorded_at(n: u128, severity: Severity, when: DateTime<Utc>) -> InspectionEvent {
    ViolationRecorded {
        violation_id: violation_id(n),
        farmer_id: farmer_id(),
        code: ViolationCode::parse("HYG-12").unwrap(),
        severity,
        description: Description::parse("Produce stored above 4 degrees").unwrap(),
        stock_item_ids: vec![stock_item(n)],
        recorded_at: when,
    }
    .into()
}

fn recorded(n: u128, severity: Severity) -> InspectionEvent {
    recorded_at(n, severity, earlier())
}

fn resolved_at(n: u128, severity: Severity, when: DateTime<Utc>) -> InspectionEvent {
    ViolationResolved {
        violation_id: violation_id(n),
        severity,
        resolution: resolution(),
        resolved_at: when,
    }
    .into()
}

fn resolved(n: u128, severity: Severity) -> InspectionEvent {
    resolved_at(n, severity, earlier())
}

fn passed_at(n: u8, when: DateTime<Utc>) -> InspectionEvent {
    InspectionPassed {
        farmer_id: farmer_id(),
        score: score(n),
        notes: notes(),
        completed_at: when,
    }
    .into()
}

fn failed_at(n: u8, open: Vec<ViolationId>, when: DateTime<Utc>) -> InspectionEvent {
    InspectionFailed {
        farmer_id: farmer_id(),
        score: score(n),
        notes: notes(),
        open_critical_violations: open,
        completed_at: when,
    }
    .into()
}

/// A started inspection.
fn in_progress() -> Vec<InspectionEvent> {
    vec![scheduled(), started_at(earlier())]
}

/// An inspection in `status`, with violation 1 (minor) recorded and still open once started.
fn given_in(status: InspectionStatus) -> Vec<InspectionEvent> {
    let mut events = vec![scheduled()];
    if status == InspectionStatus::Scheduled {
        return events;
    }
    events.extend([started_at(earlier()), recorded(1, Severity::Minor)]);
    match status {
        InspectionStatus::Passed => events.push(passed_at(90, earlier())),
        InspectionStatus::Failed => events.push(failed_at(50, vec![], earlier())),
        InspectionStatus::Scheduled | InspectionStatus::InProgress => {}
    }
    events
}

async fn run(given: Vec<InspectionEvent>, by: Actor, command: InspectionCommand) -> Result {
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(by, command))
        .await
        .inspect_result()
}

// ---- roles ----

#[tokio::test]
async fn roles_other_than_inspector_and_admin_may_issue_no_inspection_command() {
    for role in REFUSED_ROLES {
        for command in every_command() {
            let name = command.name();
            let given = if name == "ScheduleInspection" {
                vec![]
            } else {
                given_in(InspectionStatus::InProgress)
            };
            assert_eq!(
                run(given, with_role(role), command).await,
                Err(InspectionError::RoleNotAllowed { role }),
                "{name} by {role}"
            );
        }
    }
}

#[tokio::test]
async fn the_role_is_checked_before_the_inspection_exists() {
    for command in every_command_on_an_inspection() {
        let name = command.name();
        assert_eq!(
            run(vec![], with_role(Role::Auditor), command).await,
            Err(InspectionError::RoleNotAllowed {
                role: Role::Auditor
            }),
            "{name}"
        );
    }
}

// ---- existence ----

#[tokio::test]
async fn every_command_on_an_unscheduled_inspection_is_not_found() {
    for by in [assigned(), admin()] {
        for command in every_command_on_an_inspection() {
            let name = command.name();
            assert_eq!(
                run(vec![], by.clone(), command).await,
                Err(InspectionError::NotFound),
                "{name} by {}",
                by.role
            );
        }
    }
}

// ---- ScheduleInspection ----

#[tokio::test]
async fn an_admin_schedules_an_inspection_for_any_inspector() {
    TestFramework::<Inspection>::with(())
        .given_no_previous_events()
        .when_async(issue(admin(), schedule()))
        .await
        .then_expect_events(vec![
            InspectionScheduled {
                inspection_id: inspection_id(),
                farmer_id: farmer_id(),
                inspector_id: inspector_id(),
                scheduled_for: scheduled_for(),
                scheduled_at: at(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_inspector_schedules_an_inspection_for_itself() {
    TestFramework::<Inspection>::with(())
        .given_no_previous_events()
        .when_async(issue(assigned(), schedule()))
        .await
        .then_expect_events(vec![
            InspectionScheduled {
                inspection_id: inspection_id(),
                farmer_id: farmer_id(),
                inspector_id: inspector_id(),
                scheduled_for: scheduled_for(),
                scheduled_at: at(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_inspector_scheduling_an_inspection_for_another_inspector_is_refused() {
    TestFramework::<Inspection>::with(())
        .given_no_previous_events()
        .when_async(issue(other_inspector(), schedule()))
        .await
        .then_expect_error(InspectionError::InspectorMismatch);
}

#[tokio::test]
async fn scheduling_an_inspection_that_exists_is_refused_in_every_status() {
    for status in ALL_STATUSES {
        for by in [admin(), assigned()] {
            assert_eq!(
                run(given_in(status), by.clone(), schedule()).await,
                Err(InspectionError::AlreadyScheduled),
                "scheduling a {status:?} inspection again by {}",
                by.role
            );
        }
    }
}

#[tokio::test]
async fn existence_is_checked_before_the_inspector_on_scheduling() {
    TestFramework::<Inspection>::with(())
        .given(vec![scheduled()])
        .when_async(issue(other_inspector(), schedule_for(id("inspector-3"))))
        .await
        .then_expect_error(InspectionError::AlreadyScheduled);
}

// ---- StartInspection ----

#[tokio::test]
async fn the_assigned_inspector_starts_a_scheduled_inspection() {
    TestFramework::<Inspection>::with(())
        .given(vec![scheduled()])
        .when_async(issue(assigned(), start()))
        .await
        .then_expect_events(vec![started_at(at())]);
}

#[tokio::test]
async fn an_admin_starts_a_scheduled_inspection() {
    TestFramework::<Inspection>::with(())
        .given(vec![scheduled()])
        .when_async(issue(admin(), start()))
        .await
        .then_expect_events(vec![started_at(at())]);
}

#[tokio::test]
async fn another_inspector_starting_the_inspection_is_refused() {
    TestFramework::<Inspection>::with(())
        .given(vec![scheduled()])
        .when_async(issue(other_inspector(), start()))
        .await
        .then_expect_error(InspectionError::NotAssignedInspector);
}

#[tokio::test]
async fn starting_is_refused_in_every_status_but_scheduled() {
    for status in [
        InspectionStatus::InProgress,
        InspectionStatus::Passed,
        InspectionStatus::Failed,
    ] {
        for by in [assigned(), admin()] {
            assert_eq!(
                run(given_in(status), by.clone(), start()).await,
                Err(InspectionError::InvalidTransition {
                    from: status,
                    command: "StartInspection".into()
                }),
                "starting a {status:?} inspection by {}",
                by.role
            );
        }
    }
}

#[tokio::test]
async fn the_assignment_is_checked_before_the_status() {
    for status in ALL_STATUSES {
        for command in [start(), record(2, Severity::Major), complete(80)] {
            let name = command.name();
            assert_eq!(
                run(given_in(status), other_inspector(), command).await,
                Err(InspectionError::NotAssignedInspector),
                "{name} on a {status:?} inspection by another inspector"
            );
        }
    }
}

// ---- RecordViolation ----

#[tokio::test]
async fn the_assigned_inspector_records_a_violation_on_the_inspected_farm() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(assigned(), record(1, Severity::Critical)))
        .await
        .then_expect_events(vec![recorded_at(1, Severity::Critical, at())]);
}

#[tokio::test]
async fn an_admin_records_a_violation() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(admin(), record(1, Severity::Major)))
        .await
        .then_expect_events(vec![recorded_at(1, Severity::Major, at())]);
}

#[tokio::test]
async fn a_violation_naming_no_stock_item_is_recorded() {
    let command = InspectionCommand::RecordViolation {
        violation_id: violation_id(1),
        code: ViolationCode::parse("DOC-3").unwrap(),
        severity: Severity::Minor,
        description: Description::parse("Logbook incomplete").unwrap(),
        stock_item_ids: vec![],
    };
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(assigned(), command))
        .await
        .then_expect_events(vec![
            ViolationRecorded {
                violation_id: violation_id(1),
                farmer_id: farmer_id(),
                code: ViolationCode::parse("DOC-3").unwrap(),
                severity: Severity::Minor,
                description: Description::parse("Logbook incomplete").unwrap(),
                stock_item_ids: vec![],
                recorded_at: at(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn further_violations_are_recorded_beside_earlier_ones() {
    TestFramework::<Inspection>::with(())
        .given(given_in(InspectionStatus::InProgress))
        .when_async(issue(assigned(), record(2, Severity::Minor)))
        .await
        .then_expect_events(vec![recorded_at(2, Severity::Minor, at())]);
}

#[tokio::test]
async fn another_inspector_recording_a_violation_is_refused() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(other_inspector(), record(1, Severity::Minor)))
        .await
        .then_expect_error(InspectionError::NotAssignedInspector);
}

#[tokio::test]
async fn recording_a_violation_id_already_recorded_is_refused() {
    TestFramework::<Inspection>::with(())
        .given(given_in(InspectionStatus::InProgress))
        .when_async(issue(assigned(), record(1, Severity::Critical)))
        .await
        .then_expect_error(InspectionError::DuplicateViolation {
            violation_id: violation_id(1),
        });
}

#[tokio::test]
async fn recording_the_id_of_a_resolved_violation_is_refused() {
    let mut given = given_in(InspectionStatus::InProgress);
    given.push(resolved(1, Severity::Minor));
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(admin(), record(1, Severity::Minor)))
        .await
        .then_expect_error(InspectionError::DuplicateViolation {
            violation_id: violation_id(1),
        });
}

#[tokio::test]
async fn recording_a_violation_is_refused_in_every_status_but_in_progress() {
    for status in [
        InspectionStatus::Scheduled,
        InspectionStatus::Passed,
        InspectionStatus::Failed,
    ] {
        for by in [assigned(), admin()] {
            assert_eq!(
                run(given_in(status), by.clone(), record(2, Severity::Minor)).await,
                Err(InspectionError::InvalidTransition {
                    from: status,
                    command: "RecordViolation".into()
                }),
                "recording a violation on a {status:?} inspection by {}",
                by.role
            );
        }
    }
}

// ---- CompleteInspection ----

#[tokio::test]
async fn an_inspection_without_violations_scoring_70_passes() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(assigned(), complete(70)))
        .await
        .then_expect_events(vec![passed_at(70, at())]);
}

#[tokio::test]
async fn an_inspection_without_violations_scoring_69_fails() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(assigned(), complete(69)))
        .await
        .then_expect_events(vec![failed_at(69, vec![], at())]);
}

#[tokio::test]
async fn the_extreme_scores_pass_and_fail() {
    assert_eq!(
        run(in_progress(), assigned(), complete(100)).await,
        Ok(vec![passed_at(100, at())])
    );
    assert_eq!(
        run(in_progress(), assigned(), complete(0)).await,
        Ok(vec![failed_at(0, vec![], at())])
    );
}

#[tokio::test]
async fn notes_are_optional() {
    let command = InspectionCommand::CompleteInspection {
        score: score(85),
        notes: None,
    };
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(assigned(), command))
        .await
        .then_expect_events(vec![
            InspectionPassed {
                farmer_id: farmer_id(),
                score: score(85),
                notes: None,
                completed_at: at(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_admin_completes_an_inspection() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(admin(), complete(90)))
        .await
        .then_expect_events(vec![passed_at(90, at())]);
}

#[tokio::test]
async fn another_inspector_completing_the_inspection_is_refused() {
    TestFramework::<Inspection>::with(())
        .given(in_progress())
        .when_async(issue(other_inspector(), complete(90)))
        .await
        .then_expect_error(InspectionError::NotAssignedInspector);
}

#[tokio::test]
async fn an_open_critical_violation_fails_even_a_perfect_score() {
    let mut given = in_progress();
    given.push(recorded(1, Severity::Critical));
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(100)))
        .await
        .then_expect_events(vec![failed_at(100, vec![violation_id(1)], at())]);
}

#[tokio::test]
async fn an_open_critical_violation_and_a_low_score_fail() {
    let mut given = in_progress();
    given.push(recorded(1, Severity::Critical));
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(40)))
        .await
        .then_expect_events(vec![failed_at(40, vec![violation_id(1)], at())]);
}

#[tokio::test]
async fn a_resolved_critical_violation_does_not_fail_the_inspection() {
    let mut given = in_progress();
    given.extend([
        recorded(1, Severity::Critical),
        resolved(1, Severity::Critical),
    ]);
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(70)))
        .await
        .then_expect_events(vec![passed_at(70, at())]);
}

#[tokio::test]
async fn open_major_and_minor_violations_do_not_fail_a_passing_score() {
    let mut given = in_progress();
    given.extend([recorded(1, Severity::Major), recorded(2, Severity::Minor)]);
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(70)))
        .await
        .then_expect_events(vec![passed_at(70, at())]);
}

#[tokio::test]
async fn open_major_and_minor_violations_are_not_listed_when_the_score_fails() {
    let mut given = in_progress();
    given.extend([recorded(1, Severity::Major), recorded(2, Severity::Minor)]);
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(69)))
        .await
        .then_expect_events(vec![failed_at(69, vec![], at())]);
}

#[tokio::test]
async fn a_failure_lists_only_the_open_critical_violations_in_recording_order() {
    let mut given = in_progress();
    given.extend([
        recorded(3, Severity::Critical),
        recorded(1, Severity::Minor),
        recorded(4, Severity::Critical),
        recorded(2, Severity::Critical),
        recorded(5, Severity::Major),
        resolved(4, Severity::Critical),
    ]);
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(95)))
        .await
        .then_expect_events(vec![failed_at(
            95,
            vec![violation_id(3), violation_id(2)],
            at(),
        )]);
}

#[tokio::test]
async fn completing_is_refused_in_every_status_but_in_progress() {
    for status in [
        InspectionStatus::Scheduled,
        InspectionStatus::Passed,
        InspectionStatus::Failed,
    ] {
        for by in [assigned(), admin()] {
            assert_eq!(
                run(given_in(status), by.clone(), complete(80)).await,
                Err(InspectionError::InvalidTransition {
                    from: status,
                    command: "CompleteInspection".into()
                }),
                "completing a {status:?} inspection by {}",
                by.role
            );
        }
    }
}

// ---- ResolveViolation ----

#[tokio::test]
async fn the_assigned_inspector_resolves_a_violation_during_the_inspection() {
    TestFramework::<Inspection>::with(())
        .given(given_in(InspectionStatus::InProgress))
        .when_async(issue(assigned(), resolve(1)))
        .await
        .then_expect_events(vec![resolved_at(1, Severity::Minor, at())]);
}

#[tokio::test]
async fn any_inspector_or_admin_resolves_a_violation() {
    for by in [assigned(), other_inspector(), admin()] {
        assert_eq!(
            run(given_in(InspectionStatus::Failed), by.clone(), resolve(1)).await,
            Ok(vec![resolved_at(1, Severity::Minor, at())]),
            "resolving by {}",
            by.sub
        );
    }
}

#[tokio::test]
async fn a_critical_violation_is_resolved_after_a_failed_inspection() {
    let mut given = in_progress();
    given.extend([
        recorded(1, Severity::Critical),
        failed_at(90, vec![violation_id(1)], earlier()),
    ]);
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(other_inspector(), resolve(1)))
        .await
        .then_expect_events(vec![resolved_at(1, Severity::Critical, at())]);
}

#[tokio::test]
async fn a_violation_is_resolved_in_every_status_that_can_hold_one() {
    for status in [
        InspectionStatus::InProgress,
        InspectionStatus::Passed,
        InspectionStatus::Failed,
    ] {
        assert_eq!(
            run(given_in(status), assigned(), resolve(1)).await,
            Ok(vec![resolved_at(1, Severity::Minor, at())]),
            "resolving on a {status:?} inspection"
        );
    }
}

#[tokio::test]
async fn resolving_on_a_scheduled_inspection_finds_no_violation() {
    for by in [assigned(), admin()] {
        assert_eq!(
            run(
                given_in(InspectionStatus::Scheduled),
                by.clone(),
                resolve(1)
            )
            .await,
            Err(InspectionError::UnknownViolation {
                violation_id: violation_id(1)
            }),
            "resolving by {}",
            by.role
        );
    }
}

#[tokio::test]
async fn resolving_an_unknown_violation_is_refused() {
    for status in [
        InspectionStatus::InProgress,
        InspectionStatus::Passed,
        InspectionStatus::Failed,
    ] {
        assert_eq!(
            run(given_in(status), admin(), resolve(9)).await,
            Err(InspectionError::UnknownViolation {
                violation_id: violation_id(9)
            }),
            "resolving an unknown violation on a {status:?} inspection"
        );
    }
}

#[tokio::test]
async fn resolving_a_resolved_violation_is_refused() {
    for status in [
        InspectionStatus::InProgress,
        InspectionStatus::Passed,
        InspectionStatus::Failed,
    ] {
        let mut given = given_in(status);
        given.push(resolved(1, Severity::Minor));
        assert_eq!(
            run(given, assigned(), resolve(1)).await,
            Err(InspectionError::AlreadyResolved {
                violation_id: violation_id(1)
            }),
            "resolving twice on a {status:?} inspection"
        );
    }
}

#[tokio::test]
async fn resolving_a_critical_violation_before_completion_lets_the_inspection_pass() {
    let mut given = in_progress();
    given.push(recorded(1, Severity::Critical));
    let resolution = run(given.clone(), other_inspector(), resolve(1)).await;
    assert_eq!(
        resolution,
        Ok(vec![resolved_at(1, Severity::Critical, at())])
    );
    given.extend(resolution.unwrap());
    TestFramework::<Inspection>::with(())
        .given(given)
        .when_async(issue(assigned(), complete(75)))
        .await
        .then_expect_events(vec![passed_at(75, at())]);
}

// ---- state ----

fn replay(events: Vec<InspectionEvent>) -> Inspection {
    let mut inspection = Inspection::default();
    for event in events {
        inspection.apply(event);
    }
    inspection
}

#[test]
fn a_default_inspection_does_not_exist() {
    let inspection = Inspection::default();
    assert!(!inspection.exists());
    assert_eq!(inspection.status(), None);
    assert_eq!(inspection.farmer(), None);
    assert_eq!(inspection.inspector(), None);
    assert_eq!(inspection.open_violations().count(), 0);
}

#[test]
fn the_state_follows_the_events() {
    let mut events = in_progress();
    events.extend([
        recorded(1, Severity::Critical),
        recorded(2, Severity::Minor),
        recorded(3, Severity::Critical),
        resolved(3, Severity::Critical),
    ]);
    let inspection = replay(events.clone());
    assert!(inspection.exists());
    assert_eq!(inspection.id(), Some(inspection_id()));
    assert_eq!(inspection.status(), Some(InspectionStatus::InProgress));
    assert_eq!(inspection.farmer(), Some(&farmer_id()));
    assert_eq!(inspection.inspector(), Some(&inspector_id()));
    assert_eq!(inspection.scheduled_for(), Some(scheduled_for()));
    assert_eq!(
        inspection.open_violations().collect::<Vec<_>>(),
        vec![
            (violation_id(1), Severity::Critical),
            (violation_id(2), Severity::Minor)
        ]
    );
    assert_eq!(
        inspection.open_critical_stock_items().collect::<Vec<_>>(),
        vec![stock_item(1)]
    );
    assert_eq!(inspection.score(), None);

    events.push(failed_at(80, vec![violation_id(1)], earlier()));
    let inspection = replay(events);
    assert_eq!(inspection.status(), Some(InspectionStatus::Failed));
    assert_eq!(inspection.score(), Some(score(80)));
}

#[test]
fn a_passed_inspection_records_its_score() {
    let inspection = replay(given_in(InspectionStatus::Passed));
    assert_eq!(inspection.status(), Some(InspectionStatus::Passed));
    assert_eq!(inspection.score(), Some(score(90)));
}

#[tokio::test]
async fn handling_a_command_applies_its_event() {
    let mut inspection = replay(vec![scheduled()]);
    let sink = cqrs_es::event_sink::EventSink::default();
    inspection
        .handle(issue(assigned(), start()), &(), &sink)
        .await
        .unwrap();
    assert_eq!(inspection.status(), Some(InspectionStatus::InProgress));
    assert_eq!(sink.collect().await, vec![started_at(at())]);
}

// ---- errors ----

#[test]
fn each_refusal_has_its_kind() {
    let v = violation_id(1);
    let cases = [
        (
            InspectionError::RoleNotAllowed { role: Role::Farmer },
            RefusalKind::Forbidden,
        ),
        (InspectionError::NotFound, RefusalKind::NotFound),
        (InspectionError::AlreadyScheduled, RefusalKind::Conflict),
        (InspectionError::InspectorMismatch, RefusalKind::Forbidden),
        (
            InspectionError::NotAssignedInspector,
            RefusalKind::Forbidden,
        ),
        (
            InspectionError::InvalidTransition {
                from: InspectionStatus::Passed,
                command: "StartInspection".into(),
            },
            RefusalKind::Conflict,
        ),
        (
            InspectionError::DuplicateViolation { violation_id: v },
            RefusalKind::Conflict,
        ),
        (
            InspectionError::UnknownViolation { violation_id: v },
            RefusalKind::NotFound,
        ),
        (
            InspectionError::AlreadyResolved { violation_id: v },
            RefusalKind::Conflict,
        ),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind(), kind, "{error:?}");
        // A refusal kept as an idempotency key's first answer must read back as itself.
        let stored = serde_json::to_value(&error).unwrap();
        assert_eq!(
            serde_json::from_value::<_>(stored).ok(),
            Some(error.clone())
        );
    }
}

#[test]
fn a_status_refusal_reads_as_a_sentence() {
    let error = InspectionError::InvalidTransition {
        from: InspectionStatus::InProgress,
        command: "StartInspection".into(),
    };
    assert_eq!(
        error.to_string(),
        "StartInspection is not allowed while the inspection is in progress"
    );
}
