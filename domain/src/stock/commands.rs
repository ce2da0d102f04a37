//! What may be asked of a stock item.

use chrono::NaiveDate;
use event_schemas::values::{
    ActorId, Category, Cents, Certification, InspectionId, OrderId, PositiveQuantity, ProductName,
    PurchaseId, QualityGrade, Quantity, QuantityDelta, Reason, StockItemId, Unit,
};

/// A command to the `stock` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum StockCommand {
    /// List a new lot (farmer: becomes its owner; admin: names the farmer).
    RegisterStockItem(RegisterStockItem),
    /// Add units that arrived (owner, admin; the purchase process).
    ReceiveStock {
        /// How many units arrived.
        quantity: PositiveQuantity,
        /// The purchase they came from, if any.
        purchase_id: Option<PurchaseId>,
    },
    /// Correct on hand; never below what is reserved (owner, admin).
    AdjustStock {
        /// The signed change.
        delta: QuantityDelta,
        /// Why.
        reason: Reason,
    },
    /// Set a new unit price (owner, admin).
    ChangePrice {
        /// The new price of one unit.
        unit_price_cents: Cents,
    },
    /// Block new reservations (inspector, admin; the inspection process).
    QuarantineStock {
        /// Why.
        reason: Reason,
        /// The inspection that found the problem, if any.
        inspection_id: Option<InspectionId>,
        /// The farm the inspection asking for it inspected; an item of another farm is
        /// refused.
        inspected_farmer_id: Option<ActorId>,
    },
    /// Lift a quarantine (inspector, admin; the inspection process).
    ReleaseQuarantine {
        /// Why.
        reason: Reason,
        /// The inspection that cleared it, if any.
        inspection_id: Option<InspectionId>,
    },
    /// Hold units for an order line (the order process, admin). Idempotent per order.
    ReserveStock {
        /// The order asking.
        order_id: OrderId,
        /// The farmer the order is placed with; another farmer's item is refused.
        farmer_id: ActorId,
        /// How many units.
        quantity: PositiveQuantity,
    },
    /// Give an order's held units back (the order process, admin). Idempotent.
    ReleaseReservation {
        /// The order whose reservation ends.
        order_id: OrderId,
    },
    /// Let an order's held units leave with it (the order process, admin). Idempotent.
    CommitReservation {
        /// The order delivered.
        order_id: OrderId,
    },
}

/// The facts of a new stock item.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterStockItem {
    /// The new item's id (the client's or the server's UUIDv7).
    pub stock_item_id: StockItemId,
    /// The owner: required when an admin registers, must be the farmer itself otherwise.
    pub farmer_id: Option<ActorId>,
    /// What it is called.
    pub product_name: ProductName,
    /// What kind of produce.
    pub category: Category,
    /// The unit quantities count in.
    pub unit: Unit,
    /// The price of one unit.
    pub unit_price_cents: Cents,
    /// The quality grade.
    pub quality_grade: QualityGrade,
    /// When it was harvested, if known.
    pub harvest_date: Option<NaiveDate>,
    /// Certifications it holds.
    pub certifications: Vec<Certification>,
    /// Available at or below this is low stock.
    pub low_stock_threshold: Quantity,
    /// Units on hand to start with.
    pub initial_quantity: Quantity,
}

impl StockCommand {
    /// The command's name, as recorded in event metadata.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::RegisterStockItem(_) => "RegisterStockItem",
            Self::ReceiveStock { .. } => "ReceiveStock",
            Self::AdjustStock { .. } => "AdjustStock",
            Self::ChangePrice { .. } => "ChangePrice",
            Self::QuarantineStock { .. } => "QuarantineStock",
            Self::ReleaseQuarantine { .. } => "ReleaseQuarantine",
            Self::ReserveStock { .. } => "ReserveStock",
            Self::ReleaseReservation { .. } => "ReleaseReservation",
            Self::CommitReservation { .. } => "CommitReservation",
        }
    }
}
