//! Given/when/then tests of the `stock` aggregate.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::{AggregateResultValidator, TestFramework};
use event_schemas::values::{
    Actor, ActorId, Category, Cents, InspectionId, OrderId, PositiveQuantity, ProductName,
    PurchaseId, QualityGrade, Quantity, QuantityDelta, Reason, Role, StockItemId, Unit,
};
use event_schemas::{
    LowStockReached, PriceChanged, QuarantineReleased, ReservationCommitted, ReservationRefusal,
    ReservationReleased, StockAdjusted, StockEvent, StockItemRegistered, StockLevels,
    StockQuarantineRefused, StockQuarantined, StockReceived, StockReservationRefused,
    StockReserved,
};
use uuid::Uuid;

use super::{RegisterStockItem, StockCommand, StockError, StockItem};
use crate::{Issued, Refusal, RefusalKind};

use event_schemas::values::MAX_QUANTITY as MAX;
/// The unit price every fixture item is registered with.
const PRICE: u64 = 250;

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

// ---- fixtures -------------------------------------------------------------------------------

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

fn owner() -> ActorId {
    ActorId::parse("farmer-1").unwrap()
}

fn other_farmer_id() -> ActorId {
    ActorId::parse("farmer-2").unwrap()
}

/// An actor of `role`; the farmer is the fixture item's owner.
fn actor(role: Role) -> Actor {
    match role {
        Role::Farmer => Actor::new(owner(), Role::Farmer),
        Role::System => Actor::system("order-process"),
        other => Actor::new(ActorId::parse(&format!("{other}-1")).unwrap(), other),
    }
}

fn farmer() -> Actor {
    actor(Role::Farmer)
}

fn other_farmer() -> Actor {
    Actor::new(other_farmer_id(), Role::Farmer)
}

fn admin() -> Actor {
    actor(Role::Admin)
}

fn system() -> Actor {
    actor(Role::System)
}

fn inspector() -> Actor {
    actor(Role::Inspector)
}

fn item_id() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(1))
}

fn order(n: u128) -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(100 + n))
}

fn purchase() -> PurchaseId {
    PurchaseId::from_uuid(Uuid::from_u128(2))
}

fn inspection() -> InspectionId {
    InspectionId::from_uuid(Uuid::from_u128(3))
}

fn qty(n: u64) -> Quantity {
    Quantity::new(n).unwrap()
}

fn pos(n: u64) -> PositiveQuantity {
    PositiveQuantity::new(n).unwrap()
}

fn delta(n: i64) -> QuantityDelta {
    QuantityDelta::new(n).unwrap()
}

fn cents(n: u64) -> Cents {
    Cents::new(n).unwrap()
}

fn levels(on_hand: u64, reserved: u64) -> StockLevels {
    StockLevels {
        on_hand: qty(on_hand),
        reserved: qty(reserved),
    }
}

fn reason(text: &str) -> Reason {
    Reason::parse(text).unwrap()
}

fn product() -> ProductName {
    ProductName::parse("Heirloom tomatoes").unwrap()
}

fn issued(by: Actor, command: StockCommand) -> Issued<StockCommand> {
    Issued::new(by, at(), command)
}

// ---- events ---------------------------------------------------------------------------------

/// The fixture item registered by its owner with `initial` on hand and a low-stock `threshold`.
fn registered(initial: u64, threshold: u64) -> StockEvent {
    StockItemRegistered {
        stock_item_id: item_id(),
        farmer_id: owner(),
        product_name: product(),
        category: Category::Vegetables,
        unit: Unit::Kg,
        unit_price_cents: cents(PRICE),
        quality_grade: QualityGrade::A,
        harvest_date: None,
        certifications: Vec::new(),
        low_stock_threshold: qty(threshold),
        initial_quantity: qty(initial),
        registered_at: at(),
    }
    .into()
}

/// The usual fixture: 20 on hand, low at 5 or fewer available.
fn listed() -> StockEvent {
    registered(20, 5)
}

fn received(quantity: u64, on_hand: u64, reserved: u64) -> StockEvent {
    StockReceived {
        quantity: pos(quantity),
        purchase_id: Some(purchase()),
        levels: levels(on_hand, reserved),
        received_at: at(),
    }
    .into()
}

fn adjusted(by: i64, on_hand: u64, reserved: u64) -> StockEvent {
    StockAdjusted {
        delta: delta(by),
        reason: reason("stock count"),
        levels: levels(on_hand, reserved),
        adjusted_at: at(),
    }
    .into()
}

fn price_changed(previous: u64, now: u64) -> StockEvent {
    PriceChanged {
        previous_unit_price_cents: cents(previous),
        unit_price_cents: cents(now),
        changed_at: at(),
    }
    .into()
}

fn reserved_at_price(
    order_id: OrderId,
    quantity: u64,
    price: u64,
    after: StockLevels,
) -> StockEvent {
    StockReserved {
        order_id,
        quantity: pos(quantity),
        product_name: product(),
        unit_price_cents: cents(price),
        levels: after,
        reserved_at: at(),
    }
    .into()
}

fn reserved(order_id: OrderId, quantity: u64, on_hand: u64, reserved: u64) -> StockEvent {
    reserved_at_price(order_id, quantity, PRICE, levels(on_hand, reserved))
}

fn refused(order_id: OrderId, quantity: u64, why: ReservationRefusal) -> StockEvent {
    StockReservationRefused {
        order_id,
        quantity: pos(quantity),
        reason: why,
        refused_at: at(),
    }
    .into()
}

fn released(order_id: OrderId, quantity: u64, on_hand: u64, reserved: u64) -> StockEvent {
    ReservationReleased {
        order_id,
        quantity: pos(quantity),
        levels: levels(on_hand, reserved),
        released_at: at(),
    }
    .into()
}

fn committed(order_id: OrderId, quantity: u64, on_hand: u64, reserved: u64) -> StockEvent {
    ReservationCommitted {
        order_id,
        quantity: pos(quantity),
        levels: levels(on_hand, reserved),
        committed_at: at(),
    }
    .into()
}

fn low(available: u64, threshold: u64) -> StockEvent {
    LowStockReached {
        available: qty(available),
        low_stock_threshold: qty(threshold),
        reached_at: at(),
    }
    .into()
}

fn quarantined() -> StockEvent {
    StockQuarantined {
        reason: reason("critical violation"),
        inspection_id: Some(inspection()),
        quarantined_at: at(),
    }
    .into()
}

fn quarantine_released() -> StockEvent {
    QuarantineReleased {
        reason: reason("inspection passed"),
        inspection_id: Some(inspection()),
        released_at: at(),
    }
    .into()
}

// ---- commands -------------------------------------------------------------------------------

fn register(farmer_id: Option<ActorId>, initial: u64, threshold: u64) -> StockCommand {
    StockCommand::RegisterStockItem(RegisterStockItem {
        stock_item_id: item_id(),
        farmer_id,
        product_name: product(),
        category: Category::Vegetables,
        unit: Unit::Kg,
        unit_price_cents: cents(PRICE),
        quality_grade: QualityGrade::A,
        harvest_date: None,
        certifications: Vec::new(),
        low_stock_threshold: qty(threshold),
        initial_quantity: qty(initial),
    })
}

fn receive(quantity: u64) -> StockCommand {
    StockCommand::ReceiveStock {
        quantity: pos(quantity),
        purchase_id: Some(purchase()),
    }
}

fn adjust(by: i64) -> StockCommand {
    StockCommand::AdjustStock {
        delta: delta(by),
        reason: reason("stock count"),
    }
}

fn change_price(price: u64) -> StockCommand {
    StockCommand::ChangePrice {
        unit_price_cents: cents(price),
    }
}

fn quarantine() -> StockCommand {
    StockCommand::QuarantineStock {
        reason: reason("critical violation"),
        inspection_id: Some(inspection()),
        inspected_farmer_id: None,
    }
}

/// The quarantine an inspection of `farm` asks for.
fn quarantine_for_inspection_of(farm: ActorId) -> StockCommand {
    StockCommand::QuarantineStock {
        reason: reason("critical violation"),
        inspection_id: Some(inspection()),
        inspected_farmer_id: Some(farm),
    }
}

fn quarantine_refused(inspected_farmer_id: ActorId) -> StockEvent {
    StockQuarantineRefused {
        reason: reason("critical violation"),
        inspection_id: inspection(),
        inspected_farmer_id,
        refused_at: at(),
    }
    .into()
}

fn release_quarantine() -> StockCommand {
    StockCommand::ReleaseQuarantine {
        reason: reason("inspection passed"),
        inspection_id: Some(inspection()),
    }
}

fn reserve_for(order_id: OrderId, farmer_id: ActorId, quantity: u64) -> StockCommand {
    StockCommand::ReserveStock {
        order_id,
        farmer_id,
        quantity: pos(quantity),
    }
}

fn reserve(order_id: OrderId, quantity: u64) -> StockCommand {
    reserve_for(order_id, owner(), quantity)
}

fn release(order_id: OrderId) -> StockCommand {
    StockCommand::ReleaseReservation { order_id }
}

fn commit(order_id: OrderId) -> StockCommand {
    StockCommand::CommitReservation { order_id }
}

/// One sample of every command but registration, each with the roles that may issue it.
fn commands_on_an_item() -> Vec<(StockCommand, Vec<Role>)> {
    use Role::{Admin, Farmer, Inspector, System};
    vec![
        (receive(3), vec![Farmer, Admin, System]),
        (adjust(-1), vec![Farmer, Admin]),
        (change_price(300), vec![Farmer, Admin]),
        (quarantine(), vec![Inspector, Admin, System]),
        (release_quarantine(), vec![Inspector, Admin, System]),
        (reserve(order(2), 1), vec![Admin, System]),
        (release(order(1)), vec![Admin, System]),
        (commit(order(1)), vec![Admin, System]),
    ]
}

/// The outcome of `command` issued by `by` on the item the `given` events left.
async fn when(
    given: Vec<StockEvent>,
    by: Actor,
    command: StockCommand,
) -> AggregateResultValidator<StockItem> {
    TestFramework::<StockItem>::with(())
        .given(given)
        .when_async(issued(by, command))
        .await
}

/// The state the `events` leave.
fn replay(events: Vec<StockEvent>) -> StockItem {
    let mut item = StockItem::default();
    for event in events {
        item.apply(event);
    }
    item
}

/// Histories after which order 1's reservation is in each status but `Held`, plus none at all.
fn histories_without_a_held_reservation() -> Vec<(&'static str, Vec<StockEvent>)> {
    vec![
        ("no reservation", vec![listed()]),
        (
            "refused",
            vec![
                listed(),
                refused(
                    order(1),
                    40,
                    ReservationRefusal::InsufficientStock { available: qty(20) },
                ),
            ],
        ),
        (
            "released",
            vec![
                listed(),
                reserved(order(1), 12, 20, 12),
                released(order(1), 12, 20, 0),
            ],
        ),
        (
            "committed",
            vec![
                listed(),
                reserved(order(1), 12, 20, 12),
                committed(order(1), 12, 8, 0),
            ],
        ),
    ]
}

// ---- roles ----------------------------------------------------------------------------------

#[tokio::test]
async fn only_the_roles_of_the_api_table_may_register_an_item() {
    for role in ALL_ROLES {
        let result = when(vec![], actor(role), register(Some(owner()), 20, 5))
            .await
            .inspect_result();
        if matches!(role, Role::Farmer | Role::Admin) {
            assert!(result.is_ok(), "{role} should register, got {result:?}");
        } else {
            assert_eq!(result, Err(StockError::RoleNotAllowed { role }), "{role}");
        }
    }
}

#[tokio::test]
async fn only_the_roles_of_the_api_table_may_issue_each_command_on_an_item() {
    for (command, allowed) in commands_on_an_item() {
        for role in ALL_ROLES {
            let given = vec![listed(), reserved(order(1), 5, 20, 5)];
            let result = when(given, actor(role), command.clone())
                .await
                .inspect_result();
            if allowed.contains(&role) {
                assert!(
                    !matches!(result, Err(StockError::RoleNotAllowed { .. })),
                    "{role} should be allowed to {}, got {result:?}",
                    command.name()
                );
            } else {
                assert_eq!(
                    result,
                    Err(StockError::RoleNotAllowed { role }),
                    "{role} must not {}",
                    command.name()
                );
            }
        }
    }
}

#[tokio::test]
async fn auditors_and_analysts_may_issue_no_stock_command() {
    let mut every_command = vec![register(Some(owner()), 20, 5)];
    every_command.extend(
        commands_on_an_item()
            .into_iter()
            .map(|(command, _)| command),
    );
    for role in [Role::Auditor, Role::Analyst] {
        for command in every_command.clone() {
            when(vec![listed()], actor(role), command)
                .await
                .then_expect_error(StockError::RoleNotAllowed { role });
        }
    }
}

#[tokio::test]
async fn the_role_is_checked_before_the_item_exists() {
    for (command, _) in commands_on_an_item() {
        when(vec![], actor(Role::Restaurant), command)
            .await
            .then_expect_error(StockError::RoleNotAllowed {
                role: Role::Restaurant,
            });
    }
}

#[tokio::test]
async fn every_command_on_an_unregistered_item_is_not_found() {
    for (command, allowed) in commands_on_an_item() {
        for role in allowed {
            let result = when(vec![], actor(role), command.clone())
                .await
                .inspect_result();
            assert_eq!(
                result,
                Err(StockError::NotFound),
                "{role} {}",
                command.name()
            );
        }
    }
}

#[tokio::test]
async fn another_farmer_on_an_unregistered_item_is_told_not_found_rather_than_not_owner() {
    when(vec![], other_farmer(), receive(3))
        .await
        .then_expect_error(StockError::NotFound);
}

// ---- RegisterStockItem ----------------------------------------------------------------------

#[tokio::test]
async fn a_farmer_registers_an_item_it_then_owns() {
    when(vec![], farmer(), register(None, 20, 5))
        .await
        .then_expect_events(vec![listed()]);
}

#[tokio::test]
async fn a_farmer_may_name_itself_as_the_owner() {
    when(vec![], farmer(), register(Some(owner()), 20, 5))
        .await
        .then_expect_events(vec![listed()]);
}

#[tokio::test]
async fn a_farmer_may_not_register_an_item_for_another_farmer() {
    when(vec![], farmer(), register(Some(other_farmer_id()), 20, 5))
        .await
        .then_expect_error(StockError::FarmerMismatch);
}

#[tokio::test]
async fn an_admin_registers_an_item_for_the_farmer_it_names() {
    when(vec![], admin(), register(Some(owner()), 20, 5))
        .await
        .then_expect_events(vec![listed()]);
}

#[tokio::test]
async fn an_admin_must_name_the_farmer_who_owns_the_item() {
    when(vec![], admin(), register(None, 20, 5))
        .await
        .then_expect_error(StockError::FarmerRequired);
}

#[tokio::test]
async fn registering_an_item_twice_is_refused() {
    when(vec![listed()], farmer(), register(None, 20, 5))
        .await
        .then_expect_error(StockError::AlreadyRegistered);
    when(vec![listed()], admin(), register(Some(owner()), 20, 5))
        .await
        .then_expect_error(StockError::AlreadyRegistered);
}

#[tokio::test]
async fn registering_at_or_below_the_threshold_reports_low_stock() {
    when(vec![], farmer(), register(None, 5, 5))
        .await
        .then_expect_events(vec![registered(5, 5), low(5, 5)]);
    when(vec![], farmer(), register(None, 0, 0))
        .await
        .then_expect_events(vec![registered(0, 0), low(0, 0)]);
}

#[tokio::test]
async fn registering_just_above_the_threshold_reports_no_low_stock() {
    when(vec![], farmer(), register(None, 6, 5))
        .await
        .then_expect_events(vec![registered(6, 5)]);
}

// ---- ReceiveStock ---------------------------------------------------------------------------

#[tokio::test]
async fn the_owner_receives_stock() {
    when(vec![listed()], farmer(), receive(8))
        .await
        .then_expect_events(vec![received(8, 28, 0)]);
}

#[tokio::test]
async fn the_purchase_process_receives_stock_and_reserved_units_stay_reserved() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        system(),
        receive(8),
    )
    .await
    .then_expect_events(vec![received(8, 28, 12)]);
}

#[tokio::test]
async fn an_admin_receives_stock() {
    when(vec![listed()], admin(), receive(8))
        .await
        .then_expect_events(vec![received(8, 28, 0)]);
}

#[tokio::test]
async fn another_farmer_may_not_receive_stock_into_the_item() {
    when(vec![listed()], other_farmer(), receive(8))
        .await
        .then_expect_error(StockError::NotOwner);
}

#[tokio::test]
async fn receiving_up_to_the_largest_quantity_is_allowed_and_past_it_refused() {
    when(vec![registered(MAX - 1, 5)], farmer(), receive(1))
        .await
        .then_expect_events(vec![received(1, MAX, 0)]);
    when(vec![registered(MAX, 5)], farmer(), receive(1))
        .await
        .then_expect_error(StockError::QuantityOverflow);
}

#[tokio::test]
async fn receiving_back_above_the_threshold_reports_nothing_and_clears_low_stock() {
    let given = vec![listed(), adjusted(-15, 5, 0), low(5, 5)];
    assert!(replay(given.clone()).is_low());
    when(given.clone(), farmer(), receive(10))
        .await
        .then_expect_events(vec![received(10, 15, 0)]);
    let mut after = given;
    after.push(received(10, 15, 0));
    assert!(!replay(after).is_low());
}

// ---- AdjustStock ----------------------------------------------------------------------------

#[tokio::test]
async fn the_owner_adjusts_stock_up_and_down() {
    when(vec![listed()], farmer(), adjust(7))
        .await
        .then_expect_events(vec![adjusted(7, 27, 0)]);
    when(vec![listed()], farmer(), adjust(-3))
        .await
        .then_expect_events(vec![adjusted(-3, 17, 0)]);
}

#[tokio::test]
async fn an_admin_adjusts_stock() {
    when(vec![listed()], admin(), adjust(-3))
        .await
        .then_expect_events(vec![adjusted(-3, 17, 0)]);
}

#[tokio::test]
async fn another_farmer_may_not_adjust_the_item() {
    when(vec![listed()], other_farmer(), adjust(-3))
        .await
        .then_expect_error(StockError::NotOwner);
}

#[tokio::test]
async fn adjusting_below_the_reserved_units_is_refused() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        farmer(),
        adjust(-9),
    )
    .await
    .then_expect_error(StockError::BelowReserved {
        on_hand: qty(20),
        reserved: qty(12),
        delta: delta(-9),
    });
}

#[tokio::test]
async fn adjusting_below_zero_is_refused() {
    when(vec![listed()], admin(), adjust(-21))
        .await
        .then_expect_error(StockError::BelowReserved {
            on_hand: qty(20),
            reserved: qty(0),
            delta: delta(-21),
        });
}

#[tokio::test]
async fn adjusting_down_to_exactly_the_reserved_units_is_allowed() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        farmer(),
        adjust(-8),
    )
    .await
    .then_expect_events(vec![adjusted(-8, 12, 12), low(0, 5)]);
}

#[tokio::test]
async fn adjusting_past_the_largest_quantity_is_refused() {
    when(vec![registered(MAX - 2, 5)], farmer(), adjust(3))
        .await
        .then_expect_error(StockError::QuantityOverflow);
}

#[tokio::test]
async fn adjusting_down_to_the_threshold_reports_low_stock() {
    when(vec![listed()], farmer(), adjust(-15))
        .await
        .then_expect_events(vec![adjusted(-15, 5, 0), low(5, 5)]);
}

#[tokio::test]
async fn adjusting_down_to_just_above_the_threshold_reports_nothing_more() {
    when(vec![listed()], farmer(), adjust(-14))
        .await
        .then_expect_events(vec![adjusted(-14, 6, 0)]);
}

#[tokio::test]
async fn adjusting_further_down_while_already_low_reports_nothing_more() {
    when(
        vec![listed(), adjusted(-15, 5, 0), low(5, 5)],
        farmer(),
        adjust(-1),
    )
    .await
    .then_expect_events(vec![adjusted(-1, 4, 0)]);
}

#[tokio::test]
async fn low_stock_is_reported_again_after_stock_went_back_above_the_threshold() {
    let given = vec![
        listed(),
        adjusted(-15, 5, 0),
        low(5, 5),
        received(10, 15, 0),
    ];
    when(given, farmer(), adjust(-10))
        .await
        .then_expect_events(vec![adjusted(-10, 5, 0), low(5, 5)]);
}

// ---- ChangePrice ----------------------------------------------------------------------------

#[tokio::test]
async fn the_owner_changes_the_price() {
    when(vec![listed()], farmer(), change_price(300))
        .await
        .then_expect_events(vec![price_changed(PRICE, 300)]);
}

#[tokio::test]
async fn an_admin_changes_the_price() {
    when(vec![listed()], admin(), change_price(199))
        .await
        .then_expect_events(vec![price_changed(PRICE, 199)]);
}

#[tokio::test]
async fn another_farmer_may_not_change_the_price() {
    when(vec![listed()], other_farmer(), change_price(300))
        .await
        .then_expect_error(StockError::NotOwner);
}

#[tokio::test]
async fn setting_the_current_price_again_records_nothing() {
    when(vec![listed()], farmer(), change_price(PRICE))
        .await
        .then_expect_events(vec![]);
    when(
        vec![listed(), price_changed(PRICE, 300)],
        farmer(),
        change_price(300),
    )
    .await
    .then_expect_events(vec![]);
}

#[tokio::test]
async fn a_reservation_pays_the_current_price() {
    when(
        vec![listed(), price_changed(PRICE, 300)],
        system(),
        reserve(order(1), 5),
    )
    .await
    .then_expect_events(vec![reserved_at_price(order(1), 5, 300, levels(20, 5))]);
}

// ---- QuarantineStock ------------------------------------------------------------------------

#[tokio::test]
async fn an_inspector_quarantines_an_item() {
    when(vec![listed()], inspector(), quarantine())
        .await
        .then_expect_events(vec![quarantined()]);
}

#[tokio::test]
async fn an_admin_and_the_inspection_process_quarantine_an_item() {
    for by in [admin(), system()] {
        when(vec![listed()], by, quarantine())
            .await
            .then_expect_events(vec![quarantined()]);
    }
}

#[tokio::test]
async fn the_owner_may_not_quarantine_its_own_item() {
    when(vec![listed()], farmer(), quarantine())
        .await
        .then_expect_error(StockError::RoleNotAllowed { role: Role::Farmer });
}

#[tokio::test]
async fn quarantining_a_quarantined_item_is_refused() {
    when(vec![listed(), quarantined()], inspector(), quarantine())
        .await
        .then_expect_error(StockError::AlreadyQuarantined);
}

#[tokio::test]
async fn the_inspection_process_quarantines_an_item_of_the_inspected_farm() {
    when(
        vec![listed()],
        system(),
        quarantine_for_inspection_of(owner()),
    )
    .await
    .then_expect_events(vec![quarantined()]);
}

#[tokio::test]
async fn a_quarantine_by_the_inspection_process_of_another_farms_item_is_recorded_as_refused() {
    when(
        vec![listed()],
        system(),
        quarantine_for_inspection_of(other_farmer_id()),
    )
    .await
    .then_expect_events(vec![quarantine_refused(other_farmer_id())]);
}

#[test]
fn a_refused_quarantine_leaves_the_item_as_it_was() {
    let before = replay(vec![listed()]);
    let after = replay(vec![listed(), quarantine_refused(other_farmer_id())]);
    assert_eq!(after, before);
    assert!(!after.is_quarantined());
}

#[tokio::test]
async fn another_farms_item_is_refused_even_when_it_is_quarantined_already() {
    when(
        vec![listed(), quarantined()],
        system(),
        quarantine_for_inspection_of(other_farmer_id()),
    )
    .await
    .then_expect_events(vec![quarantine_refused(other_farmer_id())]);
}

#[tokio::test]
async fn an_inspector_or_admin_quarantining_another_farms_item_is_refused() {
    for by in [inspector(), admin()] {
        when(
            vec![listed()],
            by,
            quarantine_for_inspection_of(other_farmer_id()),
        )
        .await
        .then_expect_error(StockError::OtherFarm);
    }
}

#[tokio::test]
async fn another_farms_quarantine_without_an_inspection_is_refused_even_for_the_system() {
    let command = StockCommand::QuarantineStock {
        reason: reason("critical violation"),
        inspection_id: None,
        inspected_farmer_id: Some(other_farmer_id()),
    };
    when(vec![listed()], system(), command)
        .await
        .then_expect_error(StockError::OtherFarm);
}

#[tokio::test]
async fn an_inspector_quarantines_an_item_of_the_farm_it_inspected() {
    when(
        vec![listed()],
        inspector(),
        quarantine_for_inspection_of(owner()),
    )
    .await
    .then_expect_events(vec![quarantined()]);
}

#[tokio::test]
async fn a_quarantine_keeps_existing_reservations_which_can_still_be_released_or_committed() {
    let given = vec![listed(), reserved(order(1), 12, 20, 12), quarantined()];
    assert_eq!(replay(given.clone()).held_for(order(1)), Some(pos(12)));
    when(given.clone(), system(), release(order(1)))
        .await
        .then_expect_events(vec![released(order(1), 12, 20, 0)]);
    when(given, system(), commit(order(1)))
        .await
        .then_expect_events(vec![committed(order(1), 12, 8, 0)]);
}

// ---- ReleaseQuarantine ----------------------------------------------------------------------

#[tokio::test]
async fn an_inspector_releases_a_quarantine() {
    when(
        vec![listed(), quarantined()],
        inspector(),
        release_quarantine(),
    )
    .await
    .then_expect_events(vec![quarantine_released()]);
}

#[tokio::test]
async fn an_admin_and_the_inspection_process_release_a_quarantine() {
    for by in [admin(), system()] {
        when(vec![listed(), quarantined()], by, release_quarantine())
            .await
            .then_expect_events(vec![quarantine_released()]);
    }
}

#[tokio::test]
async fn releasing_an_item_that_is_not_quarantined_is_refused() {
    when(vec![listed()], inspector(), release_quarantine())
        .await
        .then_expect_error(StockError::NotQuarantined);
    let released_once = vec![listed(), quarantined(), quarantine_released()];
    when(released_once, admin(), release_quarantine())
        .await
        .then_expect_error(StockError::NotQuarantined);
}

#[tokio::test]
async fn a_released_item_accepts_reservations_again() {
    let given = vec![listed(), quarantined(), quarantine_released()];
    when(given, system(), reserve(order(1), 5))
        .await
        .then_expect_events(vec![reserved(order(1), 5, 20, 5)]);
}

// ---- ReserveStock ---------------------------------------------------------------------------

#[tokio::test]
async fn the_order_process_reserves_stock() {
    when(vec![listed()], system(), reserve(order(1), 5))
        .await
        .then_expect_events(vec![reserved(order(1), 5, 20, 5)]);
}

#[tokio::test]
async fn an_admin_reserves_stock() {
    when(vec![listed()], admin(), reserve(order(1), 5))
        .await
        .then_expect_events(vec![reserved(order(1), 5, 20, 5)]);
}

#[tokio::test]
async fn a_reservation_for_another_farmers_order_is_refused_with_an_event() {
    when(
        vec![listed()],
        system(),
        reserve_for(order(1), other_farmer_id(), 5),
    )
    .await
    .then_expect_events(vec![refused(order(1), 5, ReservationRefusal::OtherFarmer)]);
}

#[tokio::test]
async fn a_reservation_on_a_quarantined_item_is_refused_with_an_event() {
    when(
        vec![listed(), quarantined()],
        system(),
        reserve(order(1), 5),
    )
    .await
    .then_expect_events(vec![refused(order(1), 5, ReservationRefusal::Quarantined)]);
}

#[tokio::test]
async fn a_reservation_for_more_than_is_available_is_refused_with_an_event() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        system(),
        reserve(order(2), 9),
    )
    .await
    .then_expect_events(vec![refused(
        order(2),
        9,
        ReservationRefusal::InsufficientStock { available: qty(8) },
    )]);
}

#[tokio::test]
async fn reserving_exactly_what_is_available_succeeds() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        system(),
        reserve(order(2), 8),
    )
    .await
    .then_expect_events(vec![reserved(order(2), 8, 20, 20), low(0, 5)]);
}

#[tokio::test]
async fn refusals_are_checked_farmer_first_then_quarantine_then_stock() {
    let given = vec![listed(), quarantined()];
    when(
        given.clone(),
        system(),
        reserve_for(order(1), other_farmer_id(), 99),
    )
    .await
    .then_expect_events(vec![refused(order(1), 99, ReservationRefusal::OtherFarmer)]);
    when(given, system(), reserve(order(1), 99))
        .await
        .then_expect_events(vec![refused(order(1), 99, ReservationRefusal::Quarantined)]);
}

#[tokio::test]
async fn reserving_down_to_the_threshold_reports_low_stock() {
    when(vec![listed()], system(), reserve(order(1), 15))
        .await
        .then_expect_events(vec![reserved(order(1), 15, 20, 15), low(5, 5)]);
}

#[tokio::test]
async fn a_refused_reservation_sets_nothing_aside() {
    let item = replay(vec![
        listed(),
        refused(
            order(1),
            99,
            ReservationRefusal::InsufficientStock { available: qty(20) },
        ),
    ]);
    assert_eq!(item.levels(), levels(20, 0));
    assert_eq!(item.held_for(order(1)), None);
    assert_eq!(item.open_reservations(), 0);
}

#[tokio::test]
async fn reserving_again_while_the_orders_reservation_is_open_records_nothing() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        system(),
        reserve(order(1), 1),
    )
    .await
    .then_expect_events(vec![]);
}

#[tokio::test]
async fn closed_reservations_are_forgotten_so_the_state_stays_small() {
    // A long-lived lot: 1,000 orders reserved and delivered, and one still open.
    let mut history = vec![listed()];
    for n in 0..1000 {
        history.push(reserved(order(n), 1, 20, 1));
        history.push(committed(order(n), 1, 20, 0));
    }
    history.push(reserved(order(5000), 2, 20, 2));
    let busy = replay(history);
    let fresh = replay(vec![listed(), reserved(order(5000), 2, 20, 2)]);

    assert_eq!(busy.open_reservations(), 1);
    assert_eq!(busy.held_for(order(5000)), Some(pos(2)));
    assert_eq!(busy.held_for(order(7)), None);
    assert_eq!(
        serde_json::to_string(&busy).unwrap().len(),
        serde_json::to_string(&fresh).unwrap().len()
    );
}

#[tokio::test]
async fn a_retried_reservation_is_not_refused_even_when_the_item_changed_since() {
    let given = vec![listed(), reserved(order(1), 12, 20, 12), quarantined()];
    when(given, system(), reserve(order(1), 12))
        .await
        .then_expect_events(vec![]);
}

// ---- ReleaseReservation ---------------------------------------------------------------------

#[tokio::test]
async fn releasing_a_held_reservation_gives_its_units_back() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        system(),
        release(order(1)),
    )
    .await
    .then_expect_events(vec![released(order(1), 12, 20, 0)]);
}

#[tokio::test]
async fn an_admin_releases_a_reservation() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        admin(),
        release(order(1)),
    )
    .await
    .then_expect_events(vec![released(order(1), 12, 20, 0)]);
}

#[tokio::test]
async fn releasing_records_nothing_unless_the_reservation_is_held() {
    for (status, given) in histories_without_a_held_reservation() {
        let result = when(given, system(), release(order(1)))
            .await
            .inspect_result();
        assert_eq!(result, Ok(vec![]), "releasing after {status}");
    }
}

#[tokio::test]
async fn releasing_back_above_the_threshold_lets_low_stock_be_reported_again() {
    let given = vec![
        listed(),
        reserved(order(1), 15, 20, 15),
        low(5, 5),
        released(order(1), 15, 20, 0),
    ];
    assert!(!replay(given.clone()).is_low());
    when(given, system(), reserve(order(2), 15))
        .await
        .then_expect_events(vec![reserved(order(2), 15, 20, 15), low(5, 5)]);
}

// ---- CommitReservation ----------------------------------------------------------------------

#[tokio::test]
async fn committing_a_held_reservation_takes_its_units_off_hand() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        system(),
        commit(order(1)),
    )
    .await
    .then_expect_events(vec![committed(order(1), 12, 8, 0)]);
}

#[tokio::test]
async fn an_admin_commits_a_reservation() {
    when(
        vec![listed(), reserved(order(1), 12, 20, 12)],
        admin(),
        commit(order(1)),
    )
    .await
    .then_expect_events(vec![committed(order(1), 12, 8, 0)]);
}

#[tokio::test]
async fn committing_records_nothing_unless_the_reservation_is_held() {
    for (status, given) in histories_without_a_held_reservation() {
        let result = when(given, system(), commit(order(1)))
            .await
            .inspect_result();
        assert_eq!(result, Ok(vec![]), "committing after {status}");
    }
}

#[tokio::test]
async fn committing_leaves_available_unchanged_so_reports_no_low_stock() {
    let given = vec![listed(), reserved(order(1), 15, 20, 15), low(5, 5)];
    when(given, system(), commit(order(1)))
        .await
        .then_expect_events(vec![committed(order(1), 15, 5, 0)]);
}

// ---- state and refusal kinds ----------------------------------------------------------------

#[test]
fn the_state_answers_what_the_events_recorded() {
    let empty = StockItem::default();
    assert!(!empty.is_registered());
    assert_eq!(empty.owner(), None);

    let item = replay(vec![
        listed(),
        reserved(order(1), 12, 20, 12),
        refused(order(2), 3, ReservationRefusal::OtherFarmer),
        price_changed(PRICE, 300),
        quarantined(),
    ]);
    assert!(item.is_registered());
    assert_eq!(item.id(), Some(item_id()));
    assert_eq!(item.owner(), Some(&owner()));
    assert_eq!(item.product_name(), Some(&product()));
    assert_eq!(item.unit_price_cents(), Some(cents(300)));
    assert_eq!(item.low_stock_threshold(), Some(qty(5)));
    assert_eq!(item.levels(), levels(20, 12));
    assert_eq!(item.available(), qty(8));
    assert!(item.is_quarantined());
    assert!(!item.is_low());
    assert_eq!(item.held_for(order(1)), Some(pos(12)));
    assert_eq!(item.held_for(order(2)), None, "a refusal holds nothing");
    assert_eq!(item.held_for(order(3)), None);
    assert_eq!(item.open_reservations(), 1);
}

#[test]
fn every_refusal_has_its_kind() {
    let cases = [
        (
            StockError::RoleNotAllowed {
                role: Role::Auditor,
            },
            RefusalKind::Forbidden,
        ),
        (StockError::NotFound, RefusalKind::NotFound),
        (StockError::AlreadyRegistered, RefusalKind::Conflict),
        (StockError::FarmerMismatch, RefusalKind::Forbidden),
        (StockError::FarmerRequired, RefusalKind::Invalid),
        (StockError::NotOwner, RefusalKind::Forbidden),
        (StockError::QuantityOverflow, RefusalKind::Conflict),
        (
            StockError::BelowReserved {
                on_hand: qty(1),
                reserved: qty(1),
                delta: delta(-1),
            },
            RefusalKind::Conflict,
        ),
        (StockError::AlreadyQuarantined, RefusalKind::Conflict),
        (StockError::NotQuarantined, RefusalKind::Conflict),
        (StockError::OtherFarm, RefusalKind::Conflict),
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
