//! Given/when/then tests of the `purchase` aggregate.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use event_schemas::values::{
    Actor, ActorId, CarrierId, Cents, PositiveQuantity, PurchaseId, Reason, Role, StockItemId,
    SupplierId, SupplierOrderRef, TrackingRef, VoucherCode,
};
use event_schemas::{
    CarrierReserved, GoodsReceived, PurchaseCancelled, PurchaseCompleted, PurchaseEvent,
    PurchaseReceived, PurchaseStatus, SupplierOrderRequested,
};
use uuid::Uuid;

use super::{
    LookupUnavailable, Purchase, PurchaseCommand, PurchaseError, PurchaseServices, StockItemOwners,
};
use crate::{Issued, Refusal, RefusalKind};

// ---- services ------------------------------------------------------------------------------

/// Stock item owners held in memory.
struct KnownOwners(HashMap<StockItemId, ActorId>);

#[async_trait]
impl StockItemOwners for KnownOwners {
    async fn owner_of(
        &self,
        stock_item_id: StockItemId,
    ) -> Result<Option<ActorId>, LookupUnavailable> {
        Ok(self.0.get(&stock_item_id).cloned())
    }
}

/// A store of stock items that never answers.
struct Unreachable;

#[async_trait]
impl StockItemOwners for Unreachable {
    async fn owner_of(&self, _: StockItemId) -> Result<Option<ActorId>, LookupUnavailable> {
        Err(LookupUnavailable("connection refused".into()))
    }
}

/// The farmer owns the stock item; the other farmer owns another one.
fn services() -> PurchaseServices {
    PurchaseServices::new(Arc::new(KnownOwners(HashMap::from([
        (stock_item(), farmer_id()),
        (other_stock_item(), other_farmer_id()),
    ]))))
}

fn unreachable_services() -> PurchaseServices {
    PurchaseServices::new(Arc::new(Unreachable))
}

fn purchase() -> TestFramework<Purchase> {
    TestFramework::<Purchase>::with(services())
}

// ---- values --------------------------------------------------------------------------------

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

fn eta() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 14, 30, 0).unwrap()
}

fn purchase_id() -> PurchaseId {
    PurchaseId::from_uuid(Uuid::from_u128(1))
}

fn stock_item() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(10))
}

fn other_stock_item() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(11))
}

fn unknown_stock_item() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(99))
}

fn farmer_id() -> ActorId {
    ActorId::parse("farmer-1").unwrap()
}

fn other_farmer_id() -> ActorId {
    ActorId::parse("farmer-2").unwrap()
}

fn farmer() -> Actor {
    Actor::new(farmer_id(), Role::Farmer)
}

fn other_farmer() -> Actor {
    Actor::new(other_farmer_id(), Role::Farmer)
}

fn admin() -> Actor {
    Actor::new(ActorId::parse("admin-1").unwrap(), Role::Admin)
}

/// An actor of `role` carrying the owning farmer's id, so only the role can refuse it.
fn with_owners_id(role: Role) -> Actor {
    Actor::new(farmer_id(), role)
}

/// Every role that may issue no purchase command.
const REFUSED_ROLES: [Role; 6] = [
    Role::Restaurant,
    Role::Distributor,
    Role::Inspector,
    Role::Auditor,
    Role::Analyst,
    Role::System,
];

/// Every status a purchase can be in.
const STATUSES: [PurchaseStatus; 5] = [
    PurchaseStatus::Received,
    PurchaseStatus::OrderRequested,
    PurchaseStatus::ReserveDelivered,
    PurchaseStatus::Completed,
    PurchaseStatus::Cancelled,
];

fn qty(n: u64) -> PositiveQuantity {
    PositiveQuantity::new(n).unwrap()
}

fn cents(n: u64) -> Cents {
    Cents::new(n).unwrap()
}

fn supplier() -> SupplierId {
    SupplierId::parse("green-seeds-co").unwrap()
}

fn supplier_order_ref() -> SupplierOrderRef {
    SupplierOrderRef::parse("GS-2026-0042").unwrap()
}

fn carrier() -> CarrierId {
    CarrierId::parse("fast-freight").unwrap()
}

fn tracking_ref() -> TrackingRef {
    TrackingRef::parse("FF123456").unwrap()
}

fn reason() -> Reason {
    Reason::parse("supplier out of stock").unwrap()
}

// ---- commands ------------------------------------------------------------------------------

fn issued(by: Actor, command: PurchaseCommand) -> Issued<PurchaseCommand> {
    Issued::new(by, at(), command)
}

fn create_purchase(stock_item_id: StockItemId, quantity: u64, unit_cost: u64) -> PurchaseCommand {
    PurchaseCommand::CreatePurchase {
        purchase_id: purchase_id(),
        stock_item_id,
        supplier_id: supplier(),
        quantity: qty(quantity),
        unit_cost_cents: cents(unit_cost),
        voucher_code: None,
    }
}

fn create() -> PurchaseCommand {
    create_purchase(stock_item(), 10, 250)
}

fn request_supplier_order() -> PurchaseCommand {
    PurchaseCommand::RequestSupplierOrder {
        supplier_order_ref: supplier_order_ref(),
    }
}

fn reserve_carrier() -> PurchaseCommand {
    PurchaseCommand::ReserveCarrier {
        carrier_id: carrier(),
        tracking_ref: tracking_ref(),
        eta: eta(),
    }
}

fn receive_goods(n: u64) -> PurchaseCommand {
    PurchaseCommand::ReceiveGoods {
        quantity_received: qty(n),
    }
}

fn cancel() -> PurchaseCommand {
    PurchaseCommand::CancelPurchase { reason: reason() }
}

/// One of each command on an existing purchase.
fn commands_on_a_purchase() -> [PurchaseCommand; 4] {
    [
        request_supplier_order(),
        reserve_carrier(),
        receive_goods(10),
        cancel(),
    ]
}

/// One of each command.
fn every_command() -> [PurchaseCommand; 5] {
    [
        create(),
        request_supplier_order(),
        reserve_carrier(),
        receive_goods(10),
        cancel(),
    ]
}

// ---- events --------------------------------------------------------------------------------

fn purchase_received() -> PurchaseEvent {
    PurchaseReceived {
        purchase_id: purchase_id(),
        stock_item_id: stock_item(),
        farmer_id: farmer_id(),
        supplier_id: supplier(),
        quantity: qty(10),
        unit_cost_cents: cents(250),
        total_cost_cents: cents(2500),
        voucher_code: None,
        received_at: at(),
    }
    .into()
}

fn supplier_order_requested() -> PurchaseEvent {
    SupplierOrderRequested {
        supplier_order_ref: supplier_order_ref(),
        requested_at: at(),
    }
    .into()
}

fn carrier_reserved() -> PurchaseEvent {
    CarrierReserved {
        carrier_id: carrier(),
        tracking_ref: tracking_ref(),
        eta: eta(),
        reserved_at: at(),
    }
    .into()
}

fn goods_received(n: u64) -> PurchaseEvent {
    GoodsReceived {
        stock_item_id: stock_item(),
        quantity_received: qty(n),
        received_at: at(),
    }
    .into()
}

fn purchase_completed() -> PurchaseEvent {
    PurchaseCompleted { completed_at: at() }.into()
}

fn purchase_cancelled(previous_status: PurchaseStatus) -> PurchaseEvent {
    PurchaseCancelled {
        reason: reason(),
        previous_status,
        cancelled_at: at(),
    }
    .into()
}

/// The history of the farmer's purchase that leaves it in `status`.
fn history(status: PurchaseStatus) -> Vec<PurchaseEvent> {
    match status {
        PurchaseStatus::Received => vec![purchase_received()],
        PurchaseStatus::OrderRequested => vec![purchase_received(), supplier_order_requested()],
        PurchaseStatus::ReserveDelivered => vec![
            purchase_received(),
            supplier_order_requested(),
            carrier_reserved(),
        ],
        PurchaseStatus::Completed => vec![
            purchase_received(),
            supplier_order_requested(),
            carrier_reserved(),
            goods_received(10),
            purchase_completed(),
        ],
        PurchaseStatus::Cancelled => vec![
            purchase_received(),
            purchase_cancelled(PurchaseStatus::Received),
        ],
    }
}

/// The one status from which `command` moves a purchase forward (`None` for create and cancel).
fn allowed_from(command: &PurchaseCommand) -> Option<PurchaseStatus> {
    match command {
        PurchaseCommand::RequestSupplierOrder { .. } => Some(PurchaseStatus::Received),
        PurchaseCommand::ReserveCarrier { .. } => Some(PurchaseStatus::OrderRequested),
        PurchaseCommand::ReceiveGoods { .. } => Some(PurchaseStatus::ReserveDelivered),
        PurchaseCommand::CreatePurchase { .. } | PurchaseCommand::CancelPurchase { .. } => None,
    }
}

/// Runs `command` by `by` against `given` and returns the aggregate's answer.
async fn outcome(
    given: Vec<PurchaseEvent>,
    by: Actor,
    command: PurchaseCommand,
) -> Result<Vec<PurchaseEvent>, PurchaseError> {
    purchase()
        .given(given)
        .when_async(issued(by, command))
        .await
        .inspect_result()
}

/// The state after `events`.
fn state_after(events: Vec<PurchaseEvent>) -> Purchase {
    let mut purchase = Purchase::default();
    for event in events {
        purchase.apply(event);
    }
    purchase
}

// ---- roles ---------------------------------------------------------------------------------

#[tokio::test]
async fn no_role_but_farmer_and_admin_may_issue_any_purchase_command() {
    for role in REFUSED_ROLES {
        for command in every_command() {
            let name = command.name();
            let given = match command {
                PurchaseCommand::CreatePurchase { .. } => vec![],
                _ => history(allowed_from(&command).unwrap_or(PurchaseStatus::Received)),
            };
            assert_eq!(
                outcome(given, with_owners_id(role), command).await,
                Err(PurchaseError::RoleNotAllowed { role }),
                "{role} issuing {name}"
            );
        }
    }
}

#[tokio::test]
async fn the_role_is_checked_before_the_purchase_exists() {
    for role in REFUSED_ROLES {
        for command in commands_on_a_purchase() {
            let name = command.name();
            assert_eq!(
                outcome(vec![], with_owners_id(role), command).await,
                Err(PurchaseError::RoleNotAllowed { role }),
                "{role} issuing {name} on no purchase"
            );
        }
    }
}

#[tokio::test]
async fn the_role_is_checked_before_the_stock_item_is_looked_up() {
    TestFramework::<Purchase>::with(unreachable_services())
        .given_no_previous_events()
        .when_async(issued(with_owners_id(Role::Restaurant), create()))
        .await
        .then_expect_error(PurchaseError::RoleNotAllowed {
            role: Role::Restaurant,
        });
}

// ---- CreatePurchase ------------------------------------------------------------------------

#[tokio::test]
async fn a_farmer_creates_a_purchase_for_its_own_stock_item() {
    purchase()
        .given_no_previous_events()
        .when_async(issued(farmer(), create()))
        .await
        .then_expect_events(vec![purchase_received()]);
}

#[tokio::test]
async fn a_purchase_records_its_voucher_code() {
    let voucher = VoucherCode::parse("SPRING10").unwrap();
    let command = PurchaseCommand::CreatePurchase {
        purchase_id: purchase_id(),
        stock_item_id: stock_item(),
        supplier_id: supplier(),
        quantity: qty(3),
        unit_cost_cents: cents(1_999),
        voucher_code: Some(voucher.clone()),
    };
    purchase()
        .given_no_previous_events()
        .when_async(issued(farmer(), command))
        .await
        .then_expect_events(vec![
            PurchaseReceived {
                purchase_id: purchase_id(),
                stock_item_id: stock_item(),
                farmer_id: farmer_id(),
                supplier_id: supplier(),
                quantity: qty(3),
                unit_cost_cents: cents(1_999),
                total_cost_cents: cents(5_997),
                voucher_code: Some(voucher),
                received_at: at(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn an_admin_creates_a_purchase_owned_by_the_stock_items_owner() {
    purchase()
        .given_no_previous_events()
        .when_async(issued(admin(), create_purchase(other_stock_item(), 4, 100)))
        .await
        .then_expect_events(vec![
            PurchaseReceived {
                purchase_id: purchase_id(),
                stock_item_id: other_stock_item(),
                farmer_id: other_farmer_id(),
                supplier_id: supplier(),
                quantity: qty(4),
                unit_cost_cents: cents(100),
                total_cost_cents: cents(400),
                voucher_code: None,
                received_at: at(),
            }
            .into(),
        ]);
}

#[tokio::test]
async fn a_free_purchase_costs_nothing() {
    let events = outcome(vec![], farmer(), create_purchase(stock_item(), 7, 0))
        .await
        .unwrap();
    let [PurchaseEvent::PurchaseReceived(received)] = events.as_slice() else {
        panic!("expected one PurchaseReceived, got {events:?}");
    };
    assert_eq!(received.total_cost_cents, Cents::ZERO);
}

#[tokio::test]
async fn a_total_cost_of_exactly_the_largest_amount_is_accepted() {
    let events = outcome(
        vec![],
        farmer(),
        create_purchase(stock_item(), 1_000, 1_000_000_000),
    )
    .await
    .unwrap();
    let [PurchaseEvent::PurchaseReceived(received)] = events.as_slice() else {
        panic!("expected one PurchaseReceived, got {events:?}");
    };
    assert_eq!(received.total_cost_cents, cents(1_000_000_000_000));
}

#[tokio::test]
async fn a_total_cost_past_the_largest_amount_is_refused() {
    purchase()
        .given_no_previous_events()
        .when_async(issued(
            farmer(),
            create_purchase(stock_item(), 1_001, 1_000_000_000),
        ))
        .await
        .then_expect_error(PurchaseError::CostOverflow);
}

#[tokio::test]
async fn a_total_cost_past_the_integer_range_is_refused() {
    purchase()
        .given_no_previous_events()
        .when_async(issued(
            admin(),
            create_purchase(stock_item(), 1_000_000_000_000, 1_000_000_000_000),
        ))
        .await
        .then_expect_error(PurchaseError::CostOverflow);
}

#[tokio::test]
async fn creating_a_purchase_that_exists_is_refused_in_every_status() {
    for status in STATUSES {
        for by in [farmer(), admin()] {
            assert_eq!(
                outcome(history(status), by.clone(), create()).await,
                Err(PurchaseError::AlreadyCreated),
                "{} creating over a purchase in {status:?}",
                by.role
            );
        }
    }
}

#[tokio::test]
async fn a_farmer_cannot_create_a_purchase_for_another_farmers_stock_item() {
    purchase()
        .given_no_previous_events()
        .when_async(issued(farmer(), create_purchase(other_stock_item(), 1, 1)))
        .await
        .then_expect_error(PurchaseError::NotStockItemOwner);
}

#[tokio::test]
async fn creating_a_purchase_for_an_unknown_stock_item_is_refused() {
    for by in [farmer(), admin()] {
        let role = by.role;
        assert_eq!(
            outcome(vec![], by, create_purchase(unknown_stock_item(), 1, 1)).await,
            Err(PurchaseError::UnknownStockItem {
                stock_item_id: unknown_stock_item()
            }),
            "{role} creating a purchase of an unknown stock item"
        );
    }
}

#[tokio::test]
async fn creating_a_purchase_while_stock_items_cannot_be_looked_up_is_refused() {
    for by in [farmer(), admin()] {
        TestFramework::<Purchase>::with(unreachable_services())
            .given_no_previous_events()
            .when_async(issued(by, create()))
            .await
            .then_expect_error(PurchaseError::Unavailable("connection refused".into()));
    }
}

#[tokio::test]
async fn an_existing_purchase_is_refused_without_asking_who_owns_the_stock_item() {
    TestFramework::<Purchase>::with(unreachable_services())
        .given(history(PurchaseStatus::Received))
        .when_async(issued(farmer(), create()))
        .await
        .then_expect_error(PurchaseError::AlreadyCreated);
}

// ---- existence and ownership of an existing purchase ---------------------------------------

#[tokio::test]
async fn every_command_on_a_purchase_that_does_not_exist_is_refused() {
    for by in [farmer(), other_farmer(), admin()] {
        for command in commands_on_a_purchase() {
            let name = command.name();
            assert_eq!(
                outcome(vec![], by.clone(), command).await,
                Err(PurchaseError::NotFound),
                "{} issuing {name} on no purchase",
                by.sub
            );
        }
    }
}

#[tokio::test]
async fn another_farmer_may_not_act_on_a_purchase() {
    for status in STATUSES {
        for command in commands_on_a_purchase() {
            let name = command.name();
            assert_eq!(
                outcome(history(status), other_farmer(), command).await,
                Err(PurchaseError::NotOwner),
                "another farmer issuing {name} in {status:?}"
            );
        }
    }
}

// ---- RequestSupplierOrder ------------------------------------------------------------------

#[tokio::test]
async fn the_owner_requests_the_supplier_order() {
    purchase()
        .given(history(PurchaseStatus::Received))
        .when_async(issued(farmer(), request_supplier_order()))
        .await
        .then_expect_events(vec![supplier_order_requested()]);
}

#[tokio::test]
async fn an_admin_requests_the_supplier_order() {
    purchase()
        .given(history(PurchaseStatus::Received))
        .when_async(issued(admin(), request_supplier_order()))
        .await
        .then_expect_events(vec![supplier_order_requested()]);
}

// ---- ReserveCarrier ------------------------------------------------------------------------

#[tokio::test]
async fn the_owner_reserves_a_carrier() {
    purchase()
        .given(history(PurchaseStatus::OrderRequested))
        .when_async(issued(farmer(), reserve_carrier()))
        .await
        .then_expect_events(vec![carrier_reserved()]);
}

#[tokio::test]
async fn an_admin_reserves_a_carrier() {
    purchase()
        .given(history(PurchaseStatus::OrderRequested))
        .when_async(issued(admin(), reserve_carrier()))
        .await
        .then_expect_events(vec![carrier_reserved()]);
}

// ---- ReceiveGoods --------------------------------------------------------------------------

#[tokio::test]
async fn receiving_the_goods_completes_the_purchase() {
    purchase()
        .given(history(PurchaseStatus::ReserveDelivered))
        .when_async(issued(farmer(), receive_goods(10)))
        .await
        .then_expect_events(vec![goods_received(10), purchase_completed()]);
}

#[tokio::test]
async fn an_admin_receives_the_goods() {
    purchase()
        .given(history(PurchaseStatus::ReserveDelivered))
        .when_async(issued(admin(), receive_goods(10)))
        .await
        .then_expect_events(vec![goods_received(10), purchase_completed()]);
}

#[tokio::test]
async fn fewer_or_more_goods_than_bought_may_arrive() {
    for n in [1, 9, 11, 1_000] {
        assert_eq!(
            outcome(
                history(PurchaseStatus::ReserveDelivered),
                farmer(),
                receive_goods(n)
            )
            .await,
            Ok(vec![goods_received(n), purchase_completed()]),
            "receiving {n} of 10"
        );
    }
}

// ---- forbidden transitions -----------------------------------------------------------------

#[tokio::test]
async fn every_forward_command_is_refused_outside_its_one_status() {
    for command in [
        request_supplier_order(),
        reserve_carrier(),
        receive_goods(10),
    ] {
        let allowed = allowed_from(&command);
        for status in STATUSES.into_iter().filter(|s| Some(*s) != allowed) {
            for by in [farmer(), admin()] {
                let name = command.name();
                assert_eq!(
                    outcome(history(status), by.clone(), command.clone()).await,
                    Err(PurchaseError::InvalidTransition {
                        from: status,
                        command: name.into()
                    }),
                    "{} issuing {name} in {status:?}",
                    by.role
                );
            }
        }
    }
}

#[tokio::test]
async fn requesting_the_supplier_order_twice_is_refused() {
    purchase()
        .given(history(PurchaseStatus::OrderRequested))
        .when_async(issued(farmer(), request_supplier_order()))
        .await
        .then_expect_error(PurchaseError::InvalidTransition {
            from: PurchaseStatus::OrderRequested,
            command: "RequestSupplierOrder".into(),
        });
}

#[tokio::test]
async fn reserving_a_carrier_before_ordering_from_the_supplier_is_refused() {
    purchase()
        .given(history(PurchaseStatus::Received))
        .when_async(issued(farmer(), reserve_carrier()))
        .await
        .then_expect_error(PurchaseError::InvalidTransition {
            from: PurchaseStatus::Received,
            command: "ReserveCarrier".into(),
        });
}

#[tokio::test]
async fn receiving_goods_of_a_cancelled_purchase_is_refused() {
    purchase()
        .given(history(PurchaseStatus::Cancelled))
        .when_async(issued(farmer(), receive_goods(10)))
        .await
        .then_expect_error(PurchaseError::InvalidTransition {
            from: PurchaseStatus::Cancelled,
            command: "ReceiveGoods".into(),
        });
}

#[tokio::test]
async fn ownership_is_checked_before_the_status() {
    purchase()
        .given(history(PurchaseStatus::Completed))
        .when_async(issued(other_farmer(), request_supplier_order()))
        .await
        .then_expect_error(PurchaseError::NotOwner);
}

// ---- CancelPurchase ------------------------------------------------------------------------

#[tokio::test]
async fn the_owner_and_an_admin_cancel_a_purchase_before_its_goods_arrive() {
    for status in [
        PurchaseStatus::Received,
        PurchaseStatus::OrderRequested,
        PurchaseStatus::ReserveDelivered,
    ] {
        for by in [farmer(), admin()] {
            assert_eq!(
                outcome(history(status), by.clone(), cancel()).await,
                Ok(vec![purchase_cancelled(status)]),
                "{} cancelling in {status:?}",
                by.role
            );
        }
    }
}

#[tokio::test]
async fn cancelling_a_purchase_whose_goods_were_received_is_refused() {
    for by in [farmer(), admin()] {
        purchase()
            .given(history(PurchaseStatus::Completed))
            .when_async(issued(by, cancel()))
            .await
            .then_expect_error(PurchaseError::AlreadyReceived);
    }
}

#[tokio::test]
async fn cancelling_a_cancelled_purchase_is_refused() {
    for by in [farmer(), admin()] {
        purchase()
            .given(history(PurchaseStatus::Cancelled))
            .when_async(issued(by, cancel()))
            .await
            .then_expect_error(PurchaseError::AlreadyCancelled);
    }
}

#[tokio::test]
async fn a_cancelled_purchase_cannot_move_forward() {
    let given = vec![
        purchase_received(),
        supplier_order_requested(),
        purchase_cancelled(PurchaseStatus::OrderRequested),
    ];
    purchase()
        .given(given)
        .when_async(issued(farmer(), reserve_carrier()))
        .await
        .then_expect_error(PurchaseError::InvalidTransition {
            from: PurchaseStatus::Cancelled,
            command: "ReserveCarrier".into(),
        });
}

// ---- state ---------------------------------------------------------------------------------

#[test]
fn a_purchase_that_was_never_created_does_not_exist() {
    let purchase = Purchase::default();
    assert!(!purchase.exists());
    assert_eq!(purchase.status(), None);
    assert_eq!(purchase.owner(), None);
    assert_eq!(purchase.stock_item_id(), None);
    assert_eq!(purchase.id(), None);
}

#[test]
fn a_created_purchase_knows_its_owner_stock_item_and_terms() {
    let purchase = state_after(history(PurchaseStatus::Received));
    assert!(purchase.exists());
    assert_eq!(purchase.id(), Some(purchase_id()));
    assert_eq!(purchase.status(), Some(PurchaseStatus::Received));
    assert_eq!(purchase.owner(), Some(&farmer_id()));
    assert_eq!(purchase.stock_item_id(), Some(stock_item()));
    assert_eq!(purchase.supplier_id(), Some(&supplier()));
    assert_eq!(purchase.quantity(), Some(qty(10)));
    assert_eq!(purchase.unit_cost_cents(), Some(cents(250)));
}

#[test]
fn each_event_moves_the_status() {
    for status in STATUSES {
        assert_eq!(
            state_after(history(status)).status(),
            Some(status),
            "history to {status:?}"
        );
    }
}

#[test]
fn received_goods_alone_do_not_complete_the_purchase() {
    let mut given = history(PurchaseStatus::ReserveDelivered);
    given.push(goods_received(10));
    assert_eq!(
        state_after(given).status(),
        Some(PurchaseStatus::ReserveDelivered)
    );
}

#[test]
fn events_without_a_created_purchase_leave_it_nonexistent() {
    let purchase = state_after(vec![
        supplier_order_requested(),
        purchase_completed(),
        purchase_cancelled(PurchaseStatus::Received),
    ]);
    assert_eq!(purchase, Purchase::default());
}

#[tokio::test]
async fn a_whole_purchase_runs_from_creation_to_completion() {
    let steps = [
        (farmer(), create(), PurchaseStatus::Received),
        (
            farmer(),
            request_supplier_order(),
            PurchaseStatus::OrderRequested,
        ),
        (admin(), reserve_carrier(), PurchaseStatus::ReserveDelivered),
        (farmer(), receive_goods(8), PurchaseStatus::Completed),
    ];
    let mut log = Vec::new();
    for (by, command, status) in steps {
        let name = command.name();
        let events = outcome(log.clone(), by, command).await.unwrap();
        log.extend(events);
        assert_eq!(
            state_after(log.clone()).status(),
            Some(status),
            "after {name}"
        );
    }
}

// ---- refusal kinds -------------------------------------------------------------------------

#[test]
fn every_refusal_has_its_kind() {
    let cases = [
        (
            PurchaseError::RoleNotAllowed {
                role: Role::Auditor,
            },
            RefusalKind::Forbidden,
        ),
        (PurchaseError::NotFound, RefusalKind::NotFound),
        (PurchaseError::AlreadyCreated, RefusalKind::Conflict),
        (
            PurchaseError::UnknownStockItem {
                stock_item_id: unknown_stock_item(),
            },
            RefusalKind::Invalid,
        ),
        (PurchaseError::NotStockItemOwner, RefusalKind::Forbidden),
        (PurchaseError::NotOwner, RefusalKind::Forbidden),
        (
            PurchaseError::Unavailable("down".into()),
            RefusalKind::Unavailable,
        ),
        (PurchaseError::CostOverflow, RefusalKind::Invalid),
        (
            PurchaseError::InvalidTransition {
                from: PurchaseStatus::Completed,
                command: "ReserveCarrier".into(),
            },
            RefusalKind::Conflict,
        ),
        (PurchaseError::AlreadyReceived, RefusalKind::Conflict),
        (PurchaseError::AlreadyCancelled, RefusalKind::Conflict),
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
fn a_transition_refusal_names_the_status_as_clients_see_it() {
    let error = PurchaseError::InvalidTransition {
        from: PurchaseStatus::ReserveDelivered,
        command: "RequestSupplierOrder".into(),
    };
    assert_eq!(
        error.to_string(),
        "RequestSupplierOrder is not allowed on a purchase in status RESERVE_DELIVERED"
    );
}
