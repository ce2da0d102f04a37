//! The delivery process: an order ready for pickup gets a delivery scheduled; a delivery's
//! pickup puts the order in transit, its completion delivers the order, and its failure sends
//! the order back to the farm, after which another delivery is scheduled, at most
//! [`MAX_DELIVERIES`] per order.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
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

/// How long after an order is ready (or its last delivery failed) the delivery window closes.
const DELIVERY_WINDOW: TimeDelta = TimeDelta::hours(24);

/// The most deliveries of one order (API.md): after the last one fails, the process schedules
/// no other and the order waits at the farm (an admin may cancel it).
pub const MAX_DELIVERIES: u32 = 3;

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
                DeliveryEvent::DeliveryScheduled(e) => Some(e.order_id),
                DeliveryEvent::DeliveryPickedUp(e) => Some(e.order_id),
                DeliveryEvent::DeliveryCompleted(e) => Some(e.order_id),
                DeliveryEvent::DeliveryFailed(e) => Some(e.order_id),
                _ => None,
            },
        }
    }
}

/// The delivery process's state for one order: what it has passed on already, so that an
/// event seen twice issues nothing new.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryProcess {
    /// Where the order goes, from its placement.
    delivery_address: Option<Address>,
    /// How many deliveries the process scheduled: attempts `1..=scheduled`.
    scheduled: u32,
    /// The highest failure count of the order handled, so a repeated `OrderDeliveryFailed`
    /// schedules nothing more.
    failures_handled: u32,
    /// The deliveries whose pickup was passed on to the order.
    picked_up: BTreeSet<DeliveryId>,
    /// The deliveries whose failure was passed on to the order.
    failed: BTreeSet<DeliveryId>,
    /// The deliveries whose completion was passed on to the order (only the one carrying
    /// it is accepted, so each is passed on).
    completed: BTreeSet<DeliveryId>,
    /// Every delivery of the order, the process's and those an admin scheduled: all count
    /// toward the most an order may have, and a live one needs no other.
    #[serde(default)]
    known: BTreeSet<DeliveryId>,
}

impl DeliveryProcess {
    /// The id of the process's delivery attempt `attempt` (counted from 1) for `order_id`.
    /// The first keeps the derivation from the order id alone, so the ids of deliveries
    /// scheduled before retries existed stay the same.
    pub fn delivery_id_for(order_id: OrderId, attempt: u32) -> DeliveryId {
        if attempt <= 1 {
            DeliveryId::derived(DELIVERY_NAMESPACE, &order_id.to_string())
        } else {
            DeliveryId::derived(DELIVERY_NAMESPACE, &format!("{order_id}/{attempt}"))
        }
    }

    /// Reacts to one input and returns the commands to issue.
    pub fn handle(&mut self, cause: Cause, input: DeliveryProcessInput<'_>) -> Vec<ProcessCommand> {
        let mut decision = Decision::new(PROCESS, cause);
        match input {
            DeliveryProcessInput::Order { order_id, event } => {
                self.on_order_event(&mut decision, cause.at, order_id, event);
            }
            DeliveryProcessInput::Delivery { delivery_id, event } => {
                self.on_delivery_event(&mut decision, delivery_id, event);
            }
        }
        decision.into_commands()
    }

    fn on_order_event(
        &mut self,
        decision: &mut Decision,
        at: DateTime<Utc>,
        order_id: OrderId,
        event: &OrderEvent,
    ) {
        match event {
            OrderEvent::OrderPlaced(placed) => {
                self.delivery_address = Some(placed.delivery_address.clone());
            }
            // An admin may have scheduled one already: that one carries the order.
            OrderEvent::OrderReadyForPickup(_) if self.scheduled == 0 && !self.has_live() => {
                self.schedule_next(decision, at, order_id);
            }
            OrderEvent::OrderDeliveryFailed(failed)
                if failed.failed_deliveries > self.failures_handled =>
            {
                self.failures_handled = failed.failed_deliveries;
                // The order no longer counts on it, even if an admin recorded the failure
                // while the delivery itself goes on.
                self.failed.insert(failed.delivery_id);
                let deliveries = u32::try_from(self.known.len()).unwrap_or(u32::MAX);
                if failed.failed_deliveries < MAX_DELIVERIES
                    && self.scheduled < MAX_DELIVERIES
                    && deliveries < MAX_DELIVERIES
                    && !self.has_live()
                {
                    self.schedule_next(decision, at, order_id);
                }
            }
            _ => {}
        }
    }

    fn on_delivery_event(
        &mut self,
        decision: &mut Decision,
        delivery_id: DeliveryId,
        event: &DeliveryEvent,
    ) {
        match event {
            DeliveryEvent::DeliveryScheduled(_) => {
                self.known.insert(delivery_id);
            }
            DeliveryEvent::DeliveryPickedUp(e) if !self.picked_up.contains(&delivery_id) => {
                self.picked_up.insert(delivery_id);
                decision.order(e.order_id, OrderCommand::MarkInTransit { delivery_id });
            }
            DeliveryEvent::DeliveryCompleted(e) if !self.completed.contains(&delivery_id) => {
                self.completed.insert(delivery_id);
                decision.order(e.order_id, OrderCommand::MarkDelivered { delivery_id });
            }
            DeliveryEvent::DeliveryFailed(e) if !self.failed.contains(&delivery_id) => {
                self.failed.insert(delivery_id);
                decision.order(
                    e.order_id,
                    OrderCommand::MarkDeliveryFailed {
                        delivery_id,
                        reason: e.reason.clone(),
                    },
                );
            }
            _ => {}
        }
    }

    /// Whether a delivery of the order is still under way (neither failed nor completed).
    fn has_live(&self) -> bool {
        self.known
            .iter()
            .any(|d| !self.failed.contains(d) && !self.completed.contains(d))
    }

    /// Schedules the next delivery attempt, from `at` for a day, to the order's address; an
    /// order never seen placed has no address and gets none.
    fn schedule_next(&mut self, decision: &mut Decision, at: DateTime<Utc>, order_id: OrderId) {
        let Some(dropoff_address) = self.delivery_address.clone() else {
            return;
        };
        self.scheduled = self.scheduled.saturating_add(1);
        let delivery_id = Self::delivery_id_for(order_id, self.scheduled);
        // Known from now on, before its own event comes back through the log.
        self.known.insert(delivery_id);
        let window = DeliveryWindow {
            start: at,
            end: at
                .checked_add_signed(DELIVERY_WINDOW)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
        decision.delivery(
            delivery_id,
            DeliveryCommand::ScheduleDelivery(ScheduleDelivery {
                delivery_id,
                order_id,
                pickup_address: None,
                dropoff_address,
                window,
            }),
        );
    }
}

#[cfg(test)]
mod tests;
