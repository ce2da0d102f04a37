//! Property tests of the `order` aggregate: random command sequences by random actors keep an
//! order on its status machine, refusals change nothing, and replay rebuilds the live state.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{
    Actor, ActorId, Address, AddressParts, Cents, DeliveryId, OrderId, PositiveQuantity,
    ProductName, Reason, Role, StockItemId,
};
use event_schemas::{
    OrderEvent, OrderLine, OrderStatus, PricedLine, RefusedLine, ReservationRefusal,
};
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::test_runner::TestCaseError;
use uuid::Uuid;

use super::{Order, OrderCommand, OrderError, PlaceOrder};
use crate::Issued;

/// The status machine of API.md, kept apart from the implementation: every allowed change.
const EDGES: &[(OrderStatus, OrderStatus)] = &[
    (OrderStatus::Pending, OrderStatus::Confirmed),
    (OrderStatus::Pending, OrderStatus::Rejected),
    (OrderStatus::Confirmed, OrderStatus::Preparing),
    (OrderStatus::Preparing, OrderStatus::ReadyForPickup),
    (OrderStatus::ReadyForPickup, OrderStatus::InTransit),
    (OrderStatus::InTransit, OrderStatus::Delivered),
    // A delivery failed, after or before pickup: the order waits at the farm again.
    (OrderStatus::InTransit, OrderStatus::ReadyForPickup),
    (OrderStatus::ReadyForPickup, OrderStatus::ReadyForPickup),
    (OrderStatus::Pending, OrderStatus::Cancelled),
    (OrderStatus::Confirmed, OrderStatus::Cancelled),
    (OrderStatus::Preparing, OrderStatus::Cancelled),
    (OrderStatus::ReadyForPickup, OrderStatus::Cancelled),
];

use event_schemas::values::MAX_CENTS;

/// Who issues a command.
#[derive(Debug, Clone, Copy)]
enum Who {
    Customer,
    OtherRestaurant,
    Farmer,
    OtherFarmer,
    System,
    Admin,
    Auditor,
}

impl Who {
    fn actor(self) -> Actor {
        let named = |id: &str, role| Actor::new(ActorId::parse(id).unwrap(), role);
        match self {
            Self::Customer => named("restaurant-1", Role::Restaurant),
            Self::OtherRestaurant => named("restaurant-2", Role::Restaurant),
            Self::Farmer => named("farmer-1", Role::Farmer),
            Self::OtherFarmer => named("farmer-2", Role::Farmer),
            Self::System => Actor::system("order-process"),
            Self::Admin => named("admin-1", Role::Admin),
            Self::Auditor => named("auditor-1", Role::Auditor),
        }
    }

    /// Whether this actor can never change the order once placed.
    fn is_outsider(self) -> bool {
        matches!(
            self,
            Self::OtherRestaurant | Self::OtherFarmer | Self::Auditor
        )
    }
}

/// How a confirmation prices the placed lines.
#[derive(Debug, Clone, Copy)]
enum Pricing {
    Exact,
    Reversed,
    DropLast,
    OtherQuantity,
    WrongTotal,
    /// Each line total near the largest amount: the sum overflows with two lines or more.
    Huge,
}

/// A command, made concrete against the placed lines when it is issued.
#[derive(Debug, Clone)]
enum Op {
    Place,
    Confirm {
        prices: Vec<u64>,
        pricing: Pricing,
    },
    Reject,
    Cancel,
    Preparing,
    Ready,
    InTransit(u128),
    Delivered(u128),
    DeliveryFailed(u128),
    /// Whichever command moves the order forward from its current status, so that sequences
    /// reach the later statuses often.
    Next,
}

impl Op {
    /// This op with `Next` resolved against the order's current status.
    fn resolve(self, status: Option<OrderStatus>) -> Self {
        let Self::Next = self else {
            return self;
        };
        match status {
            Some(OrderStatus::Pending) | None => Self::Confirm {
                prices: vec![125, 40, 999],
                pricing: Pricing::Exact,
            },
            Some(OrderStatus::Confirmed) => Self::Preparing,
            Some(OrderStatus::Preparing) => Self::Ready,
            Some(OrderStatus::ReadyForPickup) => Self::InTransit(1),
            Some(
                OrderStatus::InTransit
                | OrderStatus::Delivered
                | OrderStatus::Rejected
                | OrderStatus::Cancelled,
            ) => Self::Delivered(1),
        }
    }

    /// The actor this command is meant for (which may still be refused by the status).
    fn natural(&self) -> Who {
        match self {
            Self::Place | Self::Cancel => Who::Customer,
            Self::Preparing | Self::Ready => Who::Farmer,
            Self::Confirm { .. }
            | Self::Reject
            | Self::InTransit(_)
            | Self::Delivered(_)
            | Self::DeliveryFailed(_)
            | Self::Next => Who::System,
        }
    }

    fn command(&self, lines: &[OrderLine]) -> OrderCommand {
        match self {
            Self::Place => place(lines.to_vec()),
            Self::Confirm { prices, pricing } => OrderCommand::ConfirmOrder {
                lines: priced(lines, prices, *pricing),
            },
            Self::Reject => OrderCommand::RejectOrder {
                reason: Reason::parse("a line was refused").unwrap(),
                refused_lines: vec![RefusedLine {
                    stock_item_id: lines[0].stock_item_id,
                    reason: ReservationRefusal::UnknownItem,
                }],
            },
            Self::Cancel => OrderCommand::CancelOrder {
                reason: Reason::parse("no longer needed").unwrap(),
            },
            Self::Preparing => OrderCommand::MarkPreparing,
            Self::Ready => OrderCommand::MarkReadyForPickup,
            Self::InTransit(n) => OrderCommand::MarkInTransit {
                delivery_id: DeliveryId::from_uuid(Uuid::from_u128(*n)),
            },
            Self::Delivered(n) => OrderCommand::MarkDelivered {
                delivery_id: DeliveryId::from_uuid(Uuid::from_u128(*n)),
            },
            Self::DeliveryFailed(n) => OrderCommand::MarkDeliveryFailed {
                delivery_id: DeliveryId::from_uuid(Uuid::from_u128(*n)),
                reason: Reason::parse("nobody at the door").unwrap(),
            },
            Self::Next => self.clone().resolve(None).command(lines),
        }
    }
}

fn priced(lines: &[OrderLine], prices: &[u64], pricing: Pricing) -> Vec<PricedLine> {
    let line = |(i, placed): (usize, &OrderLine)| {
        let quantity = placed.quantity.get();
        let unit_price = match pricing {
            Pricing::Huge => MAX_CENTS / quantity,
            _ => prices[i % prices.len()],
        };
        PricedLine {
            stock_item_id: placed.stock_item_id,
            product_name: ProductName::parse("Carrots").unwrap(),
            quantity: placed.quantity,
            unit_price_cents: Cents::new(unit_price).unwrap(),
            line_total_cents: Cents::new(unit_price * quantity).unwrap(),
        }
    };
    let mut priced: Vec<PricedLine> = lines.iter().enumerate().map(line).collect();
    match pricing {
        Pricing::Exact | Pricing::Huge => {}
        Pricing::Reversed => priced.reverse(),
        Pricing::DropLast => {
            priced.pop();
        }
        Pricing::OtherQuantity => {
            let first = &mut priced[0];
            let quantity = first.quantity.get() + 1;
            first.quantity = PositiveQuantity::new(quantity).unwrap();
            first.line_total_cents = Cents::new(first.unit_price_cents.get() * quantity).unwrap();
        }
        Pricing::WrongTotal => {
            let first = &mut priced[0];
            first.line_total_cents = Cents::new(first.line_total_cents.get() + 1).unwrap();
        }
    }
    priced
}

fn place(lines: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::PlaceOrder(PlaceOrder {
        order_id: OrderId::from_uuid(Uuid::from_u128(1)),
        customer_id: None,
        farmer_id: Who::Farmer.actor().sub,
        lines,
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
    })
}

/// One to five lines, each stock item once, 1 to 1000 units each.
fn placed_lines() -> impl Strategy<Value = Vec<OrderLine>> {
    (
        subsequence((1..=10u128).collect::<Vec<_>>(), 1..=5),
        proptest::collection::vec(1u64..=1000, 5),
    )
        .prop_map(|(items, quantities)| {
            items
                .into_iter()
                .zip(quantities)
                .map(|(n, quantity)| OrderLine {
                    stock_item_id: StockItemId::from_uuid(Uuid::from_u128(n)),
                    quantity: PositiveQuantity::new(quantity).unwrap(),
                })
                .collect()
        })
        .prop_shuffle()
}

fn pricing() -> impl Strategy<Value = Pricing> {
    prop_oneof![
        3 => Just(Pricing::Exact),
        2 => Just(Pricing::Reversed),
        1 => Just(Pricing::DropLast),
        1 => Just(Pricing::OtherQuantity),
        1 => Just(Pricing::WrongTotal),
        1 => Just(Pricing::Huge),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Place),
        3 => (proptest::collection::vec(0u64..=10_000, 5), pricing())
            .prop_map(|(prices, pricing)| Op::Confirm { prices, pricing }),
        1 => Just(Op::Reject),
        1 => Just(Op::Cancel),
        3 => Just(Op::Preparing),
        3 => Just(Op::Ready),
        3 => (1u128..=3).prop_map(Op::InTransit),
        3 => (1u128..=3).prop_map(Op::Delivered),
        2 => (1u128..=3).prop_map(Op::DeliveryFailed),
        6 => Just(Op::Next),
    ]
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        Just(Who::Customer),
        Just(Who::OtherRestaurant),
        Just(Who::Farmer),
        Just(Who::OtherFarmer),
        Just(Who::System),
        Just(Who::Admin),
        Just(Who::Auditor),
    ]
}

/// A command and who issues it: `None` (half the time) for the actor the command is meant for.
fn step() -> impl Strategy<Value = (Option<Who>, Op)> {
    (proptest::option::of(who()), op())
}

/// Handles one command directly, as the executor would: the outcome and the events written.
async fn handle(
    order: &mut Order,
    command: Issued<OrderCommand>,
) -> (Result<(), OrderError>, Vec<OrderEvent>) {
    let sink = EventSink::default();
    let result = order.handle(command, &(), &sink).await;
    (result, sink.collect().await)
}

fn time(step: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::minutes(step)
}

async fn run(lines: Vec<OrderLine>, steps: Vec<(Option<Who>, Op)>) -> Result<(), TestCaseError> {
    let mut order = Order::default();
    let (placed, mut log) = handle(
        &mut order,
        Issued::new(Who::Customer.actor(), time(0), place(lines.clone())),
    )
    .await;
    prop_assert_eq!(placed, Ok(()));
    prop_assert_eq!(order.status(), Some(OrderStatus::Pending));
    let customer = order.customer().cloned();
    let farmer = order.farmer().cloned();

    for (n, (who, op)) in (1..).zip(steps) {
        let before = order.clone();
        let op = op.resolve(order.status());
        let who = who.unwrap_or_else(|| op.natural());
        let command = op.command(&lines);
        let name = command.name();
        let (result, events) = handle(&mut order, Issued::new(who.actor(), time(n), command)).await;
        match result {
            Err(_) => {
                prop_assert!(
                    events.is_empty(),
                    "{name} by {who:?} refused yet wrote {events:?}"
                );
                prop_assert_eq!(
                    &order,
                    &before,
                    "{} by {:?} refused yet changed the order",
                    name,
                    who
                );
            }
            // A repeated delivery failure is answered without an event or a change.
            Ok(()) if events.is_empty() => {
                prop_assert!(
                    matches!(op, Op::DeliveryFailed(_)),
                    "{name} by {who:?} accepted without an event"
                );
                prop_assert_eq!(&order, &before, "{} by {:?} changed nothing yet", name, who);
            }
            Ok(()) => {
                prop_assert_eq!(events.len(), 1, "{} by {:?}", name, who);
                prop_assert!(!who.is_outsider(), "{name} by {who:?} was accepted");
                let from = before.status().unwrap();
                let to = order.status().unwrap();
                prop_assert!(
                    EDGES.contains(&(from, to)),
                    "{name} by {who:?} moved the order from {from:?} to {to:?}"
                );
            }
        }
        prop_assert_eq!(order.customer(), customer.as_ref());
        prop_assert_eq!(order.farmer(), farmer.as_ref());
        prop_assert_eq!(order.lines(), lines.as_slice());
        log.extend(events);
    }

    let failures = log
        .iter()
        .filter(|e| matches!(e, OrderEvent::OrderDeliveryFailed(_)))
        .count();
    prop_assert_eq!(order.failed_deliveries() as usize, failures);
    let mut replayed = Order::default();
    for event in log {
        replayed.apply(event);
    }
    prop_assert_eq!(replayed, order);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_commands_keep_an_order_on_its_status_machine(
        lines in placed_lines(),
        steps in proptest::collection::vec(step(), 0..=30),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run(lines, steps))?;
    }
}
