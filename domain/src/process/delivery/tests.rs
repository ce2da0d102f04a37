//! Tests of the delivery process's decisions.

use chrono::TimeDelta;
use event_schemas::values::{
    ActorId, Address, AddressParts, DeliveryId, OrderId, PositiveQuantity, Reason, RecipientName,
    StockItemId,
};
use event_schemas::{
    DeliveryCompleted, DeliveryEvent, DeliveryFailed, DeliveryPickedUp, OrderDeliveryFailed,
    OrderEvent, OrderLine, OrderPlaced, OrderReadyForPickup,
};
use uuid::Uuid;

use crate::process::test_support::{at, cause};

use super::*;
use crate::process::Target;

fn order_id() -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(100))
}

fn delivery_id() -> DeliveryId {
    DeliveryId::from_uuid(Uuid::from_u128(200))
}

fn address() -> Address {
    Address::parse(AddressParts {
        line1: "1 Market St".into(),
        line2: None,
        city: "Lyon".into(),
        postal_code: "69001".into(),
        country: "FR".into(),
    })
    .unwrap()
}

fn placed() -> OrderEvent {
    OrderEvent::OrderPlaced(OrderPlaced {
        order_id: order_id(),
        customer_id: ActorId::parse("bistro").unwrap(),
        farmer_id: ActorId::parse("farmer-ana").unwrap(),
        lines: vec![OrderLine {
            stock_item_id: StockItemId::from_uuid(Uuid::from_u128(1)),
            quantity: PositiveQuantity::new(2).unwrap(),
        }],
        delivery_address: address(),
        requested_delivery_date: None,
        notes: None,
        placed_at: at(),
    })
}

fn ready() -> OrderEvent {
    OrderEvent::OrderReadyForPickup(OrderReadyForPickup { at: at() })
}

fn order(event: &OrderEvent) -> DeliveryProcessInput<'_> {
    DeliveryProcessInput::Order {
        order_id: order_id(),
        event,
    }
}

fn delivery(event: &DeliveryEvent) -> DeliveryProcessInput<'_> {
    DeliveryProcessInput::Delivery {
        delivery_id: delivery_id(),
        event,
    }
}

fn picked_up() -> DeliveryEvent {
    DeliveryEvent::DeliveryPickedUp(DeliveryPickedUp {
        order_id: order_id(),
        driver_id: ActorId::parse("driver-sam").unwrap(),
        picked_up_at: at(),
    })
}

fn completed() -> DeliveryEvent {
    DeliveryEvent::DeliveryCompleted(DeliveryCompleted {
        order_id: order_id(),
        recipient_name: RecipientName::parse("Chef").unwrap(),
        proof_ref: None,
        delivered_at: at(),
    })
}

#[test]
fn an_order_ready_for_pickup_gets_a_delivery_to_its_address() {
    let mut process = DeliveryProcess::default();
    assert!(process.handle(cause(1), order(&placed())).is_empty());
    let commands = process.handle(cause(2), order(&ready()));
    let expected_id = DeliveryProcess::delivery_id_for(order_id(), 1);
    match commands.as_slice() {
        [
            ProcessCommand {
                target:
                    Target::Delivery {
                        delivery_id,
                        command: DeliveryCommand::ScheduleDelivery(schedule),
                    },
                ..
            },
        ] => {
            assert_eq!(*delivery_id, expected_id);
            assert_eq!(
                *schedule,
                ScheduleDelivery {
                    delivery_id: expected_id,
                    order_id: order_id(),
                    pickup_address: None,
                    dropoff_address: address(),
                    window: DeliveryWindow {
                        start: at(),
                        end: at() + TimeDelta::hours(24),
                    },
                }
            );
        }
        other => panic!("expected one ScheduleDelivery, got {other:?}"),
    }
}

#[test]
fn the_delivery_id_is_the_same_for_the_same_order_and_attempt() {
    assert_eq!(
        DeliveryProcess::delivery_id_for(order_id(), 2),
        DeliveryProcess::delivery_id_for(order_id(), 2)
    );
}

#[test]
fn the_first_attempt_keeps_the_id_derived_from_the_order_alone() {
    // The id deliveries were scheduled under before retries existed: stored ids stay valid.
    let namespace = uuid::uuid!("3e0f6c55-8a1d-4b7e-a2c9-5d4b7f1e9a60");
    assert_eq!(
        DeliveryProcess::delivery_id_for(order_id(), 1),
        DeliveryId::derived(namespace, &order_id().to_string())
    );
}

#[test]
fn every_attempt_has_its_own_delivery_id() {
    let ids: std::collections::BTreeSet<_> = (1..=MAX_DELIVERIES)
        .map(|attempt| DeliveryProcess::delivery_id_for(order_id(), attempt))
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn ready_twice_schedules_once() {
    let mut process = DeliveryProcess::default();
    process.handle(cause(1), order(&placed()));
    assert_eq!(process.handle(cause(2), order(&ready())).len(), 1);
    assert!(process.handle(cause(2), order(&ready())).is_empty());
}

#[test]
fn pickup_puts_the_order_in_transit_once() {
    let mut process = DeliveryProcess::default();
    let commands = process.handle(cause(3), delivery(&picked_up()));
    match commands.as_slice() {
        [
            ProcessCommand {
                target:
                    Target::Order {
                        order_id: id,
                        command,
                    },
                ..
            },
        ] => {
            assert_eq!(*id, order_id());
            assert_eq!(
                *command,
                OrderCommand::MarkInTransit {
                    delivery_id: delivery_id()
                }
            );
        }
        other => panic!("expected one MarkInTransit, got {other:?}"),
    }
    assert!(process.handle(cause(3), delivery(&picked_up())).is_empty());
}

#[test]
fn completion_delivers_the_order_once() {
    let mut process = DeliveryProcess::default();
    process.handle(cause(3), delivery(&picked_up()));
    let commands = process.handle(cause(4), delivery(&completed()));
    match commands.as_slice() {
        [
            ProcessCommand {
                target: Target::Order { command, .. },
                ..
            },
        ] => assert_eq!(
            *command,
            OrderCommand::MarkDelivered {
                delivery_id: delivery_id()
            }
        ),
        other => panic!("expected one MarkDelivered, got {other:?}"),
    }
    assert!(process.handle(cause(4), delivery(&completed())).is_empty());
}

#[test]
fn ready_for_an_order_never_seen_placed_schedules_nothing() {
    let mut process = DeliveryProcess::default();
    assert!(process.handle(cause(2), order(&ready())).is_empty());
}

#[test]
fn delivery_events_are_routed_by_their_order() {
    assert_eq!(delivery(&picked_up()).order_id(), Some(order_id()));
    assert_eq!(delivery(&completed()).order_id(), Some(order_id()));
}

// ---- failed deliveries ----------------------------------------------------------------------

fn failed(reason: &str) -> DeliveryEvent {
    DeliveryEvent::DeliveryFailed(DeliveryFailed {
        order_id: order_id(),
        reason: Reason::parse(reason).unwrap(),
        failed_at: at(),
    })
}

fn order_delivery_failed(delivery_id: DeliveryId, failed_deliveries: u32) -> OrderEvent {
    OrderEvent::OrderDeliveryFailed(OrderDeliveryFailed {
        delivery_id,
        reason: Reason::parse("restaurant closed").unwrap(),
        failed_deliveries,
        failed_at: at(),
    })
}

/// A process that saw the order placed and ready, so it scheduled attempt 1.
fn scheduled_once() -> DeliveryProcess {
    let mut process = DeliveryProcess::default();
    process.handle(cause(1), order(&placed()));
    assert_eq!(process.handle(cause(2), order(&ready())).len(), 1);
    process
}

/// The delivery the commands schedule, if they are one `ScheduleDelivery`.
fn scheduled(commands: &[ProcessCommand]) -> Option<&ScheduleDelivery> {
    match commands {
        [
            ProcessCommand {
                target:
                    Target::Delivery {
                        command: DeliveryCommand::ScheduleDelivery(schedule),
                        ..
                    },
                ..
            },
        ] => Some(schedule),
        _ => None,
    }
}

#[test]
fn a_failed_delivery_marks_the_order_delivery_failed_with_its_reason_once() {
    let mut process = scheduled_once();
    let event = failed("restaurant closed");
    let commands = process.handle(cause(3), delivery(&event));
    match commands.as_slice() {
        [
            ProcessCommand {
                target:
                    Target::Order {
                        order_id: id,
                        command,
                    },
                ..
            },
        ] => {
            assert_eq!(*id, order_id());
            assert_eq!(
                *command,
                OrderCommand::MarkDeliveryFailed {
                    delivery_id: delivery_id(),
                    reason: Reason::parse("restaurant closed").unwrap(),
                }
            );
        }
        other => panic!("expected one MarkDeliveryFailed, got {other:?}"),
    }
    assert!(process.handle(cause(3), delivery(&event)).is_empty());
}

#[test]
fn a_delivery_failing_after_pickup_is_passed_on_too() {
    let mut process = scheduled_once();
    assert_eq!(process.handle(cause(3), delivery(&picked_up())).len(), 1);
    assert_eq!(
        process
            .handle(cause(4), delivery(&failed("van broke down")))
            .len(),
        1
    );
    assert!(
        process.handle(cause(3), delivery(&picked_up())).is_empty(),
        "a repeated pickup puts nothing in transit again"
    );
}

#[test]
fn the_orders_failed_delivery_schedules_the_next_attempt_with_a_new_id() {
    let mut process = scheduled_once();
    let first = DeliveryProcess::delivery_id_for(order_id(), 1);
    let later = cause(5);
    let commands = process.handle(later, order(&order_delivery_failed(first, 1)));
    let schedule = scheduled(&commands).expect("one ScheduleDelivery");
    let second = DeliveryProcess::delivery_id_for(order_id(), 2);
    assert_ne!(second, first);
    assert_eq!(
        *schedule,
        ScheduleDelivery {
            delivery_id: second,
            order_id: order_id(),
            pickup_address: None,
            dropoff_address: address(),
            window: DeliveryWindow {
                start: later.at,
                end: later.at + TimeDelta::hours(24),
            },
        }
    );
    match commands.as_slice() {
        [
            ProcessCommand {
                target: Target::Delivery { delivery_id, .. },
                ..
            },
        ] => assert_eq!(*delivery_id, second),
        other => panic!("expected one command to the delivery, got {other:?}"),
    }
}

#[test]
fn the_same_failure_seen_twice_schedules_once() {
    let mut process = scheduled_once();
    let event = order_delivery_failed(DeliveryProcess::delivery_id_for(order_id(), 1), 1);
    assert_eq!(process.handle(cause(5), order(&event)).len(), 1);
    assert!(process.handle(cause(5), order(&event)).is_empty());
    assert!(
        process.handle(cause(6), order(&ready())).is_empty(),
        "a ready order already has its delivery"
    );
}

#[test]
fn no_delivery_is_scheduled_after_the_third_failure() {
    let mut process = scheduled_once();
    for attempt in 1..MAX_DELIVERIES {
        let id = DeliveryProcess::delivery_id_for(order_id(), attempt);
        let commands = process.handle(
            cause(u128::from(10 + attempt)),
            order(&order_delivery_failed(id, attempt)),
        );
        let next = scheduled(&commands).expect("a next attempt");
        assert_eq!(
            next.delivery_id,
            DeliveryProcess::delivery_id_for(order_id(), attempt + 1)
        );
    }
    let last = DeliveryProcess::delivery_id_for(order_id(), MAX_DELIVERIES);
    assert!(
        process
            .handle(
                cause(20),
                order(&order_delivery_failed(last, MAX_DELIVERIES))
            )
            .is_empty(),
        "three deliveries failed: the order waits for an admin"
    );
}

#[test]
fn no_more_than_the_maximum_is_scheduled_whatever_the_failure_count_says() {
    let mut process = scheduled_once();
    // Failures of deliveries an admin scheduled count too; the process still stops at three.
    for (n, count) in [(1, 1), (2, 2)] {
        let id = DeliveryId::from_uuid(Uuid::from_u128(900 + n));
        process.handle(cause(30 + n), order(&order_delivery_failed(id, count)));
    }
    let id = DeliveryId::from_uuid(Uuid::from_u128(999));
    assert!(
        process
            .handle(cause(40), order(&order_delivery_failed(id, 3)))
            .is_empty()
    );
}

#[test]
fn a_failed_delivery_is_routed_by_its_order() {
    assert_eq!(delivery(&failed("closed")).order_id(), Some(order_id()));
}

#[test]
fn the_process_state_survives_being_stored_as_json() {
    let mut process = scheduled_once();
    process.handle(cause(3), delivery(&picked_up()));
    process.handle(cause(4), delivery(&failed("closed")));
    process.handle(
        cause(5),
        order(&order_delivery_failed(
            DeliveryProcess::delivery_id_for(order_id(), 1),
            1,
        )),
    );
    let stored = serde_json::to_value(&process).unwrap();
    let back: DeliveryProcess = serde_json::from_value(stored).unwrap();
    assert_eq!(back, process);
}

fn admin_scheduled() -> DeliveryEvent {
    DeliveryEvent::DeliveryScheduled(event_schemas::DeliveryScheduled {
        delivery_id: delivery_id(),
        order_id: order_id(),
        pickup_address: Some(address()),
        dropoff_address: address(),
        window: DeliveryWindow {
            start: at(),
            end: at() + TimeDelta::hours(2),
        },
        scheduled_at: at(),
    })
}

#[test]
fn an_order_an_admin_already_gave_a_delivery_gets_no_other_when_ready() {
    let mut process = DeliveryProcess::default();
    assert!(process.handle(cause(1), order(&placed())).is_empty());
    assert!(
        process
            .handle(cause(2), delivery(&admin_scheduled()))
            .is_empty()
    );
    assert!(
        process.handle(cause(3), order(&ready())).is_empty(),
        "the admin's delivery carries it"
    );
    // Once that one fails, the process schedules the next.
    let failed_once = OrderEvent::OrderDeliveryFailed(OrderDeliveryFailed {
        delivery_id: delivery_id(),
        reason: Reason::parse("closed").unwrap(),
        failed_deliveries: 1,
        failed_at: at(),
    });
    let commands = process.handle(cause(4), order(&failed_once));
    assert!(scheduled(&commands).is_some(), "{commands:?}");
}

#[test]
fn deliveries_an_admin_scheduled_count_toward_the_most_an_order_may_have() {
    let mut process = scheduled_once();
    let first = DeliveryProcess::delivery_id_for(order_id(), 1);
    let second = DeliveryProcess::delivery_id_for(order_id(), 2);
    let failure = |id, n| {
        OrderEvent::OrderDeliveryFailed(OrderDeliveryFailed {
            delivery_id: id,
            reason: Reason::parse("closed").unwrap(),
            failed_deliveries: n,
            failed_at: at(),
        })
    };
    assert!(scheduled(&process.handle(cause(5), order(&failure(first, 1)))).is_some());
    // An admin adds one of its own: three deliveries in all.
    assert!(
        process
            .handle(cause(6), delivery(&admin_scheduled()))
            .is_empty()
    );
    assert!(
        process
            .handle(cause(7), order(&failure(second, 2)))
            .is_empty(),
        "three deliveries already"
    );
}
