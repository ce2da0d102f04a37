//! Given/when/then tests of the `order` aggregate.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use event_schemas::values::{
    Actor, ActorId, Address, AddressParts, Cents, DeliveryId, OrderId, PositiveQuantity,
    ProductName, Reason, Role, StockItemId,
};
use event_schemas::{
    OrderCancelled, OrderConfirmed, OrderDelivered, OrderDeliveryFailed, OrderEvent,
    OrderInTransit, OrderLine, OrderPlaced, OrderPreparing, OrderReadyForPickup, OrderRejected,
    OrderStatus, PricedLine, RefusedLine, ReservationRefusal,
};
use uuid::Uuid;

use super::{MAX_LINES, Order, OrderCommand, OrderError, PlaceOrder};
use crate::{Issued, Refusal, RefusalKind};

// ---- fixtures -------------------------------------------------------------------------------

const STATUSES: [OrderStatus; 8] = [
    OrderStatus::Pending,
    OrderStatus::Confirmed,
    OrderStatus::Rejected,
    OrderStatus::Cancelled,
    OrderStatus::Preparing,
    OrderStatus::ReadyForPickup,
    OrderStatus::InTransit,
    OrderStatus::Delivered,
];

use event_schemas::values::MAX_CENTS;

fn time(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, hour, 0, 0).unwrap()
}

/// When the command under test is issued.
fn now() -> DateTime<Utc> {
    time(18)
}

fn actor(id: &str, role: Role) -> Actor {
    Actor::new(ActorId::parse(id).unwrap(), role)
}

fn customer() -> Actor {
    actor("restaurant-1", Role::Restaurant)
}

fn other_restaurant() -> Actor {
    actor("restaurant-2", Role::Restaurant)
}

fn farmer() -> Actor {
    actor("farmer-1", Role::Farmer)
}

fn other_farmer() -> Actor {
    actor("farmer-2", Role::Farmer)
}

fn admin() -> Actor {
    actor("admin-1", Role::Admin)
}

fn system() -> Actor {
    Actor::system("order-process")
}

/// The actor closest to the order in `role`: its customer, its farmer, the system...
fn in_role(role: Role) -> Actor {
    match role {
        Role::Restaurant => customer(),
        Role::Farmer => farmer(),
        Role::Admin => admin(),
        Role::System => system(),
        other => actor(&format!("{other}-1"), other),
    }
}

fn order_id() -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(1))
}

fn item(n: u128) -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(100 + n))
}

fn delivery() -> DeliveryId {
    DeliveryId::from_uuid(Uuid::from_u128(200))
}

fn qty(n: u64) -> PositiveQuantity {
    PositiveQuantity::new(n).unwrap()
}

fn cents(n: u64) -> Cents {
    Cents::new(n).unwrap()
}

fn reason(text: &str) -> Reason {
    Reason::parse(text).unwrap()
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

fn line(n: u128, quantity: u64) -> OrderLine {
    OrderLine {
        stock_item_id: item(n),
        quantity: qty(quantity),
    }
}

/// The placed lines: 3 of item 1, 5 of item 2.
fn lines() -> Vec<OrderLine> {
    vec![line(1, 3), line(2, 5)]
}

fn priced(n: u128, quantity: u64, unit_price: u64, line_total: u64) -> PricedLine {
    PricedLine {
        stock_item_id: item(n),
        product_name: ProductName::parse("Kale").unwrap(),
        quantity: qty(quantity),
        unit_price_cents: cents(unit_price),
        line_total_cents: cents(line_total),
    }
}

/// The placed lines priced: 3 x 250 + 5 x 100 = 1250 cents.
fn priced_lines() -> Vec<PricedLine> {
    vec![priced(1, 3, 250, 750), priced(2, 5, 100, 500)]
}

fn place_order(customer_id: Option<ActorId>, lines: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::PlaceOrder(PlaceOrder {
        order_id: order_id(),
        customer_id,
        farmer_id: farmer().sub,
        lines,
        delivery_address: address(),
        requested_delivery_date: None,
        notes: None,
    })
}

fn confirm() -> OrderCommand {
    OrderCommand::ConfirmOrder {
        lines: priced_lines(),
    }
}

fn refused_lines() -> Vec<RefusedLine> {
    vec![RefusedLine {
        stock_item_id: item(2),
        reason: ReservationRefusal::Quarantined,
    }]
}

fn reject() -> OrderCommand {
    OrderCommand::RejectOrder {
        reason: reason("kale is quarantined"),
        refused_lines: refused_lines(),
    }
}

fn cancel() -> OrderCommand {
    OrderCommand::CancelOrder {
        reason: reason("menu changed"),
    }
}

fn mark_in_transit() -> OrderCommand {
    OrderCommand::MarkInTransit {
        delivery_id: delivery(),
    }
}

fn mark_delivered() -> OrderCommand {
    OrderCommand::MarkDelivered {
        delivery_id: delivery(),
    }
}

fn other_delivery() -> DeliveryId {
    DeliveryId::from_uuid(Uuid::from_u128(201))
}

fn mark_delivery_failed(delivery_id: DeliveryId) -> OrderCommand {
    OrderCommand::MarkDeliveryFailed {
        delivery_id,
        reason: reason("restaurant closed"),
    }
}

fn delivery_failed(
    delivery_id: DeliveryId,
    failed_deliveries: u32,
    at: DateTime<Utc>,
) -> OrderEvent {
    OrderDeliveryFailed {
        delivery_id,
        reason: reason("restaurant closed"),
        failed_deliveries,
        failed_at: at,
    }
    .into()
}

/// Every command but placing, as an allowed non-admin actor issues it.
fn commands_on_an_order() -> Vec<(Actor, OrderCommand)> {
    vec![
        (system(), confirm()),
        (system(), reject()),
        (customer(), cancel()),
        (farmer(), OrderCommand::MarkPreparing),
        (farmer(), OrderCommand::MarkReadyForPickup),
        (system(), mark_in_transit()),
        (system(), mark_delivered()),
        (system(), mark_delivery_failed(delivery())),
    ]
}

fn placed_event(customer_id: ActorId, lines: Vec<OrderLine>, at: DateTime<Utc>) -> OrderEvent {
    OrderPlaced {
        order_id: order_id(),
        customer_id,
        farmer_id: farmer().sub,
        lines,
        delivery_address: address(),
        requested_delivery_date: None,
        notes: None,
        placed_at: at,
    }
    .into()
}

fn placed() -> OrderEvent {
    placed_event(customer().sub, lines(), time(8))
}

fn confirmed(at: DateTime<Utc>) -> OrderEvent {
    OrderConfirmed {
        lines: priced_lines(),
        total_cents: cents(1250),
        confirmed_at: at,
    }
    .into()
}

fn rejected(at: DateTime<Utc>) -> OrderEvent {
    OrderRejected {
        reason: reason("kale is quarantined"),
        refused_lines: refused_lines(),
        rejected_at: at,
    }
    .into()
}

fn cancelled(previous_status: OrderStatus, at: DateTime<Utc>) -> OrderEvent {
    OrderCancelled {
        reason: reason("menu changed"),
        previous_status,
        cancelled_at: at,
    }
    .into()
}

fn preparing(at: DateTime<Utc>) -> OrderEvent {
    OrderPreparing { at }.into()
}

fn ready(at: DateTime<Utc>) -> OrderEvent {
    OrderReadyForPickup { at }.into()
}

fn in_transit(at: DateTime<Utc>) -> OrderEvent {
    OrderInTransit {
        delivery_id: delivery(),
        at,
    }
    .into()
}

fn delivered(at: DateTime<Utc>) -> OrderEvent {
    OrderDelivered {
        delivery_id: delivery(),
        at,
    }
    .into()
}

/// The events that bring an order to `status`.
fn history(status: OrderStatus) -> Vec<OrderEvent> {
    match status {
        OrderStatus::Pending => vec![placed()],
        OrderStatus::Confirmed => vec![placed(), confirmed(time(9))],
        OrderStatus::Rejected => vec![placed(), rejected(time(9))],
        OrderStatus::Cancelled => vec![placed(), cancelled(OrderStatus::Pending, time(9))],
        OrderStatus::Preparing => vec![placed(), confirmed(time(9)), preparing(time(10))],
        OrderStatus::ReadyForPickup => {
            let mut events = history(OrderStatus::Preparing);
            events.push(ready(time(11)));
            events
        }
        OrderStatus::InTransit => {
            let mut events = history(OrderStatus::ReadyForPickup);
            events.push(in_transit(time(12)));
            events
        }
        OrderStatus::Delivered => {
            let mut events = history(OrderStatus::InTransit);
            events.push(delivered(time(13)));
            events
        }
    }
}

fn given(events: Vec<OrderEvent>) -> AggregateTestExecutor<Order> {
    TestFramework::<Order>::with(()).given(events)
}

fn issued(by: Actor, command: OrderCommand) -> Issued<OrderCommand> {
    Issued::new(by, now(), command)
}

async fn run(
    events: Vec<OrderEvent>,
    by: Actor,
    command: OrderCommand,
) -> Result<Vec<OrderEvent>, OrderError> {
    given(events)
        .when_async(issued(by, command))
        .await
        .inspect_result()
}

/// Asserts that `command` by `by` is refused as an invalid transition in every status outside
/// `allowed`.
async fn assert_only_from(allowed: &[OrderStatus], by: Actor, command: OrderCommand) {
    let name = command.name();
    for status in STATUSES.into_iter().filter(|s| !allowed.contains(s)) {
        assert_eq!(
            run(history(status), by.clone(), command.clone()).await,
            Err(OrderError::InvalidTransition {
                from: status,
                command: name.into(),
            }),
            "{name} from {status:?}"
        );
    }
}

/// Asserts that each of `roles` is refused `command` on an order in `status`.
async fn assert_roles_refused(roles: &[Role], status: OrderStatus, command: OrderCommand) {
    for &role in roles {
        assert_eq!(
            run(history(status), in_role(role), command.clone()).await,
            Err(OrderError::RoleNotAllowed { role }),
            "{} by {role}",
            command.name()
        );
    }
}

// ---- PlaceOrder -----------------------------------------------------------------------------

#[tokio::test]
async fn a_restaurant_places_an_order_and_becomes_its_customer() {
    given(vec![])
        .when_async(issued(customer(), place_order(None, lines())))
        .await
        .then_expect_events(vec![placed_event(customer().sub, lines(), now())]);
}

#[tokio::test]
async fn a_restaurant_may_name_itself_as_the_customer() {
    given(vec![])
        .when_async(issued(
            customer(),
            place_order(Some(customer().sub), lines()),
        ))
        .await
        .then_expect_events(vec![placed_event(customer().sub, lines(), now())]);
}

#[tokio::test]
async fn an_admin_places_an_order_for_the_customer_it_names() {
    given(vec![])
        .when_async(issued(admin(), place_order(Some(customer().sub), lines())))
        .await
        .then_expect_events(vec![placed_event(customer().sub, lines(), now())]);
}

#[tokio::test]
async fn the_placed_order_keeps_its_delivery_details() {
    let command = OrderCommand::PlaceOrder(PlaceOrder {
        order_id: order_id(),
        customer_id: None,
        farmer_id: farmer().sub,
        lines: lines(),
        delivery_address: address(),
        requested_delivery_date: chrono::NaiveDate::from_ymd_opt(2026, 5, 3),
        notes: Some(event_schemas::values::Notes::parse("back door").unwrap()),
    });
    given(vec![])
        .when_async(issued(customer(), command))
        .await
        .then_expect_events(vec![
            OrderPlaced {
                order_id: order_id(),
                customer_id: customer().sub,
                farmer_id: farmer().sub,
                lines: lines(),
                delivery_address: address(),
                requested_delivery_date: chrono::NaiveDate::from_ymd_opt(2026, 5, 3),
                notes: Some(event_schemas::values::Notes::parse("back door").unwrap()),
                placed_at: now(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_order_of_exactly_the_maximum_number_of_lines_is_placed() {
    let many: Vec<OrderLine> = (1..=100).map(|n| line(n, 1)).collect();
    assert_eq!(many.len(), MAX_LINES);
    given(vec![])
        .when_async(issued(customer(), place_order(None, many.clone())))
        .await
        .then_expect_events(vec![placed_event(customer().sub, many, now())]);
}

#[tokio::test]
async fn placing_an_order_that_already_exists_is_refused_in_every_status() {
    for status in STATUSES {
        assert_eq!(
            run(history(status), customer(), place_order(None, lines())).await,
            Err(OrderError::AlreadyPlaced),
            "placing over an order that is {status:?}"
        );
    }
}

#[tokio::test]
async fn a_restaurant_cannot_place_an_order_for_another_customer() {
    given(vec![])
        .when_async(issued(
            customer(),
            place_order(Some(other_restaurant().sub), lines()),
        ))
        .await
        .then_expect_error(OrderError::CustomerMismatch);
}

#[tokio::test]
async fn an_admin_must_name_the_customer() {
    given(vec![])
        .when_async(issued(admin(), place_order(None, lines())))
        .await
        .then_expect_error(OrderError::CustomerRequired);
}

#[tokio::test]
async fn an_order_without_lines_is_refused() {
    given(vec![])
        .when_async(issued(customer(), place_order(None, vec![])))
        .await
        .then_expect_error(OrderError::NoLines);
}

#[tokio::test]
async fn an_order_of_more_than_the_maximum_number_of_lines_is_refused() {
    let too_many: Vec<OrderLine> = (1..=101).map(|n| line(n, 1)).collect();
    given(vec![])
        .when_async(issued(customer(), place_order(None, too_many)))
        .await
        .then_expect_error(OrderError::TooManyLines { count: 101 });
}

#[tokio::test]
async fn an_order_naming_a_stock_item_twice_is_refused() {
    given(vec![])
        .when_async(issued(
            customer(),
            place_order(None, vec![line(1, 3), line(2, 1), line(1, 4)]),
        ))
        .await
        .then_expect_error(OrderError::DuplicateLine {
            stock_item_id: item(1),
        });
}

#[tokio::test]
async fn only_restaurants_and_admins_may_place_orders() {
    for role in [
        Role::Farmer,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
        Role::System,
    ] {
        assert_eq!(
            run(
                vec![],
                in_role(role),
                place_order(Some(customer().sub), lines())
            )
            .await,
            Err(OrderError::RoleNotAllowed { role }),
            "placing by {role}"
        );
    }
}

#[tokio::test]
async fn the_role_is_checked_before_the_order_exists_or_not() {
    assert_eq!(
        run(
            history(OrderStatus::Pending),
            in_role(Role::Auditor),
            place_order(None, lines())
        )
        .await,
        Err(OrderError::RoleNotAllowed {
            role: Role::Auditor
        })
    );
    for (_, command) in commands_on_an_order() {
        assert_eq!(
            run(vec![], in_role(Role::Analyst), command.clone()).await,
            Err(OrderError::RoleNotAllowed {
                role: Role::Analyst
            }),
            "{} on a missing order",
            command.name()
        );
    }
}

// ---- commands on a missing order ------------------------------------------------------------

#[tokio::test]
async fn every_command_but_placing_is_not_found_on_a_missing_order() {
    for (by, command) in commands_on_an_order() {
        for by in [by, admin()] {
            assert_eq!(
                run(vec![], by.clone(), command.clone()).await,
                Err(OrderError::NotFound),
                "{} by {} on a missing order",
                command.name(),
                by.role
            );
        }
    }
}

// ---- ConfirmOrder ---------------------------------------------------------------------------

#[tokio::test]
async fn the_order_process_confirms_a_pending_order_at_its_priced_lines() {
    given(history(OrderStatus::Pending))
        .when_async(issued(system(), confirm()))
        .await
        .then_expect_events(vec![confirmed(now())]);
}

#[tokio::test]
async fn an_admin_confirms_a_pending_order() {
    given(history(OrderStatus::Pending))
        .when_async(issued(admin(), confirm()))
        .await
        .then_expect_events(vec![confirmed(now())]);
}

#[tokio::test]
async fn priced_lines_given_in_another_order_are_recorded_in_the_placed_order() {
    let mut reversed = priced_lines();
    reversed.reverse();
    given(history(OrderStatus::Pending))
        .when_async(issued(
            system(),
            OrderCommand::ConfirmOrder { lines: reversed },
        ))
        .await
        .then_expect_events(vec![confirmed(now())]);
}

#[tokio::test]
async fn confirming_with_priced_lines_that_do_not_match_the_placed_lines_is_refused() {
    let cases: Vec<(&str, Vec<PricedLine>)> = vec![
        ("no lines", vec![]),
        ("a placed line missing", vec![priced(1, 3, 250, 750)]),
        (
            "a line not placed",
            vec![
                priced(1, 3, 250, 750),
                priced(2, 5, 100, 500),
                priced(3, 1, 100, 100),
            ],
        ),
        (
            "another stock item",
            vec![priced(1, 3, 250, 750), priced(3, 5, 100, 500)],
        ),
        (
            "another quantity",
            vec![priced(1, 3, 250, 750), priced(2, 4, 100, 400)],
        ),
        (
            "a line total that is not price times quantity",
            vec![priced(1, 3, 250, 750), priced(2, 5, 100, 501)],
        ),
        (
            "the same stock item twice",
            vec![priced(1, 3, 250, 750), priced(1, 3, 250, 750)],
        ),
        (
            "a price times quantity past the largest amount",
            vec![priced(1, 3, MAX_CENTS, MAX_CENTS), priced(2, 5, 100, 500)],
        ),
    ];
    for (case, lines) in cases {
        assert_eq!(
            run(
                history(OrderStatus::Pending),
                system(),
                OrderCommand::ConfirmOrder { lines }
            )
            .await,
            Err(OrderError::PricedLinesMismatch),
            "{case}"
        );
    }
}

#[tokio::test]
async fn confirming_when_the_total_exceeds_the_largest_amount_is_refused() {
    assert!(Cents::new(MAX_CENTS).is_ok() && Cents::new(MAX_CENTS + 1).is_err());
    let lines = vec![
        priced(1, 3, MAX_CENTS / 3, MAX_CENTS / 3 * 3),
        priced(2, 5, MAX_CENTS / 5, MAX_CENTS),
    ];
    given(history(OrderStatus::Pending))
        .when_async(issued(system(), OrderCommand::ConfirmOrder { lines }))
        .await
        .then_expect_error(OrderError::TotalOverflow);
}

#[tokio::test]
async fn confirming_is_refused_in_every_status_but_pending() {
    assert_only_from(&[OrderStatus::Pending], system(), confirm()).await;
    assert_only_from(&[OrderStatus::Pending], admin(), confirm()).await;
}

#[tokio::test]
async fn only_the_order_process_and_admins_may_confirm() {
    let roles = [
        Role::Farmer,
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
    ];
    assert_roles_refused(&roles, OrderStatus::Pending, confirm()).await;
}

// ---- RejectOrder ----------------------------------------------------------------------------

#[tokio::test]
async fn the_order_process_rejects_a_pending_order_with_its_refused_lines() {
    given(history(OrderStatus::Pending))
        .when_async(issued(system(), reject()))
        .await
        .then_expect_events(vec![rejected(now())]);
}

#[tokio::test]
async fn an_admin_rejects_a_pending_order() {
    given(history(OrderStatus::Pending))
        .when_async(issued(admin(), reject()))
        .await
        .then_expect_events(vec![rejected(now())]);
}

#[tokio::test]
async fn rejecting_is_refused_in_every_status_but_pending() {
    assert_only_from(&[OrderStatus::Pending], system(), reject()).await;
    assert_only_from(&[OrderStatus::Pending], admin(), reject()).await;
}

#[tokio::test]
async fn only_the_order_process_and_admins_may_reject() {
    let roles = [
        Role::Farmer,
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
    ];
    assert_roles_refused(&roles, OrderStatus::Pending, reject()).await;
}

// ---- CancelOrder ----------------------------------------------------------------------------

const CANCELLABLE: [OrderStatus; 4] = [
    OrderStatus::Pending,
    OrderStatus::Confirmed,
    OrderStatus::Preparing,
    OrderStatus::ReadyForPickup,
];

#[tokio::test]
async fn the_customer_cancels_its_order_before_it_is_in_transit() {
    for status in CANCELLABLE {
        assert_eq!(
            run(history(status), customer(), cancel()).await,
            Ok(vec![cancelled(status, now())]),
            "cancelling from {status:?}"
        );
    }
}

#[tokio::test]
async fn an_admin_cancels_an_order_before_it_is_in_transit() {
    for status in CANCELLABLE {
        assert_eq!(
            run(history(status), admin(), cancel()).await,
            Ok(vec![cancelled(status, now())]),
            "cancelling from {status:?}"
        );
    }
}

#[tokio::test]
async fn another_restaurant_cannot_cancel_the_order() {
    for status in STATUSES {
        assert_eq!(
            run(history(status), other_restaurant(), cancel()).await,
            Err(OrderError::NotCustomer),
            "cancelling from {status:?}"
        );
    }
}

#[tokio::test]
async fn cancelling_once_in_transit_is_refused() {
    for status in [OrderStatus::InTransit, OrderStatus::Delivered] {
        for by in [customer(), admin()] {
            assert_eq!(
                run(history(status), by.clone(), cancel()).await,
                Err(OrderError::AlreadyInTransit { status }),
                "cancelling from {status:?} by {}",
                by.role
            );
        }
    }
}

#[tokio::test]
async fn cancelling_a_closed_order_is_refused() {
    for status in [OrderStatus::Cancelled, OrderStatus::Rejected] {
        for by in [customer(), admin()] {
            assert_eq!(
                run(history(status), by.clone(), cancel()).await,
                Err(OrderError::AlreadyClosed { status }),
                "cancelling from {status:?} by {}",
                by.role
            );
        }
    }
}

#[tokio::test]
async fn only_the_customer_and_admins_may_cancel() {
    let roles = [
        Role::Farmer,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
        Role::System,
    ];
    assert_roles_refused(&roles, OrderStatus::Pending, cancel()).await;
}

// ---- MarkPreparing --------------------------------------------------------------------------

#[tokio::test]
async fn the_orders_farmer_starts_preparing_a_confirmed_order() {
    given(history(OrderStatus::Confirmed))
        .when_async(issued(farmer(), OrderCommand::MarkPreparing))
        .await
        .then_expect_events(vec![preparing(now())]);
}

#[tokio::test]
async fn an_admin_marks_a_confirmed_order_preparing() {
    given(history(OrderStatus::Confirmed))
        .when_async(issued(admin(), OrderCommand::MarkPreparing))
        .await
        .then_expect_events(vec![preparing(now())]);
}

#[tokio::test]
async fn another_farmer_cannot_mark_the_order_preparing() {
    for status in STATUSES {
        assert_eq!(
            run(history(status), other_farmer(), OrderCommand::MarkPreparing).await,
            Err(OrderError::NotOrderFarmer),
            "preparing from {status:?}"
        );
    }
}

#[tokio::test]
async fn marking_preparing_is_refused_in_every_status_but_confirmed() {
    assert_only_from(
        &[OrderStatus::Confirmed],
        farmer(),
        OrderCommand::MarkPreparing,
    )
    .await;
    assert_only_from(
        &[OrderStatus::Confirmed],
        admin(),
        OrderCommand::MarkPreparing,
    )
    .await;
}

#[tokio::test]
async fn only_the_orders_farmer_and_admins_may_mark_preparing() {
    let roles = [
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
        Role::System,
    ];
    assert_roles_refused(&roles, OrderStatus::Confirmed, OrderCommand::MarkPreparing).await;
}

// ---- MarkReadyForPickup ---------------------------------------------------------------------

#[tokio::test]
async fn the_orders_farmer_says_a_prepared_order_is_ready_for_pickup() {
    given(history(OrderStatus::Preparing))
        .when_async(issued(farmer(), OrderCommand::MarkReadyForPickup))
        .await
        .then_expect_events(vec![ready(now())]);
}

#[tokio::test]
async fn an_admin_marks_a_prepared_order_ready_for_pickup() {
    given(history(OrderStatus::Preparing))
        .when_async(issued(admin(), OrderCommand::MarkReadyForPickup))
        .await
        .then_expect_events(vec![ready(now())]);
}

#[tokio::test]
async fn another_farmer_cannot_mark_the_order_ready_for_pickup() {
    for status in STATUSES {
        assert_eq!(
            run(
                history(status),
                other_farmer(),
                OrderCommand::MarkReadyForPickup
            )
            .await,
            Err(OrderError::NotOrderFarmer),
            "ready from {status:?}"
        );
    }
}

#[tokio::test]
async fn marking_ready_for_pickup_is_refused_in_every_status_but_preparing() {
    for by in [farmer(), admin()] {
        assert_only_from(
            &[OrderStatus::Preparing],
            by,
            OrderCommand::MarkReadyForPickup,
        )
        .await;
    }
}

#[tokio::test]
async fn only_the_orders_farmer_and_admins_may_mark_ready_for_pickup() {
    let roles = [
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
        Role::System,
    ];
    assert_roles_refused(
        &roles,
        OrderStatus::Preparing,
        OrderCommand::MarkReadyForPickup,
    )
    .await;
}

// ---- MarkInTransit --------------------------------------------------------------------------

#[tokio::test]
async fn the_delivery_process_marks_a_ready_order_in_transit() {
    given(history(OrderStatus::ReadyForPickup))
        .when_async(issued(system(), mark_in_transit()))
        .await
        .then_expect_events(vec![in_transit(now())]);
}

#[tokio::test]
async fn an_admin_marks_a_ready_order_in_transit() {
    given(history(OrderStatus::ReadyForPickup))
        .when_async(issued(admin(), mark_in_transit()))
        .await
        .then_expect_events(vec![in_transit(now())]);
}

#[tokio::test]
async fn marking_in_transit_is_refused_in_every_status_but_ready_for_pickup() {
    for by in [system(), admin()] {
        assert_only_from(&[OrderStatus::ReadyForPickup], by, mark_in_transit()).await;
    }
}

#[tokio::test]
async fn only_the_delivery_process_and_admins_may_mark_in_transit() {
    let roles = [
        Role::Farmer,
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
    ];
    assert_roles_refused(&roles, OrderStatus::ReadyForPickup, mark_in_transit()).await;
}

// ---- MarkDelivered --------------------------------------------------------------------------

#[tokio::test]
async fn the_delivery_process_marks_an_order_in_transit_delivered() {
    given(history(OrderStatus::InTransit))
        .when_async(issued(system(), mark_delivered()))
        .await
        .then_expect_events(vec![delivered(now())]);
}

#[tokio::test]
async fn an_admin_marks_an_order_in_transit_delivered() {
    given(history(OrderStatus::InTransit))
        .when_async(issued(admin(), mark_delivered()))
        .await
        .then_expect_events(vec![delivered(now())]);
}

#[tokio::test]
async fn only_the_delivery_carrying_the_order_delivers_it() {
    // Another delivery of the same order (one an admin scheduled) completing must not close
    // the order while the one carrying it may still fail.
    let other = DeliveryId::from_uuid(Uuid::from_u128(201));
    given(history(OrderStatus::InTransit))
        .when_async(issued(
            system(),
            OrderCommand::MarkDelivered { delivery_id: other },
        ))
        .await
        .then_expect_error(OrderError::NotCarryingDelivery { delivery_id: other });
}

#[tokio::test]
async fn marking_delivered_is_refused_in_every_status_but_in_transit() {
    for by in [system(), admin()] {
        assert_only_from(&[OrderStatus::InTransit], by, mark_delivered()).await;
    }
}

#[tokio::test]
async fn only_the_delivery_process_and_admins_may_mark_delivered() {
    let roles = [
        Role::Farmer,
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
    ];
    assert_roles_refused(&roles, OrderStatus::InTransit, mark_delivered()).await;
}

// ---- MarkDeliveryFailed ---------------------------------------------------------------------

#[tokio::test]
async fn the_delivery_process_sends_an_order_in_transit_back_to_the_farm_when_its_delivery_fails() {
    given(history(OrderStatus::InTransit))
        .when_async(issued(system(), mark_delivery_failed(delivery())))
        .await
        .then_expect_events(vec![delivery_failed(delivery(), 1, now())]);
}

#[tokio::test]
async fn a_delivery_may_fail_before_pickup() {
    given(history(OrderStatus::ReadyForPickup))
        .when_async(issued(admin(), mark_delivery_failed(delivery())))
        .await
        .then_expect_events(vec![delivery_failed(delivery(), 1, now())]);
}

#[tokio::test]
async fn each_failed_delivery_is_counted() {
    let mut events = history(OrderStatus::InTransit);
    events.push(delivery_failed(delivery(), 1, time(13)));
    given(events)
        .when_async(issued(system(), mark_delivery_failed(other_delivery())))
        .await
        .then_expect_events(vec![delivery_failed(other_delivery(), 2, now())]);
}

#[tokio::test]
async fn the_same_delivery_failing_again_changes_nothing() {
    let mut events = history(OrderStatus::InTransit);
    events.push(delivery_failed(delivery(), 1, time(13)));
    given(events.clone())
        .when_async(issued(system(), mark_delivery_failed(delivery())))
        .await
        .then_expect_events(vec![]);
    // Still a repeat once the order has moved on with another delivery.
    events.push(
        OrderInTransit {
            delivery_id: other_delivery(),
            at: time(14),
        }
        .into(),
    );
    given(events)
        .when_async(issued(system(), mark_delivery_failed(delivery())))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn another_delivery_failing_leaves_the_order_in_transit() {
    given(history(OrderStatus::InTransit))
        .when_async(issued(system(), mark_delivery_failed(other_delivery())))
        .await
        .then_expect_error(OrderError::NotCarryingDelivery {
            delivery_id: other_delivery(),
        });
}

#[tokio::test]
async fn marking_delivery_failed_is_refused_in_every_status_but_ready_or_in_transit() {
    for by in [system(), admin()] {
        assert_only_from(
            &[OrderStatus::ReadyForPickup, OrderStatus::InTransit],
            by,
            mark_delivery_failed(delivery()),
        )
        .await;
    }
}

#[tokio::test]
async fn only_the_delivery_process_and_admins_may_mark_delivery_failed() {
    let roles = [
        Role::Farmer,
        Role::Restaurant,
        Role::Distributor,
        Role::Inspector,
        Role::Auditor,
        Role::Analyst,
    ];
    assert_roles_refused(
        &roles,
        OrderStatus::InTransit,
        mark_delivery_failed(delivery()),
    )
    .await;
}

#[test]
fn a_failed_delivery_leaves_the_order_ready_for_pickup_with_its_count() {
    let mut events = history(OrderStatus::InTransit);
    events.push(delivery_failed(delivery(), 1, time(13)));
    let order = replay(events.clone());
    assert_eq!(order.status(), Some(OrderStatus::ReadyForPickup));
    assert_eq!(order.failed_deliveries(), 1);
    assert_eq!(order.delivery_id(), None, "no delivery carries it now");
    events.push(
        OrderInTransit {
            delivery_id: other_delivery(),
            at: time(14),
        }
        .into(),
    );
    events.push(delivery_failed(other_delivery(), 2, time(15)));
    assert_eq!(replay(events).failed_deliveries(), 2);
    assert_eq!(
        replay(history(OrderStatus::Delivered)).failed_deliveries(),
        0
    );
}

#[test]
fn an_order_snapshot_from_before_failed_deliveries_still_loads() {
    let order = replay(history(OrderStatus::InTransit));
    let mut stored = serde_json::to_value(&order).unwrap();
    stored["placed"]
        .as_object_mut()
        .unwrap()
        .remove("failed_deliveries");
    let back: Order = serde_json::from_value(stored).unwrap();
    assert_eq!(back, order);
}

// ---- state ----------------------------------------------------------------------------------

fn replay(events: Vec<OrderEvent>) -> Order {
    let mut order = Order::default();
    for event in events {
        order.apply(event);
    }
    order
}

#[test]
fn an_order_not_placed_has_no_status_parties_or_lines() {
    let order = Order::default();
    assert!(!order.is_placed());
    assert_eq!(order.id(), None);
    assert_eq!(order.status(), None);
    assert_eq!(order.customer(), None);
    assert_eq!(order.farmer(), None);
    assert!(order.lines().is_empty());
    assert_eq!(order.delivery_id(), None);
    assert_eq!(order.total_cents(), None);
}

#[test]
fn replaying_an_orders_history_gives_its_status_and_facts() {
    for status in STATUSES {
        assert_eq!(replay(history(status)).status(), Some(status), "{status:?}");
    }
    let order = replay(history(OrderStatus::Delivered));
    assert!(order.is_placed());
    assert_eq!(order.id(), Some(order_id()));
    assert_eq!(order.customer(), Some(&customer().sub));
    assert_eq!(order.farmer(), Some(&farmer().sub));
    assert_eq!(order.lines(), lines().as_slice());
    assert_eq!(order.delivery_id(), Some(delivery()));
    assert_eq!(order.total_cents(), Some(cents(1250)));
    assert_eq!(
        replay(history(OrderStatus::ReadyForPickup)).delivery_id(),
        None
    );
    assert_eq!(replay(history(OrderStatus::Pending)).total_cents(), None);
}

#[test]
fn events_before_placement_change_nothing() {
    assert_eq!(replay(vec![confirmed(time(9))]), Order::default());
}

// ---- refusals -------------------------------------------------------------------------------

#[test]
fn every_refusal_has_its_kind() {
    let cases = [
        (
            OrderError::RoleNotAllowed {
                role: Role::Auditor,
            },
            RefusalKind::Forbidden,
        ),
        (OrderError::NotFound, RefusalKind::NotFound),
        (OrderError::AlreadyPlaced, RefusalKind::Conflict),
        (OrderError::CustomerMismatch, RefusalKind::Forbidden),
        (OrderError::CustomerRequired, RefusalKind::Invalid),
        (OrderError::NoLines, RefusalKind::Invalid),
        (
            OrderError::TooManyLines { count: 101 },
            RefusalKind::Invalid,
        ),
        (
            OrderError::DuplicateLine {
                stock_item_id: item(1),
            },
            RefusalKind::Invalid,
        ),
        (OrderError::PricedLinesMismatch, RefusalKind::Invalid),
        (OrderError::TotalOverflow, RefusalKind::Invalid),
        (OrderError::NotCustomer, RefusalKind::Forbidden),
        (OrderError::NotOrderFarmer, RefusalKind::Forbidden),
        (
            OrderError::AlreadyInTransit {
                status: OrderStatus::InTransit,
            },
            RefusalKind::Conflict,
        ),
        (
            OrderError::AlreadyClosed {
                status: OrderStatus::Cancelled,
            },
            RefusalKind::Conflict,
        ),
        (
            OrderError::NotCarryingDelivery {
                delivery_id: delivery(),
            },
            RefusalKind::Conflict,
        ),
        (
            OrderError::InvalidTransition {
                from: OrderStatus::Pending,
                command: "MarkPreparing".into(),
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

#[test]
fn refusals_name_statuses_as_clients_know_them() {
    assert_eq!(
        OrderError::AlreadyInTransit {
            status: OrderStatus::InTransit
        }
        .to_string(),
        "cannot cancel once in transit (the order is IN_TRANSIT)"
    );
    assert_eq!(
        OrderError::InvalidTransition {
            from: OrderStatus::ReadyForPickup,
            command: "MarkPreparing".into()
        }
        .to_string(),
        "MarkPreparing does not apply to an order that is READY_FOR_PICKUP"
    );
}
