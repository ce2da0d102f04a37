//! Events of the `purchase` aggregate: restocking a stock item from an outside supplier through
//! a carrier.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::events;
use crate::values::{
    ActorId, CarrierId, Cents, PositiveQuantity, PurchaseId, Reason, StockItemId, SupplierId,
    SupplierOrderRef, TrackingRef, VoucherCode,
};

events! {
    /// Everything that happens to a purchase.
    pub enum PurchaseEvent for "purchase" {
        PurchaseReceived => "1.0.0",
        SupplierOrderRequested => "1.0.0",
        CarrierReserved => "1.0.0",
        GoodsReceived => "1.0.0",
        PurchaseCompleted => "1.0.0",
        PurchaseCancelled => "1.0.0",
    }
}

/// Where a purchase is in its life (API.md "Purchases").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PurchaseStatus {
    /// The purchase request was taken.
    Received,
    /// The supplier was asked for the goods.
    OrderRequested,
    /// A carrier was reserved to bring them.
    ReserveDelivered,
    /// The goods arrived and were added to stock.
    Completed,
    /// Abandoned before the goods arrived.
    Cancelled,
}

/// A purchase request for a stock item was taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PurchaseReceived {
    /// The new purchase.
    pub purchase_id: PurchaseId,
    /// The stock item to restock.
    pub stock_item_id: StockItemId,
    /// The stock item's owner, who owns the purchase.
    pub farmer_id: ActorId,
    /// The supplier to buy from.
    pub supplier_id: SupplierId,
    /// How many units to buy.
    pub quantity: PositiveQuantity,
    /// What one unit costs.
    pub unit_cost_cents: Cents,
    /// Quantity times unit cost.
    pub total_cost_cents: Cents,
    /// A voucher given with the purchase, if any.
    pub voucher_code: Option<VoucherCode>,
    /// When.
    pub received_at: DateTime<Utc>,
}

/// The supplier was asked for the goods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SupplierOrderRequested {
    /// The supplier's reference for the order.
    pub supplier_order_ref: SupplierOrderRef,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// A carrier was reserved to bring the goods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CarrierReserved {
    /// The carrier.
    pub carrier_id: CarrierId,
    /// The carrier's tracking reference.
    pub tracking_ref: TrackingRef,
    /// When the goods are expected.
    pub eta: DateTime<Utc>,
    /// When.
    pub reserved_at: DateTime<Utc>,
}

/// The goods arrived; the purchase process adds them to the stock item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GoodsReceived {
    /// The stock item restocked.
    pub stock_item_id: StockItemId,
    /// How many units arrived (may differ from the quantity bought).
    pub quantity_received: PositiveQuantity,
    /// When.
    pub received_at: DateTime<Utc>,
}

/// The purchase is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PurchaseCompleted {
    /// When.
    pub completed_at: DateTime<Utc>,
}

/// The purchase was abandoned before the goods arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PurchaseCancelled {
    /// Why.
    pub reason: Reason,
    /// The status it was cancelled from.
    pub previous_status: PurchaseStatus,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}
