//! Tests of the purchase process's decisions.

use event_schemas::values::{PositiveQuantity, PurchaseId, StockItemId};
use event_schemas::{GoodsReceived, PurchaseCompleted, PurchaseEvent};
use uuid::Uuid;

use crate::process::test_support::{at, cause};

use super::*;
use crate::process::Target;

fn purchase() -> PurchaseId {
    PurchaseId::from_uuid(Uuid::from_u128(400))
}

fn item() -> StockItemId {
    StockItemId::from_uuid(Uuid::from_u128(1))
}

fn goods(n: u64) -> PurchaseEvent {
    PurchaseEvent::GoodsReceived(GoodsReceived {
        stock_item_id: item(),
        quantity_received: PositiveQuantity::new(n).unwrap(),
        received_at: at(),
    })
}

#[test]
fn goods_received_restock_the_stock_item_with_the_quantity_received() {
    let mut process = PurchaseProcess::default();
    let commands = process.handle(cause(1), purchase(), &goods(38));
    assert_eq!(
        commands.iter().map(|c| &c.target).collect::<Vec<_>>(),
        vec![&Target::Stock {
            stock_item_id: item(),
            command: StockCommand::ReceiveStock {
                quantity: PositiveQuantity::new(38).unwrap(),
                purchase_id: Some(purchase()),
            },
        }]
    );
    assert_eq!(commands[0].causation_id, Uuid::from_u128(1));
}

#[test]
fn goods_received_twice_restock_once() {
    let mut process = PurchaseProcess::default();
    assert_eq!(process.handle(cause(1), purchase(), &goods(38)).len(), 1);
    assert!(process.handle(cause(1), purchase(), &goods(38)).is_empty());
}

#[test]
fn other_purchase_events_issue_nothing() {
    let mut process = PurchaseProcess::default();
    let completed = PurchaseEvent::PurchaseCompleted(PurchaseCompleted { completed_at: at() });
    assert!(process.handle(cause(1), purchase(), &completed).is_empty());
}

#[test]
fn a_replayed_decision_issues_the_same_command_id() {
    let id = |n| PurchaseProcess::default().handle(cause(n), purchase(), &goods(5))[0].id;
    assert_eq!(id(1), id(1));
    assert_ne!(id(1), id(2));
}
