//! Tests of the delivery process's decisions.

use chrono::TimeDelta;
use event_schemas::values::{
    ActorId, Address, AddressParts, DeliveryId, OrderId, PositiveQuantity, RecipientName,
    StockItemId,
};
use event_schemas::{
    DeliveryCompleted, DeliveryEvent, DeliveryPickedUp, OrderEvent, OrderLine, OrderPlaced,
    OrderReadyForPickup,
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
    let expected_id = DeliveryProcess::delivery_id_for(order_id());
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
fn the_delivery_id_is_the_same_for_the_same_order() {
    assert_eq!(
        DeliveryProcess::delivery_id_for(order_id()),
        DeliveryProcess::delivery_id_for(order_id())
    );
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
