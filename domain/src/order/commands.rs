//! What may be asked of an order.

use chrono::NaiveDate;
use event_schemas::values::{ActorId, Address, DeliveryId, Notes, OrderId, Reason};
use event_schemas::{OrderLine, PricedLine, RefusedLine};

/// A command to the `order` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderCommand {
    /// Place an order with a farmer (restaurant: becomes its customer; admin: names one).
    PlaceOrder(PlaceOrder),
    /// Confirm a pending order at the reserved prices (the order process, admin).
    ConfirmOrder {
        /// One priced line per placed line, same items and quantities.
        lines: Vec<PricedLine>,
    },
    /// Reject a pending order whose lines could not all be reserved (the order process, admin).
    RejectOrder {
        /// A human-readable summary.
        reason: Reason,
        /// The lines refused and why.
        refused_lines: Vec<RefusedLine>,
    },
    /// Cancel before the order is in transit (its customer, admin).
    CancelOrder {
        /// Why.
        reason: Reason,
    },
    /// Start preparing a confirmed order (its farmer, admin).
    MarkPreparing,
    /// Say a prepared order waits for pickup (its farmer, admin).
    MarkReadyForPickup,
    /// Record that a driver picked it up (the delivery process, admin).
    MarkInTransit {
        /// The delivery carrying it.
        delivery_id: DeliveryId,
    },
    /// Record that it reached the restaurant (the delivery process, admin).
    MarkDelivered {
        /// The delivery that carried it.
        delivery_id: DeliveryId,
    },
    /// Record that a delivery failed, before or after pickup: the order waits at the farm
    /// again with its reservations held (the delivery process, admin). A repeat for the same
    /// delivery does nothing.
    MarkDeliveryFailed {
        /// The delivery that failed.
        delivery_id: DeliveryId,
        /// Why, as the delivery recorded it.
        reason: Reason,
    },
}

/// The facts of a new order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    /// The new order's id.
    pub order_id: OrderId,
    /// The customer: required when an admin places it, must be the restaurant itself otherwise.
    pub customer_id: Option<ActorId>,
    /// The farmer it is placed with.
    pub farmer_id: ActorId,
    /// What is ordered.
    pub lines: Vec<OrderLine>,
    /// Where to deliver.
    pub delivery_address: Address,
    /// The day wanted, if any.
    pub requested_delivery_date: Option<NaiveDate>,
    /// Free notes.
    pub notes: Option<Notes>,
}

impl OrderCommand {
    /// The command's name, as recorded in event metadata.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::PlaceOrder(_) => "PlaceOrder",
            Self::ConfirmOrder { .. } => "ConfirmOrder",
            Self::RejectOrder { .. } => "RejectOrder",
            Self::CancelOrder { .. } => "CancelOrder",
            Self::MarkPreparing => "MarkPreparing",
            Self::MarkReadyForPickup => "MarkReadyForPickup",
            Self::MarkInTransit { .. } => "MarkInTransit",
            Self::MarkDelivered { .. } => "MarkDelivered",
            Self::MarkDeliveryFailed { .. } => "MarkDeliveryFailed",
        }
    }
}
