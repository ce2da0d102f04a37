//! Events of the `stock` aggregate: a lot of produce a farmer lists, its levels, reservations
//! for orders, price and quarantine.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::events;
use crate::values::{
    ActorId, Category, Cents, Certification, InspectionId, OrderId, PositiveQuantity, ProductName,
    PurchaseId, QualityGrade, Quantity, QuantityDelta, Reason, Unit,
};

events! {
    /// Everything that happens to a stock item.
    pub enum StockEvent for "stock" {
        StockItemRegistered => "1.0.0",
        StockReceived => "1.0.0",
        StockAdjusted => "1.0.0",
        PriceChanged => "1.0.0",
        StockReserved => "1.0.0",
        StockReservationRefused => "1.0.0",
        ReservationReleased => "1.0.0",
        ReservationCommitted => "1.0.0",
        LowStockReached => "1.0.0",
        StockQuarantined => "1.0.0",
        QuarantineReleased => "1.0.0",
        StockQuarantineRefused => "1.0.0",
    }
}

/// A stock item's levels right after an event, so read models copy rather than recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockLevels {
    /// Units physically held.
    pub on_hand: Quantity,
    /// Units held for confirmed or pending orders; never above `on_hand`.
    pub reserved: Quantity,
}

impl StockLevels {
    /// Units that can still be reserved: on hand minus reserved.
    pub fn available(&self) -> Quantity {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// A farmer listed a new lot of produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockItemRegistered {
    /// The new stock item.
    pub stock_item_id: crate::values::StockItemId,
    /// The farmer who owns it.
    pub farmer_id: ActorId,
    /// What it is called.
    pub product_name: ProductName,
    /// What kind of produce it is.
    pub category: Category,
    /// The unit its quantities count in.
    pub unit: Unit,
    /// The price of one unit.
    pub unit_price_cents: Cents,
    /// The quality grade.
    pub quality_grade: QualityGrade,
    /// When it was harvested, if known.
    pub harvest_date: Option<NaiveDate>,
    /// Certifications it holds.
    pub certifications: Vec<Certification>,
    /// Available at or below this level counts as low stock.
    pub low_stock_threshold: Quantity,
    /// Units on hand at registration.
    pub initial_quantity: Quantity,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

/// Units arrived (from a purchase or delivered by the farmer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockReceived {
    /// How many units arrived.
    pub quantity: PositiveQuantity,
    /// The purchase they came from, if any.
    pub purchase_id: Option<PurchaseId>,
    /// The levels after receiving.
    pub levels: StockLevels,
    /// When they arrived.
    pub received_at: DateTime<Utc>,
}

/// The owner corrected the on-hand level (a count, spoilage, a loss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockAdjusted {
    /// The signed change of on hand.
    pub delta: QuantityDelta,
    /// Why.
    pub reason: Reason,
    /// The levels after the adjustment.
    pub levels: StockLevels,
    /// When.
    pub adjusted_at: DateTime<Utc>,
}

/// The unit price changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PriceChanged {
    /// The price before.
    pub previous_unit_price_cents: Cents,
    /// The new price of one unit.
    pub unit_price_cents: Cents,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// Units were set aside for an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockReserved {
    /// The order they are held for.
    pub order_id: OrderId,
    /// How many units.
    pub quantity: PositiveQuantity,
    /// The product's name when reserved, for the order's priced lines.
    pub product_name: ProductName,
    /// The unit price the order pays.
    pub unit_price_cents: Cents,
    /// The levels after reserving.
    pub levels: StockLevels,
    /// When.
    pub reserved_at: DateTime<Utc>,
}

/// Why a reservation for an order line could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReservationRefusal {
    /// No such stock item exists.
    UnknownItem,
    /// The stock item belongs to another farmer than the order's.
    OtherFarmer,
    /// The stock item is quarantined.
    Quarantined,
    /// Fewer units are available than the line asks for.
    InsufficientStock {
        /// Units available when the reservation was tried.
        available: Quantity,
    },
}

/// A reservation for an order was refused; nothing was set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockReservationRefused {
    /// The order that asked.
    pub order_id: OrderId,
    /// How many units it asked for.
    pub quantity: PositiveQuantity,
    /// Why it was refused.
    pub reason: ReservationRefusal,
    /// When.
    pub refused_at: DateTime<Utc>,
}

/// Units held for an order went back to available (the order was cancelled or rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationReleased {
    /// The order they were held for.
    pub order_id: OrderId,
    /// How many units.
    pub quantity: PositiveQuantity,
    /// The levels after releasing.
    pub levels: StockLevels,
    /// When.
    pub released_at: DateTime<Utc>,
}

/// Units held for an order left with it (the order was delivered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReservationCommitted {
    /// The order they were held for.
    pub order_id: OrderId,
    /// How many units left on hand.
    pub quantity: PositiveQuantity,
    /// The levels after committing.
    pub levels: StockLevels,
    /// When.
    pub committed_at: DateTime<Utc>,
}

/// Available units fell to or below the low-stock threshold (recorded once per crossing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LowStockReached {
    /// Units available now.
    pub available: Quantity,
    /// The threshold crossed.
    pub low_stock_threshold: Quantity,
    /// When.
    pub reached_at: DateTime<Utc>,
}

/// The stock item was quarantined: no new reservations until released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockQuarantined {
    /// Why.
    pub reason: Reason,
    /// The inspection that found the problem, if any.
    pub inspection_id: Option<InspectionId>,
    /// When.
    pub quarantined_at: DateTime<Utc>,
}

/// The stock item's quarantine was lifted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuarantineReleased {
    /// Why.
    pub reason: Reason,
    /// The inspection that cleared it, if any.
    pub inspection_id: Option<InspectionId>,
    /// When.
    pub released_at: DateTime<Utc>,
}

/// A quarantine asked for by an inspection of another farm was refused: a violation may name
/// only the inspected farm's stock items. Nothing else changed; the refusal is recorded so the
/// inspection's outcome can be audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StockQuarantineRefused {
    /// The quarantine's reason as asked.
    pub reason: Reason,
    /// The inspection that asked for it.
    pub inspection_id: InspectionId,
    /// The farm that inspection inspected, which does not own the stock item.
    pub inspected_farmer_id: ActorId,
    /// When.
    pub refused_at: DateTime<Utc>,
}
