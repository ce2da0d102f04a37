//! What may be asked of a delivery.

use chrono::{DateTime, Utc};
use event_schemas::DeliveryWindow;
use event_schemas::values::{
    ActorId, Address, DeliveryId, GeoPoint, OrderId, ProofRef, Reason, RecipientName, Vehicle,
};

/// A command to the `delivery` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryCommand {
    /// Plan a delivery of an order (admin; the delivery process).
    ScheduleDelivery(ScheduleDelivery),
    /// Take the delivery (a distributor assigns itself; an admin names the driver).
    AssignDriver {
        /// The driver: required for an admin, must be the distributor itself otherwise.
        driver_id: Option<ActorId>,
        /// The vehicle, if given.
        vehicle: Option<Vehicle>,
    },
    /// Pick the goods up at the farm (the assigned driver, admin).
    PickUp,
    /// Report a position (the assigned driver); older than the last one is refused.
    UpdateLocation {
        /// Where the driver is.
        location: GeoPoint,
        /// When the position was taken.
        recorded_at: DateTime<Utc>,
        /// The expected arrival, if known.
        eta: Option<DateTime<Utc>>,
    },
    /// Hand the goods over (the assigned driver, admin).
    CompleteDelivery {
        /// Who received them.
        recipient_name: RecipientName,
        /// A proof of delivery, if any.
        proof_ref: Option<ProofRef>,
        /// When they were handed over.
        delivered_at: DateTime<Utc>,
    },
    /// Give up on the delivery (the assigned driver, admin).
    FailDelivery {
        /// Why.
        reason: Reason,
    },
}

/// The facts of a new delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleDelivery {
    /// The new delivery's id.
    pub delivery_id: DeliveryId,
    /// The order to carry.
    pub order_id: OrderId,
    /// Where to pick up; `None`: at the order's farm.
    pub pickup_address: Option<Address>,
    /// Where to deliver.
    pub dropoff_address: Address,
    /// When to deliver; must end after it starts.
    pub window: DeliveryWindow,
}

impl DeliveryCommand {
    /// The command's name, as recorded in event metadata.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::ScheduleDelivery(_) => "ScheduleDelivery",
            Self::AssignDriver { .. } => "AssignDriver",
            Self::PickUp => "PickUpDelivery",
            Self::UpdateLocation { .. } => "UpdateLocation",
            Self::CompleteDelivery { .. } => "CompleteDelivery",
            Self::FailDelivery { .. } => "FailDelivery",
        }
    }
}
