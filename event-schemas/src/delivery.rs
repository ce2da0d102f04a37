//! Events of the `delivery` aggregate: carrying an order from the farm to the restaurant.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::events;
use crate::values::{
    ActorId, Address, DeliveryId, GeoPoint, OrderId, ProofRef, Reason, RecipientName, Vehicle,
};

events! {
    /// Everything that happens to a delivery.
    pub enum DeliveryEvent for "delivery" {
        DeliveryScheduled => "2.0.0",
        DriverAssigned => "1.0.0",
        DeliveryPickedUp => "1.0.0",
        LocationUpdated => "1.0.0",
        DeliveryCompleted => "1.0.0",
        DeliveryFailed => "1.0.0",
    }
}

/// Where a delivery is in its life (API.md "Deliveries").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Waiting for a driver.
    Scheduled,
    /// A driver took it.
    Assigned,
    /// Picked up, on its way.
    InTransit,
    /// Handed over.
    Delivered,
    /// Could not be delivered.
    Failed,
}

/// A delivery of an order was scheduled.
///
/// Version 2.0.0 groups the window into [`DeliveryWindow`]; a stored 1.0.0 event (flat
/// `window_start` and `window_end`) is upcast by
/// [`DeliveryScheduledV1ToV2`](crate::DeliveryScheduledV1ToV2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryScheduled {
    /// The new delivery.
    pub delivery_id: DeliveryId,
    /// The order it carries.
    pub order_id: OrderId,
    /// Where to pick up; `None` when scheduled by the order process: at the order's farm.
    pub pickup_address: Option<Address>,
    /// Where to deliver.
    pub dropoff_address: Address,
    /// When to deliver.
    pub window: DeliveryWindow,
    /// When.
    pub scheduled_at: DateTime<Utc>,
}

/// The time span within which a delivery is to be made.
///
/// The type does not guarantee that `end` is after `start`: the `delivery` aggregate refuses
/// a window that does not, so every recorded window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryWindow {
    /// The earliest time to deliver.
    pub start: DateTime<Utc>,
    /// The latest time to deliver; after `start`.
    pub end: DateTime<Utc>,
}

/// A driver was assigned to the delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DriverAssigned {
    /// The distributor driving it.
    pub driver_id: ActorId,
    /// The vehicle, if given.
    pub vehicle: Option<Vehicle>,
    /// When.
    pub assigned_at: DateTime<Utc>,
}

/// The driver picked the goods up at the farm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryPickedUp {
    /// The order carried.
    pub order_id: OrderId,
    /// The driver.
    pub driver_id: ActorId,
    /// When.
    pub picked_up_at: DateTime<Utc>,
}

/// The driver reported a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocationUpdated {
    /// Where the driver was.
    pub location: GeoPoint,
    /// When the position was taken; later than every earlier one.
    pub recorded_at: DateTime<Utc>,
    /// The expected arrival, if the driver gave one.
    pub eta: Option<DateTime<Utc>>,
}

/// The goods were handed over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryCompleted {
    /// The order delivered.
    pub order_id: OrderId,
    /// Who received it.
    pub recipient_name: RecipientName,
    /// A proof of delivery, if any.
    pub proof_ref: Option<ProofRef>,
    /// When it was handed over.
    pub delivered_at: DateTime<Utc>,
}

/// The delivery could not be made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryFailed {
    /// The order it carried.
    pub order_id: OrderId,
    /// Why.
    pub reason: Reason,
    /// When.
    pub failed_at: DateTime<Utc>,
}
