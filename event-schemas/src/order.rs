//! Events of the `order` aggregate: a restaurant's order to one farmer, from placement to
//! delivery.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::events;
use crate::stock::ReservationRefusal;
use crate::values::{
    ActorId, Address, Cents, DeliveryId, Notes, OrderId, PositiveQuantity, ProductName, Reason,
    StockItemId,
};

events! {
    /// Everything that happens to an order.
    pub enum OrderEvent for "order" {
        OrderPlaced => "1.0.0",
        OrderConfirmed => "1.0.0",
        OrderRejected => "1.0.0",
        OrderCancelled => "1.0.0",
        OrderPreparing => "1.0.0",
        OrderReadyForPickup => "1.0.0",
        OrderInTransit => "1.0.0",
        OrderDeliveryFailed => "1.0.0",
        OrderDelivered => "1.0.0",
    }
}

/// Where an order is in its life (API.md "Orders").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Placed; its lines are being reserved.
    Pending,
    /// Every line reserved and priced.
    Confirmed,
    /// A line could not be reserved; nothing stays reserved.
    Rejected,
    /// Cancelled before it left the farm.
    Cancelled,
    /// The farmer is preparing it.
    Preparing,
    /// Waiting for the driver at the farm.
    ReadyForPickup,
    /// On its way.
    InTransit,
    /// Received by the restaurant.
    Delivered,
}

/// One line of an order as placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    /// The stock item ordered.
    pub stock_item_id: StockItemId,
    /// How many units.
    pub quantity: PositiveQuantity,
}

/// One line of a confirmed order, priced at reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PricedLine {
    /// The stock item ordered.
    pub stock_item_id: StockItemId,
    /// Its product name when reserved.
    pub product_name: ProductName,
    /// How many units.
    pub quantity: PositiveQuantity,
    /// The price of one unit.
    pub unit_price_cents: Cents,
    /// Quantity times unit price.
    pub line_total_cents: Cents,
}

/// One line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RefusedLine {
    /// The stock item asked for.
    pub stock_item_id: StockItemId,
    /// Why it was refused.
    pub reason: ReservationRefusal,
}

/// A restaurant placed an order with a farmer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlaced {
    /// The new order.
    pub order_id: OrderId,
    /// The restaurant that placed it.
    pub customer_id: ActorId,
    /// The farmer it is placed with.
    pub farmer_id: ActorId,
    /// What is ordered; at least one line, each stock item once.
    pub lines: Vec<OrderLine>,
    /// Where to deliver.
    pub delivery_address: Address,
    /// The day the restaurant wants it, if any.
    pub requested_delivery_date: Option<NaiveDate>,
    /// Free notes for the farmer.
    pub notes: Option<Notes>,
    /// When.
    pub placed_at: DateTime<Utc>,
}

/// Every line was reserved: the order is confirmed at these prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {
    /// The priced lines, in the order placed.
    pub lines: Vec<PricedLine>,
    /// The sum of the line totals.
    pub total_cents: Cents,
    /// When.
    pub confirmed_at: DateTime<Utc>,
}

/// A line could not be reserved: the order is rejected and its reservations released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRejected {
    /// A human-readable summary.
    pub reason: Reason,
    /// The lines refused and why.
    pub refused_lines: Vec<RefusedLine>,
    /// When.
    pub rejected_at: DateTime<Utc>,
}

/// The customer (or an admin) cancelled the order before it left the farm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelled {
    /// Why.
    pub reason: Reason,
    /// The status it was cancelled from (it tells whether stock was reserved).
    pub previous_status: OrderStatus,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// The farmer started preparing the order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPreparing {
    /// When.
    pub at: DateTime<Utc>,
}

/// The order waits at the farm for pickup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderReadyForPickup {
    /// When.
    pub at: DateTime<Utc>,
}

/// A driver picked the order up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderInTransit {
    /// The delivery carrying it.
    pub delivery_id: DeliveryId,
    /// When.
    pub at: DateTime<Utc>,
}

/// A delivery of the order failed: it waits at the farm again, its reservations held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderDeliveryFailed {
    /// The delivery that failed.
    pub delivery_id: DeliveryId,
    /// Why, as the delivery recorded it.
    pub reason: Reason,
    /// How many deliveries of this order have failed, this one included, so readers (the
    /// delivery process deciding on another attempt) need not count them.
    pub failed_deliveries: u32,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// The order reached the restaurant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderDelivered {
    /// The delivery that carried it.
    pub delivery_id: DeliveryId,
    /// When.
    pub at: DateTime<Utc>,
}
