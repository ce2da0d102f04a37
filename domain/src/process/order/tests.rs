//! Tests of the order process's decisions.

use event_schemas::values::{
    ActorId, Address, AddressParts, Cents, OrderId, PositiveQuantity, ProductName, Quantity,
    Reason, StockItemId,
};
use event_schemas::{
    OrderCancelled, OrderConfirmed, OrderDelivered, OrderDeliveryFailed, OrderEvent, OrderLine,
    OrderPlaced, OrderRejected, OrderStatus, PricedLine, RefusedLine, ReservationRefusal,
    StockEvent, StockLevels, StockReservationRefused, StockReserved,
};
use uuid::Uuid;

use crate::process::test_support::{at, cause};

use super::*;
use crate::process::Target;

fn order_id() -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(100))
}

fn tomatoes() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(1))
}

fn basil() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(2))
}

fn farmer() -> ActorId {
    ActorId::parse("farmer-ana").unwrap()
}

fn qty(n: u64) -> PositiveQuantity {
    PositiveQuantity::new(n).unwrap()
}

fn placed() -> OrderEvent {
    OrderEvent::OrderPlaced(OrderPlaced {
        order_id: order_id(),
        customer_id: ActorId::parse("bistro").unwrap(),
        farmer_id: farmer(),
        lines: vec![
            OrderLine {
                stock_item_id: tomatoes(),
                quantity: qty(20),
            },
            OrderLine {
                stock_item_id: basil(),
                quantity: qty(3),
            },
        ],
        delivery_address: Address::parse(AddressParts {
            line1: "1 Market St".into(),
            line2: None,
            city: "Lyon".into(),
            postal_code: "69001".into(),
            country: "FR".into(),
        })
        .unwrap(),
        requested_delivery_date: None,
        notes: None,
        placed_at: at(),
    })
}

fn reserved(quantity: u64, name: &str, price: u64) -> StockEvent {
    StockEvent::StockReserved(StockReserved {
        order_id: order_id(),
        quantity: qty(quantity),
        product_name: ProductName::parse(name).unwrap(),
        unit_price_cents: Cents::new(price).unwrap(),
        levels: StockLevels {
            on_hand: Quantity::new(100).unwrap(),
            reserved: Quantity::new(quantity).unwrap(),
        },
        reserved_at: at(),
    })
}

fn refused(quantity: u64, reason: ReservationRefusal) -> StockEvent {
    StockEvent::StockReservationRefused(StockReservationRefused {
        order_id: order_id(),
        quantity: qty(quantity),
        reason,
        refused_at: at(),
    })
}

fn stock(stock_item_id: StockItemId, event: &StockEvent) -> OrderProcessInput<'_> {
    OrderProcessInput::Stock {
        stock_item_id,
        event,
    }
}

fn cancelled() -> OrderEvent {
    OrderEvent::OrderCancelled(OrderCancelled {
        reason: Reason::parse("menu changed").unwrap(),
        previous_status: OrderStatus::Confirmed,
        cancelled_at: at(),
    })
}

fn rejected() -> OrderEvent {
    OrderEvent::OrderRejected(OrderRejected {
        reason: Reason::parse("1 of 2 lines could not be reserved").unwrap(),
        refused_lines: vec![],
        rejected_at: at(),
    })
}

fn confirmed() -> OrderEvent {
    OrderEvent::OrderConfirmed(OrderConfirmed {
        lines: vec![],
        total_cents: Cents::ZERO,
        confirmed_at: at(),
    })
}

/// The (stock item, command) pairs of a decision addressed to stock items.
fn stock_commands(commands: &[ProcessCommand]) -> Vec<(StockItemId, StockCommand)> {
    commands
        .iter()
        .map(|c| match &c.target {
            Target::Stock {
                stock_item_id,
                command,
            } => (*stock_item_id, command.clone()),
            other => panic!("expected a stock command, got {other:?}"),
        })
        .collect()
}

fn only_order_command(commands: &[ProcessCommand]) -> OrderCommand {
    match commands {
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
            command.clone()
        }
        other => panic!("expected one order command, got {other:?}"),
    }
}

fn release(order: OrderId) -> StockCommand {
    StockCommand::ReleaseReservation { order_id: order }
}

/// A process that saw the order placed and every line reserved (tomatoes 450, basil 200).
fn fully_reserved() -> (OrderProcess, StockEvent, StockEvent) {
    let mut process = OrderProcess::default();
    process.handle(cause(1), OrderProcessInput::Order(&placed()));
    let r1 = reserved(20, "Tomatoes", 450);
    let r2 = reserved(3, "Basil", 200);
    process.handle(cause(2), stock(tomatoes(), &r1));
    process.handle(cause(3), stock(basil(), &r2));
    (process, r1, r2)
}

#[test]
fn placing_an_order_reserves_every_line_with_the_orders_farmer() {
    let mut process = OrderProcess::default();
    let commands = process.handle(cause(1), OrderProcessInput::Order(&placed()));
    assert_eq!(
        stock_commands(&commands),
        vec![
            (
                tomatoes(),
                StockCommand::ReserveStock {
                    order_id: order_id(),
                    farmer_id: farmer(),
                    quantity: qty(20),
                }
            ),
            (
                basil(),
                StockCommand::ReserveStock {
                    order_id: order_id(),
                    farmer_id: farmer(),
                    quantity: qty(3),
                }
            ),
        ]
    );
    assert!(
        commands
            .iter()
            .all(|c| c.causation_id == Uuid::from_u128(1))
    );
    assert!(commands.iter().all(|c| c.at == at()));
    assert_ne!(commands[0].id, commands[1].id);
}

#[test]
fn all_lines_reserved_confirms_the_order_with_priced_lines() {
    let mut process = OrderProcess::default();
    process.handle(cause(1), OrderProcessInput::Order(&placed()));
    let first = process.handle(cause(2), stock(basil(), &reserved(3, "Basil", 200)));
    assert!(first.is_empty(), "one line still unanswered");

    let last = process.handle(cause(3), stock(tomatoes(), &reserved(20, "Tomatoes", 450)));
    assert_eq!(
        only_order_command(&last),
        OrderCommand::ConfirmOrder {
            lines: vec![
                PricedLine {
                    stock_item_id: tomatoes(),
                    product_name: ProductName::parse("Tomatoes").unwrap(),
                    quantity: qty(20),
                    unit_price_cents: Cents::new(450).unwrap(),
                    line_total_cents: Cents::new(9000).unwrap(),
                },
                PricedLine {
                    stock_item_id: basil(),
                    product_name: ProductName::parse("Basil").unwrap(),
                    quantity: qty(3),
                    unit_price_cents: Cents::new(200).unwrap(),
                    line_total_cents: Cents::new(600).unwrap(),
                },
            ]
        }
    );
}

#[test]
fn a_refused_line_rejects_the_order_and_the_rejection_releases_the_reserved_lines() {
    let mut process = OrderProcess::default();
    process.handle(cause(1), OrderProcessInput::Order(&placed()));
    process.handle(cause(2), stock(tomatoes(), &reserved(20, "Tomatoes", 450)));
    let decision = process.handle(
        cause(3),
        stock(basil(), &refused(3, ReservationRefusal::Quarantined)),
    );
    assert_eq!(
        only_order_command(&decision),
        OrderCommand::RejectOrder {
            reason: Reason::parse("1 of 2 lines could not be reserved").unwrap(),
            refused_lines: vec![RefusedLine {
                stock_item_id: basil(),
                reason: ReservationRefusal::Quarantined,
            }],
        }
    );

    let releases = process.handle(cause(4), OrderProcessInput::Order(&rejected()));
    assert_eq!(
        stock_commands(&releases),
        vec![(tomatoes(), release(order_id()))],
        "only the reserved line is released"
    );
}

#[test]
fn an_unknown_stock_item_rejects_the_order() {
    let mut process = OrderProcess::default();
    process.handle(cause(1), OrderProcessInput::Order(&placed()));
    process.handle(cause(2), stock(tomatoes(), &reserved(20, "Tomatoes", 450)));
    let decision = process.handle(
        cause(3),
        OrderProcessInput::ReservationImpossible {
            stock_item_id: basil(),
            reason: &ReservationRefusal::UnknownItem,
        },
    );
    let OrderCommand::RejectOrder { refused_lines, .. } = only_order_command(&decision) else {
        panic!("expected a rejection");
    };
    assert_eq!(
        refused_lines,
        vec![RefusedLine {
            stock_item_id: basil(),
            reason: ReservationRefusal::UnknownItem,
        }]
    );
}

#[test]
fn every_line_refused_rejects_and_releases_nothing() {
    let mut process = OrderProcess::default();
    process.handle(cause(1), OrderProcessInput::Order(&placed()));
    process.handle(
        cause(2),
        stock(tomatoes(), &refused(20, ReservationRefusal::OtherFarmer)),
    );
    let decision = process.handle(
        cause(3),
        stock(
            basil(),
            &refused(
                3,
                ReservationRefusal::InsufficientStock {
                    available: Quantity::new(1).unwrap(),
                },
            ),
        ),
    );
    assert!(matches!(
        only_order_command(&decision),
        OrderCommand::RejectOrder { .. }
    ));
    assert!(
        process
            .handle(cause(4), OrderProcessInput::Order(&rejected()))
            .is_empty()
    );
}

#[test]
fn cancelling_a_confirmed_order_releases_every_reservation() {
    let (mut process, _, _) = fully_reserved();
    process.handle(cause(4), OrderProcessInput::Order(&confirmed()));
    let releases = process.handle(cause(5), OrderProcessInput::Order(&cancelled()));
    assert_eq!(
        stock_commands(&releases),
        vec![
            (tomatoes(), release(order_id())),
            (basil(), release(order_id()))
        ]
    );
}

#[test]
fn a_reservation_landing_after_cancellation_is_released() {
    let mut process = OrderProcess::default();
    process.handle(cause(1), OrderProcessInput::Order(&placed()));
    let on_cancel = process.handle(cause(2), OrderProcessInput::Order(&cancelled()));
    assert_eq!(
        stock_commands(&on_cancel).len(),
        2,
        "lines still in flight are released too"
    );

    let late = process.handle(cause(3), stock(tomatoes(), &reserved(20, "Tomatoes", 450)));
    assert_eq!(
        stock_commands(&late),
        vec![(tomatoes(), release(order_id()))]
    );
    let late_refusal = process.handle(
        cause(4),
        stock(basil(), &refused(3, ReservationRefusal::Quarantined)),
    );
    assert!(
        late_refusal.is_empty(),
        "nothing to release for a refused line"
    );
}

#[test]
fn delivering_the_order_commits_every_reservation() {
    let (mut process, _, _) = fully_reserved();
    process.handle(cause(4), OrderProcessInput::Order(&confirmed()));
    let delivered = OrderEvent::OrderDelivered(OrderDelivered {
        delivery_id: event_schemas::values::DeliveryId::from_uuid(Uuid::from_u128(7)),
        at: at(),
    });
    let commits = process.handle(cause(5), OrderProcessInput::Order(&delivered));
    assert_eq!(
        stock_commands(&commits),
        vec![
            (
                tomatoes(),
                StockCommand::CommitReservation {
                    order_id: order_id()
                }
            ),
            (
                basil(),
                StockCommand::CommitReservation {
                    order_id: order_id()
                }
            ),
        ]
    );
    assert!(
        process
            .handle(cause(6), OrderProcessInput::Order(&delivered))
            .is_empty(),
        "a second delivery of the event commits nothing again"
    );
}

#[test]
fn a_failed_delivery_keeps_the_reservations_held_for_the_next_one() {
    let (mut process, _, _) = fully_reserved();
    process.handle(cause(4), OrderProcessInput::Order(&confirmed()));
    let failed = OrderEvent::OrderDeliveryFailed(OrderDeliveryFailed {
        delivery_id: event_schemas::values::DeliveryId::from_uuid(Uuid::from_u128(7)),
        reason: Reason::parse("restaurant closed").unwrap(),
        failed_deliveries: 1,
        failed_at: at(),
    });
    assert!(
        process
            .handle(cause(5), OrderProcessInput::Order(&failed))
            .is_empty(),
        "nothing is released or committed"
    );
    let delivered = OrderEvent::OrderDelivered(OrderDelivered {
        delivery_id: event_schemas::values::DeliveryId::from_uuid(Uuid::from_u128(8)),
        at: at(),
    });
    let commits = process.handle(cause(6), OrderProcessInput::Order(&delivered));
    assert_eq!(stock_commands(&commits).len(), 2, "both lines still commit");
}

#[test]
fn the_same_event_delivered_twice_issues_nothing_the_second_time() {
    let mut process = OrderProcess::default();
    assert_eq!(
        process
            .handle(cause(1), OrderProcessInput::Order(&placed()))
            .len(),
        2
    );
    assert!(
        process
            .handle(cause(1), OrderProcessInput::Order(&placed()))
            .is_empty()
    );

    let r1 = reserved(20, "Tomatoes", 450);
    assert!(process.handle(cause(2), stock(tomatoes(), &r1)).is_empty());
    assert!(process.handle(cause(2), stock(tomatoes(), &r1)).is_empty());
    let r2 = reserved(3, "Basil", 200);
    assert_eq!(process.handle(cause(3), stock(basil(), &r2)).len(), 1);
    assert!(
        process.handle(cause(3), stock(basil(), &r2)).is_empty(),
        "the deciding answer again does not confirm twice"
    );

    assert_eq!(
        process
            .handle(cause(4), OrderProcessInput::Order(&cancelled()))
            .len(),
        2
    );
    assert!(
        process
            .handle(cause(4), OrderProcessInput::Order(&cancelled()))
            .is_empty()
    );
}

#[test]
fn command_ids_are_derived_from_the_causing_event() {
    let decide = |n| {
        let mut process = OrderProcess::default();
        process
            .handle(cause(n), OrderProcessInput::Order(&placed()))
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        decide(1),
        decide(1),
        "a replayed decision issues the same ids"
    );
    assert_ne!(decide(1), decide(2));
}

#[test]
fn answers_for_items_not_in_the_order_or_before_placement_are_ignored() {
    let mut process = OrderProcess::default();
    assert!(
        process
            .handle(cause(1), stock(tomatoes(), &reserved(20, "Tomatoes", 450)))
            .is_empty()
    );
    process.handle(cause(2), OrderProcessInput::Order(&placed()));
    let stranger = StockItemId::from_uuid(Uuid::from_u128(99));
    assert!(
        process
            .handle(cause(3), stock(stranger, &reserved(1, "Kale", 100)))
            .is_empty()
    );
}

#[test]
fn stock_events_are_routed_by_the_order_they_name() {
    let r = reserved(20, "Tomatoes", 450);
    assert_eq!(stock(tomatoes(), &r).order_id(None), Some(order_id()));
    let placed = placed();
    assert_eq!(
        OrderProcessInput::Order(&placed).order_id(Some(order_id())),
        Some(order_id())
    );
}
