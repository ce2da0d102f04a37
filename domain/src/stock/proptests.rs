//! Property tests of the `stock` aggregate: random command sequences on a registered item keep
//! its levels consistent, its events truthful and its state replayable.

use chrono::{DateTime, Duration, TimeZone, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{
    Actor, ActorId, Category, Cents, OrderId, PositiveQuantity, ProductName, QualityGrade,
    Quantity, QuantityDelta, Reason, Role, StockItemId, Unit,
};
use event_schemas::{StockEvent, StockLevels};
use proptest::prelude::*;
use tokio::runtime::Runtime;
use uuid::Uuid;

use super::{RegisterStockItem, StockCommand, StockError, StockItem};
use crate::Issued;

use event_schemas::values::MAX_QUANTITY as MAX;
/// How many distinct orders reserve, so that retries and re-reservations happen often.
const ORDERS: u128 = 4;

/// One step of a random history, before it becomes a command.
#[derive(Debug, Clone)]
enum Op {
    Receive(u64),
    Adjust(i64),
    ChangePrice(u64),
    Quarantine,
    ReleaseQuarantine,
    Reserve {
        order: u128,
        other_farmer: bool,
        quantity: u64,
    },
    Release(u128),
    Commit(u128),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..=30u64).prop_map(Op::Receive),
        1 => Just(Op::Receive(MAX)),
        3 => (-30..=30i64).prop_filter("a delta is non-zero", |d| *d != 0).prop_map(Op::Adjust),
        1 => Just(Op::Adjust(i64::try_from(MAX).unwrap_or(i64::MAX))),
        1 => (100..=102u64).prop_map(Op::ChangePrice),
        1 => Just(Op::Quarantine),
        1 => Just(Op::ReleaseQuarantine),
        6 => (0..ORDERS, prop::bool::weighted(0.15), 1..=25u64).prop_map(
            |(order, other_farmer, quantity)| Op::Reserve { order, other_farmer, quantity }
        ),
        2 => (0..ORDERS).prop_map(Op::Release),
        2 => (0..ORDERS).prop_map(Op::Commit),
    ]
}

fn owner() -> ActorId {
    ActorId::parse("farmer-1").unwrap()
}

fn order(n: u128) -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(100 + n))
}

fn admin() -> Actor {
    Actor::new(ActorId::parse("admin-1").unwrap(), Role::Admin)
}

fn reason() -> Reason {
    Reason::parse("property test").unwrap()
}

fn time(step: usize) -> DateTime<Utc> {
    let start = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
    start + Duration::minutes(i64::try_from(step).unwrap())
}

fn register(initial: u64, threshold: u64, price: u64) -> StockCommand {
    StockCommand::RegisterStockItem(RegisterStockItem {
        stock_item_id: StockItemId::from_uuid(Uuid::from_u128(1)),
        farmer_id: Some(owner()),
        product_name: ProductName::parse("Heirloom tomatoes").unwrap(),
        category: Category::Vegetables,
        unit: Unit::Kg,
        unit_price_cents: Cents::new(price).unwrap(),
        quality_grade: QualityGrade::A,
        harvest_date: None,
        certifications: Vec::new(),
        low_stock_threshold: Quantity::new(threshold).unwrap(),
        initial_quantity: Quantity::new(initial).unwrap(),
    })
}

fn command(op: &Op) -> StockCommand {
    match *op {
        Op::Receive(n) => StockCommand::ReceiveStock {
            quantity: PositiveQuantity::new(n).unwrap(),
            purchase_id: None,
        },
        Op::Adjust(d) => StockCommand::AdjustStock {
            delta: QuantityDelta::new(d).unwrap(),
            reason: reason(),
        },
        Op::ChangePrice(p) => StockCommand::ChangePrice {
            unit_price_cents: Cents::new(p).unwrap(),
        },
        Op::Quarantine => StockCommand::QuarantineStock {
            reason: reason(),
            inspection_id: None,
            inspected_farmer_id: None,
        },
        Op::ReleaseQuarantine => StockCommand::ReleaseQuarantine {
            reason: reason(),
            inspection_id: None,
        },
        Op::Reserve {
            order: n,
            other_farmer,
            quantity,
        } => StockCommand::ReserveStock {
            order_id: order(n),
            farmer_id: if other_farmer {
                ActorId::parse("farmer-2").unwrap()
            } else {
                owner()
            },
            quantity: PositiveQuantity::new(quantity).unwrap(),
        },
        Op::Release(n) => StockCommand::ReleaseReservation { order_id: order(n) },
        Op::Commit(n) => StockCommand::CommitReservation { order_id: order(n) },
    }
}

/// Lets the item decide `command` and returns the events it recorded.
fn decide(
    runtime: &Runtime,
    item: &mut StockItem,
    command: Issued<StockCommand>,
) -> Result<Vec<StockEvent>, StockError> {
    runtime.block_on(async {
        let sink = EventSink::default();
        item.handle(command, &(), &sink).await?;
        Ok(sink.collect().await)
    })
}

/// The levels an event records, if it records any.
fn levels_of(event: &StockEvent) -> Option<StockLevels> {
    match event {
        StockEvent::StockReceived(e) => Some(e.levels),
        StockEvent::StockAdjusted(e) => Some(e.levels),
        StockEvent::StockReserved(e) => Some(e.levels),
        StockEvent::ReservationReleased(e) => Some(e.levels),
        StockEvent::ReservationCommitted(e) => Some(e.levels),
        _ => None,
    }
}

/// How an event moves on hand, computed from its quantities rather than its levels.
fn on_hand_change(event: &StockEvent) -> i128 {
    match event {
        StockEvent::StockItemRegistered(e) => i128::from(e.initial_quantity.get()),
        StockEvent::StockReceived(e) => i128::from(e.quantity.get()),
        StockEvent::StockAdjusted(e) => i128::from(e.delta.get()),
        StockEvent::ReservationCommitted(e) => -i128::from(e.quantity.get()),
        _ => 0,
    }
}

/// Checks what must hold of `item` after any command, given the events that command recorded.
fn check_state(
    before: &StockItem,
    item: &StockItem,
    events: &[StockEvent],
    expected_on_hand: i128,
) -> Result<(), TestCaseError> {
    let levels = item.levels();
    prop_assert!(levels.reserved <= levels.on_hand, "{levels:?}");
    prop_assert_eq!(i128::from(levels.on_hand.get()), expected_on_hand);

    let held: u64 = (0..ORDERS)
        .filter_map(|n| item.held_for(order(n)))
        .map(|quantity| quantity.get())
        .sum();
    prop_assert_eq!(
        levels.reserved.get(),
        held,
        "reserved is the sum of held reservations"
    );

    let threshold = item.low_stock_threshold().unwrap_or_default();
    prop_assert_eq!(item.is_low(), item.available() <= threshold);

    for event in events {
        if let Some(recorded) = levels_of(event) {
            prop_assert_eq!(recorded, levels, "levels recorded in {:?}", event);
        }
    }

    let lows: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, StockEvent::LowStockReached(_)))
        .map(|(i, _)| i)
        .collect();
    let crossed = !before.is_low() && item.is_low();
    if crossed {
        prop_assert_eq!(
            lows.clone(),
            vec![events.len() - 1],
            "low stock reported last"
        );
        prop_assert!(
            events.len() >= 2,
            "low stock follows the event that crossed"
        );
        if let Some(StockEvent::LowStockReached(reached)) = events.last() {
            prop_assert_eq!(reached.available, item.available());
            prop_assert_eq!(reached.low_stock_threshold, threshold);
        }
    } else {
        prop_assert!(
            lows.is_empty(),
            "low stock reported without a crossing: {events:?}"
        );
    }
    Ok(())
}

/// Checks that an order holds at most one open reservation: reserving while one is open, and
/// releasing or committing while none is, record nothing.
fn check_idempotency(
    before: &StockItem,
    op: &Op,
    result: &Result<Vec<StockEvent>, StockError>,
) -> Result<(), TestCaseError> {
    let (n, when_recorded_nothing): (u128, fn(bool) -> bool) = match *op {
        Op::Reserve { order, .. } => (order, |open| open),
        Op::Release(order) | Op::Commit(order) => (order, |open| !open),
        _ => return Ok(()),
    };
    let open = before.held_for(order(n)).is_some();
    if when_recorded_nothing(open) {
        prop_assert_eq!(
            result,
            &Ok(vec![]),
            "{:?} with an open reservation: {}",
            op,
            open
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_histories_keep_the_levels_consistent_and_replay_to_the_same_state(
        initial in 0..=50u64,
        threshold in 0..=20u64,
        price in 100..=102u64,
        steps in prop::collection::vec((op(), any::<bool>()), 0..=40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut item = StockItem::default();
        let registration = Issued::new(admin(), time(0), register(initial, threshold, price));
        let mut log = decide(&runtime, &mut item, registration).unwrap();
        let mut expected_on_hand: i128 = log.iter().map(on_hand_change).sum();
        check_state(&StockItem::default(), &item, &log, expected_on_hand)?;

        for (step, (op, by_admin)) in steps.iter().enumerate() {
            let by = if *by_admin { admin() } else { Actor::system("property-test") };
            let before = item.clone();
            let result = decide(&runtime, &mut item, Issued::new(by, time(step + 1), command(op)));
            check_idempotency(&before, op, &result)?;
            match result {
                Ok(events) => {
                    expected_on_hand += events.iter().map(on_hand_change).sum::<i128>();
                    check_state(&before, &item, &events, expected_on_hand)?;
                    log.extend(events);
                }
                Err(error) => {
                    prop_assert_eq!(&item, &before, "refused {:?} ({}) changed the state", op, error);
                }
            }
        }

        let mut replayed = StockItem::default();
        for event in log {
            replayed.apply(event);
        }
        prop_assert_eq!(replayed, item);
    }
}
