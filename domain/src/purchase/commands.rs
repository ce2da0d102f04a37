//! What may be asked of a purchase.

use chrono::{DateTime, Utc};
use event_schemas::values::{
    CarrierId, Cents, PositiveQuantity, PurchaseId, Reason, StockItemId, SupplierId,
    SupplierOrderRef, TrackingRef, VoucherCode,
};

/// A command to the `purchase` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum PurchaseCommand {
    /// Start restocking a stock item (its owner, admin).
    CreatePurchase {
        /// The new purchase's id.
        purchase_id: PurchaseId,
        /// The stock item to restock.
        stock_item_id: StockItemId,
        /// The supplier to buy from.
        supplier_id: SupplierId,
        /// How many units.
        quantity: PositiveQuantity,
        /// What one unit costs.
        unit_cost_cents: Cents,
        /// A voucher, if any.
        voucher_code: Option<VoucherCode>,
    },
    /// Record the order placed with the supplier (owner, admin).
    RequestSupplierOrder {
        /// The supplier's reference.
        supplier_order_ref: SupplierOrderRef,
    },
    /// Record the carrier reserved to bring the goods (owner, admin).
    ReserveCarrier {
        /// The carrier.
        carrier_id: CarrierId,
        /// Its tracking reference.
        tracking_ref: TrackingRef,
        /// When the goods are expected.
        eta: DateTime<Utc>,
    },
    /// Record the goods' arrival; completes the purchase (owner, admin).
    ReceiveGoods {
        /// How many units arrived.
        quantity_received: PositiveQuantity,
    },
    /// Abandon it before the goods arrive (owner, admin).
    CancelPurchase {
        /// Why.
        reason: Reason,
    },
}

impl PurchaseCommand {
    /// The command's name, as recorded in event metadata.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::CreatePurchase { .. } => "CreatePurchase",
            Self::RequestSupplierOrder { .. } => "RequestSupplierOrder",
            Self::ReserveCarrier { .. } => "ReserveCarrier",
            Self::ReceiveGoods { .. } => "ReceiveGoods",
            Self::CancelPurchase { .. } => "CancelPurchase",
        }
    }
}
