//! The delivery process: an order ready for pickup gets a delivery scheduled; the delivery's
//! pickup puts the order in transit; its completion delivers the order.

use chrono::TimeDelta;
use event_schemas::values::{Address, DeliveryId, OrderId};
use event_schemas::{DeliveryEvent, DeliveryWindow, OrderEvent};
use serde::{Deserialize, Serialize};
use uuid::{Uuid, uuid};

use super::command::{Cause, Decision, ProcessCommand};
use crate::delivery::{DeliveryCommand, ScheduleDelivery};
use crate::order::OrderCommand;

/// The process's name, the `sub` of the system actor issuing its commands.
const PROCESS: &str = "delivery-process";

/// The namespace of the delivery ids this process derives from order ids (UUIDv5).
const DELIVERY_NAMESPACE: Uuid = uuid!("3e0f6c55-8a1d-4b7e-a2c9-5d4b7f1e9a60");

/// How long after an order is ready the delivery window closes.
const DELIVERY_WINDOW: TimeDelta = TimeDelta::hours(24);

/// What the delivery process reacts to.
#[derive(Debug, Clone, Copy)]
pub enum DeliveryProcessInput<'a> {
    /// An event of an order's stream.
    Order {
        /// The order.
        order_id: OrderId,
        /// The event.
        event: &'a OrderEvent,
    },
    /// An event of a delivery's stream.
    Delivery {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The event.
        event: &'a DeliveryEvent,
    },
}

impl DeliveryProcessInput<'_> {
    /// The order this input concerns, so the runtime loads the right process state; `None`
    /// for events the process ignores.
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            Self::Order { order_id, .. } => Some(*order_id),
            Self::Delivery { event, .. } => match event {
                DeliveryEvent::DeliveryPickedUp(e) => Some(e.order_id),
                DeliveryEvent::DeliveryCompleted(e) => Some(e.order_id),
                _ => None,
            },
        }
    }
}

/// The delivery process's state for one order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryProcess {
    delivery_address: Option<Address>,
    scheduled: bool,
    in_transit: bool,
    delivered: bool,
}

impl DeliveryProcess {
    /// The id of the delivery this process schedules for `order_id`.
    pub fn delivery_id_for(order_id: OrderId) -> DeliveryId {
        DeliveryId::derived(DELIVERY_NAMESPACE, &order_id.to_string())
    }

    /// Reacts to one input and returns the commands to issue.
    pub fn handle(&mut self, cause: Cause, input: DeliveryProcessInput<'_>) -> Vec<ProcessCommand> {
        let mut decision = Decision::new(PROCESS, cause);
        match input {
            DeliveryProcessInput::Order { order_id, event } => match event {
                OrderEvent::OrderPlaced(placed) => {
                    self.delivery_address = Some(placed.delivery_address.clone());
                }
                OrderEvent::OrderReadyForPickup(_) if !self.scheduled => {
                    if let Some(dropoff_address) = self.delivery_address.clone() {
                        self.scheduled = true;
                        let window = DeliveryWindow {
                            start: cause.at,
                            end: cause
                                .at
                                .checked_add_signed(DELIVERY_WINDOW)
                                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
                        };
                        decision.delivery(
                            Self::delivery_id_for(order_id),
                            DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
                                delivery_id: Self::delivery_id_for(order_id),
                                order_id,
                                pickup_address: None,
                                dropoff_address,
                                window,
                            }),
                        );
                    }
                }
                _ => {}
            },
            DeliveryProcessInput::Delivery { delivery_id, event } => match event {
                DeliveryEvent::DeliveryPickedUp(e) if !self.in_transit => {
                    self.in_transit = true;
                    decision.order(e.order_id, OrderCommand::MarkInTransit { delivery_id });
                }
                DeliveryEvent::DeliveryCompleted(e) if !self.delivered => {
                    self.delivered = true;
                    decision.order(e.order_id, OrderCommand::MarkDelivered { delivery_id });
                }
                _ => {}
            },
        }
        decision.into_commands()
    }
}

#[cfg(test)]
mod tests;
