//! Given/when/then tests of the `delivery` aggregate.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::values::{
    Actor, ActorId, Address, AddressParts, DeliveryId, GeoPoint, Latitude, Longitude, OrderId,
    ProofRef, Reason, RecipientName, Role, Vehicle,
};
use event_schemas::{
    DeliveryCompleted, DeliveryEvent, DeliveryFailed, DeliveryPickedUp, DeliveryScheduled,
    DeliveryStatus, DeliveryWindow, DriverAssigned, LocationUpdated,
};
use uuid::Uuid;

use super::{Delivery, DeliveryCommand, DeliveryError, ScheduleDelivery};
use crate::{Issued, Refusal, RefusalKind};

// ---- fixtures ---------------------------------------------------------------------------------

const ALL_ROLES: [Role; 8] = [
    Role::Farmer,
    Role::Restaurant,
    Role::Distributor,
    Role::Inspector,
    Role::Admin,
    Role::Auditor,
    Role::Analyst,
    Role::System,
];

const ALL_STATUSES: [DeliveryStatus; 5] = [
    DeliveryStatus::Scheduled,
    DeliveryStatus::Assigned,
    DeliveryStatus::InTransit,
    DeliveryStatus::Delivered,
    DeliveryStatus::Failed,
];

fn time(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, hour, minute, 0).unwrap()
}

/// When every command in these tests is issued.
fn now() -> DateTime<Utc> {
    time(12, 0)
}

fn delivery_id() -> DeliveryId {
    DeliveryId::from_uuid(Uuid::from_u128(1))
}

fn order_id() -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(2))
}

fn actor(sub: &str, role: Role) -> Actor {
    Actor::new(ActorId::parse(sub).unwrap(), role)
}

fn driver_id() -> ActorId {
    ActorId::parse("driver-1").unwrap()
}

/// The distributor assigned in [`history`].
fn driver() -> Actor {
    actor("driver-1", Role::Distributor)
}

fn other_driver() -> Actor {
    actor("driver-2", Role::Distributor)
}

fn admin() -> Actor {
    actor("admin-1", Role::Admin)
}

fn system() -> Actor {
    Actor::system("delivery")
}

fn address(line1: &str) -> Address {
    Address::parse(AddressParts {
        line1: line1.to_owned(),
        line2: None,
        city: "Lyon".to_owned(),
        postal_code: "69001".to_owned(),
        country: "FR".to_owned(),
    })
    .unwrap()
}

fn van() -> Vehicle {
    Vehicle::parse("refrigerated van").unwrap()
}

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint {
        lat: Latitude::new(lat).unwrap(),
        lon: Longitude::new(lon).unwrap(),
    }
}

/// The window of every scheduled delivery here: 14:00 to 16:00.
fn afternoon() -> DeliveryWindow {
    DeliveryWindow {
        start: time(14, 0),
        end: time(16, 0),
    }
}

fn recipient() -> RecipientName {
    RecipientName::parse("Chef Amélie").unwrap()
}

fn proof() -> ProofRef {
    ProofRef::parse("signature-42").unwrap()
}

fn reason() -> Reason {
    Reason::parse("restaurant closed").unwrap()
}

// ---- events -----------------------------------------------------------------------------------

fn scheduled() -> DeliveryEvent {
    DeliveryScheduled {
        delivery_id: delivery_id(),
        order_id: order_id(),
        pickup_address: Some(address("1 Farm Road")),
        dropoff_address: address("2 Kitchen Street"),
        window: afternoon(),
        scheduled_at: time(8, 0),
    }
    .into()
}

fn assigned() -> DeliveryEvent {
    DriverAssigned {
        driver_id: driver_id(),
        vehicle: Some(van()),
        assigned_at: time(9, 0),
    }
    .into()
}

fn picked_up() -> DeliveryEvent {
    DeliveryPickedUp {
        order_id: order_id(),
        driver_id: driver_id(),
        picked_up_at: time(10, 0),
    }
    .into()
}

fn located(recorded_at: DateTime<Utc>) -> DeliveryEvent {
    LocationUpdated {
        location: point(45.76, 4.83),
        recorded_at,
        eta: Some(time(15, 0)),
    }
    .into()
}

fn completed() -> DeliveryEvent {
    DeliveryCompleted {
        order_id: order_id(),
        recipient_name: recipient(),
        proof_ref: Some(proof()),
        delivered_at: time(11, 0),
    }
    .into()
}

fn failed() -> DeliveryEvent {
    DeliveryFailed {
        order_id: order_id(),
        reason: reason(),
        failed_at: time(11, 0),
    }
    .into()
}

/// The events of a delivery now in `status`, assigned to [`driver`] from `Assigned` on.
fn history(status: DeliveryStatus) -> Vec<DeliveryEvent> {
    match status {
        DeliveryStatus::Scheduled => vec![scheduled()],
        DeliveryStatus::Assigned => vec![scheduled(), assigned()],
        DeliveryStatus::InTransit => vec![scheduled(), assigned(), picked_up()],
        DeliveryStatus::Delivered => vec![scheduled(), assigned(), picked_up(), completed()],
        DeliveryStatus::Failed => vec![scheduled(), assigned(), picked_up(), failed()],
    }
}

// ---- commands ---------------------------------------------------------------------------------

fn schedule_command() -> ScheduleDelivery {
    ScheduleDelivery {
        delivery_id: delivery_id(),
        order_id: order_id(),
        pickup_address: Some(address("1 Farm Road")),
        dropoff_address: address("2 Kitchen Street"),
        window: afternoon(),
    }
}

fn schedule() -> DeliveryCommand {
    DeliveryCommand::ScheduleDelivery(schedule_command())
}

fn assign(driver_id: Option<ActorId>) -> DeliveryCommand {
    DeliveryCommand::AssignDriver {
        driver_id,
        vehicle: Some(van()),
    }
}

fn update_location(recorded_at: DateTime<Utc>) -> DeliveryCommand {
    DeliveryCommand::UpdateLocation {
        location: point(45.75, 4.85),
        recorded_at,
        eta: Some(time(14, 30)),
    }
}

fn complete() -> DeliveryCommand {
    DeliveryCommand::CompleteDelivery {
        recipient_name: recipient(),
        proof_ref: Some(proof()),
        delivered_at: time(11, 55),
    }
}

fn fail() -> DeliveryCommand {
    DeliveryCommand::FailDelivery { reason: reason() }
}

fn by(actor: Actor, command: DeliveryCommand) -> Issued<DeliveryCommand> {
    Issued::new(actor, now(), command)
}

fn given(events: Vec<DeliveryEvent>) -> cqrs_es::test::AggregateTestExecutor<Delivery> {
    TestFramework::<Delivery>::with(()).given(events)
}

/// The result of `command` issued by `actor` on a delivery with `events`, for table tests.
async fn decide(
    events: Vec<DeliveryEvent>,
    actor: Actor,
    command: DeliveryCommand,
) -> Result<Vec<DeliveryEvent>, DeliveryError> {
    given(events)
        .when_async(by(actor, command))
        .await
        .inspect_result()
}

/// Checks that every role but `allowed` is refused `command` on a delivery with `events`, even
/// when the actor's id is the assigned driver's.
async fn assert_only_roles_allowed(
    allowed: &[Role],
    events: Vec<DeliveryEvent>,
    command: DeliveryCommand,
) {
    for role in ALL_ROLES.into_iter().filter(|r| !allowed.contains(r)) {
        let result = decide(events.clone(), actor("driver-1", role), command.clone()).await;
        assert_eq!(
            result,
            Err(DeliveryError::RoleNotAllowed { role }),
            "{role} issuing {}",
            command.name()
        );
    }
}

/// Checks that `command` is refused as an invalid transition in every status not in
/// `allowed`, issued by an admin and (once a driver is assigned) by the driver.
async fn assert_refused_outside(allowed: &[DeliveryStatus], command: DeliveryCommand) {
    for status in ALL_STATUSES.into_iter().filter(|s| !allowed.contains(s)) {
        let expected = Err(DeliveryError::InvalidTransition {
            from: status,
            command: command.name().into(),
        });
        let result = decide(history(status), admin(), command.clone()).await;
        assert_eq!(result, expected, "admin, delivery {status:?}");
        if status != DeliveryStatus::Scheduled {
            let result = decide(history(status), driver(), command.clone()).await;
            assert_eq!(result, expected, "driver, delivery {status:?}");
        }
    }
}

// ---- ScheduleDelivery -------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_schedules_a_delivery() {
    given(vec![])
        .when_async(by(admin(), schedule()))
        .await
        .then_expect_events(vec![
            DeliveryScheduled {
                delivery_id: delivery_id(),
                order_id: order_id(),
                pickup_address: Some(address("1 Farm Road")),
                dropoff_address: address("2 Kitchen Street"),
                window: afternoon(),
                scheduled_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn the_delivery_process_schedules_a_delivery_picked_up_at_the_farm() {
    let command = DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
        pickup_address: None,
        ..schedule_command()
    });
    given(vec![])
        .when_async(by(system(), command))
        .await
        .then_expect_events(vec![
            DeliveryScheduled {
                delivery_id: delivery_id(),
                order_id: order_id(),
                pickup_address: None,
                dropoff_address: address("2 Kitchen Street"),
                window: afternoon(),
                scheduled_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn scheduling_a_delivery_that_exists_is_refused_in_every_status() {
    for status in ALL_STATUSES {
        for actor in [admin(), system()] {
            let result = decide(history(status), actor.clone(), schedule()).await;
            assert_eq!(
                result,
                Err(DeliveryError::AlreadyScheduled),
                "{} scheduling over a delivery {status:?}",
                actor.role
            );
        }
    }
}

#[tokio::test]
async fn a_window_ending_before_it_starts_is_refused() {
    let command = DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
        window: DeliveryWindow {
            start: time(16, 0),
            end: time(14, 0),
        },
        ..schedule_command()
    });
    given(vec![])
        .when_async(by(admin(), command))
        .await
        .then_expect_error(DeliveryError::InvalidWindow);
}

#[tokio::test]
async fn a_window_ending_when_it_starts_is_refused() {
    let command = DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
        window: DeliveryWindow {
            start: time(14, 0),
            end: time(14, 0),
        },
        ..schedule_command()
    });
    given(vec![])
        .when_async(by(system(), command))
        .await
        .then_expect_error(DeliveryError::InvalidWindow);
}

#[tokio::test]
async fn only_an_admin_and_the_delivery_process_may_schedule() {
    assert_only_roles_allowed(&[Role::Admin, Role::System], vec![], schedule()).await;
}

// ---- AssignDriver -----------------------------------------------------------------------------

#[tokio::test]
async fn a_distributor_assigns_itself() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(driver(), assign(None)))
        .await
        .then_expect_events(vec![
            DriverAssigned {
                driver_id: driver_id(),
                vehicle: Some(van()),
                assigned_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn a_distributor_naming_itself_is_assigned() {
    let command = DeliveryCommand::AssignDriver {
        driver_id: Some(driver_id()),
        vehicle: None,
    };
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(driver(), command))
        .await
        .then_expect_events(vec![
            DriverAssigned {
                driver_id: driver_id(),
                vehicle: None,
                assigned_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn a_distributor_assigning_another_driver_is_refused() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(other_driver(), assign(Some(driver_id()))))
        .await
        .then_expect_error(DeliveryError::DriverMismatch);
}

#[tokio::test]
async fn an_admin_assigns_the_driver_it_names() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(admin(), assign(Some(driver_id()))))
        .await
        .then_expect_events(vec![
            DriverAssigned {
                driver_id: driver_id(),
                vehicle: Some(van()),
                assigned_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_admin_assigning_without_naming_a_driver_is_refused() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(admin(), assign(None)))
        .await
        .then_expect_error(DeliveryError::DriverRequired);
}

#[tokio::test]
async fn assigning_a_delivery_that_has_a_driver_is_refused() {
    let attempts = [
        (driver(), assign(None)),
        (other_driver(), assign(None)),
        (admin(), assign(Some(other_driver().sub))),
    ];
    for (actor, command) in attempts {
        let result = decide(history(DeliveryStatus::Assigned), actor.clone(), command).await;
        assert_eq!(
            result,
            Err(DeliveryError::AlreadyAssigned),
            "{} re-assigning",
            actor.sub
        );
    }
}

#[tokio::test]
async fn assigning_is_refused_once_picked_up_delivered_or_failed() {
    for status in [
        DeliveryStatus::InTransit,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ] {
        for (actor, command) in [
            (admin(), assign(Some(driver_id()))),
            (other_driver(), assign(None)),
        ] {
            let result = decide(history(status), actor.clone(), command).await;
            assert_eq!(
                result,
                Err(DeliveryError::InvalidTransition {
                    from: status,
                    command: "AssignDriver".into()
                }),
                "{} assigning a delivery {status:?}",
                actor.sub
            );
        }
    }
}

#[tokio::test]
async fn assigning_an_unknown_delivery_is_refused() {
    for (actor, command) in [
        (driver(), assign(None)),
        (admin(), assign(Some(driver_id()))),
    ] {
        let result = decide(vec![], actor.clone(), command).await;
        assert_eq!(result, Err(DeliveryError::NotFound), "{}", actor.sub);
    }
}

#[tokio::test]
async fn only_a_distributor_and_an_admin_may_assign() {
    assert_only_roles_allowed(
        &[Role::Distributor, Role::Admin],
        history(DeliveryStatus::Scheduled),
        assign(Some(driver_id())),
    )
    .await;
}

// ---- PickUp -----------------------------------------------------------------------------------

#[tokio::test]
async fn the_assigned_driver_picks_the_goods_up() {
    given(history(DeliveryStatus::Assigned))
        .when_async(by(driver(), DeliveryCommand::PickUp))
        .await
        .then_expect_events(vec![
            DeliveryPickedUp {
                order_id: order_id(),
                driver_id: driver_id(),
                picked_up_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_admin_picks_up_on_behalf_of_the_assigned_driver() {
    given(history(DeliveryStatus::Assigned))
        .when_async(by(admin(), DeliveryCommand::PickUp))
        .await
        .then_expect_events(vec![
            DeliveryPickedUp {
                order_id: order_id(),
                driver_id: driver_id(),
                picked_up_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn another_distributor_may_not_pick_up() {
    given(history(DeliveryStatus::Assigned))
        .when_async(by(other_driver(), DeliveryCommand::PickUp))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn a_distributor_may_not_pick_up_a_delivery_with_no_driver() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(driver(), DeliveryCommand::PickUp))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn picking_up_is_refused_unless_assigned() {
    assert_refused_outside(&[DeliveryStatus::Assigned], DeliveryCommand::PickUp).await;
}

#[tokio::test]
async fn picking_up_an_unknown_delivery_is_refused() {
    given(vec![])
        .when_async(by(admin(), DeliveryCommand::PickUp))
        .await
        .then_expect_error(DeliveryError::NotFound);
}

#[tokio::test]
async fn only_the_driver_and_an_admin_may_pick_up() {
    assert_only_roles_allowed(
        &[Role::Distributor, Role::Admin],
        history(DeliveryStatus::Assigned),
        DeliveryCommand::PickUp,
    )
    .await;
}

// ---- UpdateLocation ---------------------------------------------------------------------------

fn location_updated(recorded_at: DateTime<Utc>) -> DeliveryEvent {
    LocationUpdated {
        location: point(45.75, 4.85),
        recorded_at,
        eta: Some(time(14, 30)),
    }
    .into()
}

#[tokio::test]
async fn the_driver_reports_a_first_location_before_and_after_pick_up() {
    for status in [DeliveryStatus::Assigned, DeliveryStatus::InTransit] {
        let result = decide(history(status), driver(), update_location(time(11, 0))).await;
        assert_eq!(
            result,
            Ok(vec![location_updated(time(11, 0))]),
            "delivery {status:?}"
        );
    }
}

#[tokio::test]
async fn a_location_recorded_after_the_last_one_is_accepted() {
    let mut events = history(DeliveryStatus::InTransit);
    events.push(located(time(10, 30)));
    given(events)
        .when_async(by(driver(), update_location(time(10, 31))))
        .await
        .then_expect_events(vec![location_updated(time(10, 31))]);
}

#[tokio::test]
async fn a_location_recorded_before_the_last_one_is_refused() {
    let mut events = history(DeliveryStatus::InTransit);
    events.push(located(time(10, 30)));
    given(events)
        .when_async(by(driver(), update_location(time(10, 29))))
        .await
        .then_expect_error(DeliveryError::StaleLocation {
            last_recorded_at: time(10, 30),
        });
}

#[tokio::test]
async fn a_location_recorded_at_the_same_time_as_the_last_one_is_refused() {
    let mut events = history(DeliveryStatus::Assigned);
    events.push(located(time(10, 30)));
    given(events)
        .when_async(by(admin(), update_location(time(10, 30))))
        .await
        .then_expect_error(DeliveryError::StaleLocation {
            last_recorded_at: time(10, 30),
        });
}

#[tokio::test]
async fn only_the_latest_location_counts_for_staleness() {
    let mut events = history(DeliveryStatus::InTransit);
    events.extend([located(time(10, 30)), located(time(10, 40))]);
    given(events)
        .when_async(by(driver(), update_location(time(10, 35))))
        .await
        .then_expect_error(DeliveryError::StaleLocation {
            last_recorded_at: time(10, 40),
        });
}

#[tokio::test]
async fn an_admin_reports_a_location() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(admin(), update_location(time(11, 0))))
        .await
        .then_expect_events(vec![location_updated(time(11, 0))]);
}

#[tokio::test]
async fn another_distributor_may_not_report_a_location() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(other_driver(), update_location(time(11, 0))))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn a_distributor_may_not_report_a_location_for_a_delivery_with_no_driver() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(driver(), update_location(time(11, 0))))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn reporting_a_location_is_refused_unless_assigned_or_in_transit() {
    assert_refused_outside(
        &[DeliveryStatus::Assigned, DeliveryStatus::InTransit],
        update_location(time(11, 0)),
    )
    .await;
}

#[tokio::test]
async fn reporting_a_location_for_an_unknown_delivery_is_refused() {
    given(vec![])
        .when_async(by(admin(), update_location(time(11, 0))))
        .await
        .then_expect_error(DeliveryError::NotFound);
}

#[tokio::test]
async fn only_the_driver_and_an_admin_may_report_a_location() {
    assert_only_roles_allowed(
        &[Role::Distributor, Role::Admin],
        history(DeliveryStatus::InTransit),
        update_location(time(11, 0)),
    )
    .await;
}

// ---- CompleteDelivery -------------------------------------------------------------------------

fn completed_now() -> DeliveryEvent {
    DeliveryCompleted {
        order_id: order_id(),
        recipient_name: recipient(),
        proof_ref: Some(proof()),
        delivered_at: time(11, 55),
    }
    .into()
}

#[tokio::test]
async fn the_driver_hands_the_goods_over() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(driver(), complete()))
        .await
        .then_expect_events(vec![completed_now()]);
}

#[tokio::test]
async fn a_delivery_completes_without_a_proof() {
    let command = DeliveryCommand::CompleteDelivery {
        recipient_name: recipient(),
        proof_ref: None,
        delivered_at: time(11, 55),
    };
    given(history(DeliveryStatus::InTransit))
        .when_async(by(driver(), command))
        .await
        .then_expect_events(vec![
            DeliveryCompleted {
                order_id: order_id(),
                recipient_name: recipient(),
                proof_ref: None,
                delivered_at: time(11, 55),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_admin_completes_a_delivery() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(admin(), complete()))
        .await
        .then_expect_events(vec![completed_now()]);
}

#[tokio::test]
async fn another_distributor_may_not_complete() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(other_driver(), complete()))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn a_distributor_may_not_complete_a_delivery_with_no_driver() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(driver(), complete()))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn completing_is_refused_unless_in_transit() {
    assert_refused_outside(&[DeliveryStatus::InTransit], complete()).await;
}

#[tokio::test]
async fn completing_an_unknown_delivery_is_refused() {
    given(vec![])
        .when_async(by(admin(), complete()))
        .await
        .then_expect_error(DeliveryError::NotFound);
}

#[tokio::test]
async fn only_the_driver_and_an_admin_may_complete() {
    assert_only_roles_allowed(
        &[Role::Distributor, Role::Admin],
        history(DeliveryStatus::InTransit),
        complete(),
    )
    .await;
}

// ---- FailDelivery -----------------------------------------------------------------------------

fn failed_now() -> DeliveryEvent {
    DeliveryFailed {
        order_id: order_id(),
        reason: reason(),
        failed_at: now(),
    }
    .into()
}

#[tokio::test]
async fn the_driver_gives_up_on_the_way() {
    let result = decide(history(DeliveryStatus::InTransit), driver(), fail()).await;
    assert_eq!(result, Ok(vec![failed_now()]));
}

#[tokio::test]
async fn an_admin_fails_a_delivery() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(admin(), fail()))
        .await
        .then_expect_events(vec![failed_now()]);
}

#[tokio::test]
async fn another_distributor_may_not_fail_a_delivery() {
    given(history(DeliveryStatus::InTransit))
        .when_async(by(other_driver(), fail()))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn a_distributor_may_not_fail_a_delivery_with_no_driver() {
    given(history(DeliveryStatus::Scheduled))
        .when_async(by(driver(), fail()))
        .await
        .then_expect_error(DeliveryError::NotAssignedDriver);
}

#[tokio::test]
async fn failing_is_refused_unless_in_transit() {
    assert_refused_outside(&[DeliveryStatus::InTransit], fail()).await;
}

#[tokio::test]
async fn failing_an_unknown_delivery_is_refused() {
    given(vec![])
        .when_async(by(admin(), fail()))
        .await
        .then_expect_error(DeliveryError::NotFound);
}

#[tokio::test]
async fn only_the_driver_and_an_admin_may_fail_a_delivery() {
    assert_only_roles_allowed(
        &[Role::Distributor, Role::Admin],
        history(DeliveryStatus::Assigned),
        fail(),
    )
    .await;
}

// ---- order of checks --------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_role_is_told_so_even_for_an_unknown_delivery() {
    for command in [
        assign(None),
        DeliveryCommand::PickUp,
        update_location(time(11, 0)),
        complete(),
        fail(),
    ] {
        let result = decide(vec![], actor("auditor-1", Role::Auditor), command.clone()).await;
        assert_eq!(
            result,
            Err(DeliveryError::RoleNotAllowed {
                role: Role::Auditor
            }),
            "{}",
            command.name()
        );
    }
}

#[tokio::test]
async fn another_distributor_is_refused_as_not_the_driver_in_every_status() {
    for status in ALL_STATUSES {
        for command in [
            DeliveryCommand::PickUp,
            update_location(time(11, 0)),
            complete(),
            fail(),
        ] {
            let result = decide(history(status), other_driver(), command.clone()).await;
            assert_eq!(
                result,
                Err(DeliveryError::NotAssignedDriver),
                "{} on a delivery {status:?}",
                command.name()
            );
        }
    }
}

// ---- state and refusal kinds ------------------------------------------------------------------

#[test]
fn replayed_events_show_through_the_accessors() {
    let mut delivery = Delivery::default();
    assert!(!delivery.is_scheduled());
    assert_eq!(delivery.status(), None);

    let mut events = history(DeliveryStatus::InTransit);
    events.push(located(time(10, 30)));
    events.push(
        LocationUpdated {
            location: point(45.70, 4.90),
            recorded_at: time(10, 45),
            eta: None,
        }
        .into(),
    );
    for event in events {
        delivery.apply(event);
    }

    assert!(delivery.is_scheduled());
    assert_eq!(delivery.id(), Some(delivery_id()));
    assert_eq!(delivery.status(), Some(DeliveryStatus::InTransit));
    assert_eq!(delivery.order_id(), Some(order_id()));
    assert_eq!(delivery.driver(), Some(&driver_id()));
    assert_eq!(delivery.vehicle(), Some(&van()));
    assert_eq!(
        delivery.last_location(),
        Some((point(45.70, 4.90), time(10, 45)))
    );
    assert_eq!(
        delivery.eta(),
        Some(time(15, 0)),
        "a report without an eta keeps the last one"
    );

    delivery.apply(completed());
    assert_eq!(delivery.status(), Some(DeliveryStatus::Delivered));
}

#[test]
fn a_failed_delivery_reads_as_failed() {
    let mut delivery = Delivery::default();
    for event in history(DeliveryStatus::Failed) {
        delivery.apply(event);
    }
    assert_eq!(delivery.status(), Some(DeliveryStatus::Failed));
    assert_eq!(delivery.last_location(), None);
}

#[test]
fn every_refusal_has_its_kind() {
    let cases = [
        (
            DeliveryError::RoleNotAllowed { role: Role::Farmer },
            RefusalKind::Forbidden,
        ),
        (DeliveryError::NotFound, RefusalKind::NotFound),
        (DeliveryError::AlreadyScheduled, RefusalKind::Conflict),
        (DeliveryError::InvalidWindow, RefusalKind::Invalid),
        (DeliveryError::DriverMismatch, RefusalKind::Forbidden),
        (DeliveryError::DriverRequired, RefusalKind::Invalid),
        (DeliveryError::AlreadyAssigned, RefusalKind::Conflict),
        (DeliveryError::NotAssignedDriver, RefusalKind::Forbidden),
        (
            DeliveryError::StaleLocation {
                last_recorded_at: now(),
            },
            RefusalKind::Conflict,
        ),
        (
            DeliveryError::InvalidTransition {
                from: DeliveryStatus::Delivered,
                command: "FailDelivery".into(),
            },
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
