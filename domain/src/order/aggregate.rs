//! The `order` aggregate's state and decisions.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{Actor, ActorId, Cents, DeliveryId, OrderId, Reason, Role};
use event_schemas::{
    OrderCancelled, OrderConfirmed, OrderDelivered, OrderDeliveryFailed, OrderEvent,
    OrderInTransit, OrderLine, OrderPlaced, OrderPreparing, OrderReadyForPickup, OrderRejected,
    OrderStatus, PricedLine,
};
use serde::{Deserialize, Serialize};

use super::{OrderCommand, OrderError, PlaceOrder};
use crate::Issued;

/// The most lines one order may have.
pub const MAX_LINES: usize = 100;

/// A restaurant's order to one farmer; `Default` is an order not placed yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    placed: Option<Placed>,
}

/// What a placed order knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Placed {
    order_id: OrderId,
    customer_id: ActorId,
    farmer_id: ActorId,
    lines: Vec<OrderLine>,
    status: OrderStatus,
    delivery_id: Option<DeliveryId>,
    total_cents: Option<Cents>,
    /// The deliveries that failed: a repeated failure is told apart by its id, and their
    /// number is the count the next failure records. At most a few per order (the delivery
    /// process stops after three), so the state stays small. Defaults to none so that
    /// snapshots taken before failures were recorded still load.
    #[serde(default)]
    failed_deliveries: BTreeSet<DeliveryId>,
}

impl Order {
    /// Whether the order was placed (exists).
    pub fn is_placed(&self) -> bool {
        self.placed.is_some()
    }

    /// The order's id, once placed.
    pub fn id(&self) -> Option<OrderId> {
        self.placed.as_ref().map(|p| p.order_id)
    }

    /// Where the order is in its life, once placed.
    pub fn status(&self) -> Option<OrderStatus> {
        self.placed.as_ref().map(|p| p.status)
    }

    /// The restaurant that is the order's customer, once placed.
    pub fn customer(&self) -> Option<&ActorId> {
        self.placed.as_ref().map(|p| &p.customer_id)
    }

    /// The farmer the order is placed with, once placed.
    pub fn farmer(&self) -> Option<&ActorId> {
        self.placed.as_ref().map(|p| &p.farmer_id)
    }

    /// The lines as placed (empty before placement).
    pub fn lines(&self) -> &[OrderLine] {
        self.placed.as_ref().map_or(&[], |p| &p.lines)
    }

    /// The delivery carrying (or that carried) the order, once in transit; none again after
    /// that delivery failed.
    pub fn delivery_id(&self) -> Option<DeliveryId> {
        self.placed.as_ref().and_then(|p| p.delivery_id)
    }

    /// How many deliveries of the order have failed.
    pub fn failed_deliveries(&self) -> u32 {
        self.placed.as_ref().map_or(0, Placed::failed_count)
    }

    /// The confirmed total, once confirmed.
    pub fn total_cents(&self) -> Option<Cents> {
        self.placed.as_ref().and_then(|p| p.total_cents)
    }

    /// The one event `command` leads to (none for a repeat that changes nothing), or why it
    /// is refused.
    fn decide(
        &self,
        by: &Actor,
        at: DateTime<Utc>,
        command: OrderCommand,
    ) -> Result<Option<OrderEvent>, OrderError> {
        if !role_allowed(by.role, &command) {
            return Err(OrderError::RoleNotAllowed { role: by.role });
        }
        let name = command.name();
        let Some(order) = &self.placed else {
            return match command {
                OrderCommand::PlaceOrder(place) => place_order(by, at, place).map(Some),
                _ => Err(OrderError::NotFound),
            };
        };
        let status = order.status;
        Ok(Some(match command {
            OrderCommand::PlaceOrder(_) => return Err(OrderError::AlreadyPlaced),
            OrderCommand::ConfirmOrder { lines } => {
                require(status, OrderStatus::Pending, name)?;
                let (lines, total_cents) = price_lines(&order.lines, lines)?;
                OrderConfirmed {
                    lines,
                    total_cents,
                    confirmed_at: at,
                }
                .into()
            }
            OrderCommand::RejectOrder {
                reason,
                refused_lines,
            } => {
                require(status, OrderStatus::Pending, name)?;
                OrderRejected {
                    reason,
                    refused_lines,
                    rejected_at: at,
                }
                .into()
            }
            OrderCommand::CancelOrder { reason } => {
                if by.role == Role::Restaurant && by.sub != order.customer_id {
                    return Err(OrderError::NotCustomer);
                }
                match status {
                    OrderStatus::Pending
                    | OrderStatus::Confirmed
                    | OrderStatus::Preparing
                    | OrderStatus::ReadyForPickup => {}
                    OrderStatus::InTransit | OrderStatus::Delivered => {
                        return Err(OrderError::AlreadyInTransit { status });
                    }
                    OrderStatus::Cancelled | OrderStatus::Rejected => {
                        return Err(OrderError::AlreadyClosed { status });
                    }
                }
                OrderCancelled {
                    reason,
                    previous_status: status,
                    cancelled_at: at,
                }
                .into()
            }
            OrderCommand::MarkPreparing => {
                order.check_farmer(by)?;
                require(status, OrderStatus::Confirmed, name)?;
                OrderPreparing { at }.into()
            }
            OrderCommand::MarkReadyForPickup => {
                order.check_farmer(by)?;
                require(status, OrderStatus::Preparing, name)?;
                OrderReadyForPickup { at }.into()
            }
            OrderCommand::MarkInTransit { delivery_id } => {
                require(status, OrderStatus::ReadyForPickup, name)?;
                OrderInTransit { delivery_id, at }.into()
            }
            OrderCommand::MarkDelivered { delivery_id } => {
                require(status, OrderStatus::InTransit, name)?;
                // Only the delivery carrying the order can deliver it.
                if order.delivery_id != Some(delivery_id) {
                    return Err(OrderError::NotCarryingDelivery { delivery_id });
                }
                OrderDelivered { delivery_id, at }.into()
            }
            OrderCommand::MarkDeliveryFailed {
                delivery_id,
                reason,
            } => return order.delivery_failed(status, name, at, delivery_id, reason),
        }))
    }
}

impl Placed {
    /// A farmer may act only on the orders placed with it (admins on any).
    fn check_farmer(&self, by: &Actor) -> Result<(), OrderError> {
        if by.role == Role::Farmer && by.sub != self.farmer_id {
            return Err(OrderError::NotOrderFarmer);
        }
        Ok(())
    }

    fn failed_count(&self) -> u32 {
        u32::try_from(self.failed_deliveries.len()).unwrap_or(u32::MAX)
    }

    /// A delivery failed, before or after pickup: the order waits at the farm again. A
    /// delivery already recorded as failed changes nothing, whatever the order's status now,
    /// so the delivery process's repeat gets the first outcome.
    fn delivery_failed(
        &self,
        status: OrderStatus,
        command: &'static str,
        at: DateTime<Utc>,
        delivery_id: DeliveryId,
        reason: Reason,
    ) -> Result<Option<OrderEvent>, OrderError> {
        if self.failed_deliveries.contains(&delivery_id) {
            return Ok(None);
        }
        match status {
            OrderStatus::ReadyForPickup => {}
            // Only the delivery carrying the order can bring it back: another delivery of
            // the same order (one an admin scheduled) failing leaves it on its way.
            OrderStatus::InTransit if self.delivery_id == Some(delivery_id) => {}
            OrderStatus::InTransit => {
                return Err(OrderError::NotCarryingDelivery { delivery_id });
            }
            _ => {
                return Err(OrderError::InvalidTransition {
                    from: status,
                    command: command.into(),
                });
            }
        }
        Ok(Some(
            OrderDeliveryFailed {
                delivery_id,
                reason,
                failed_deliveries: self.failed_count().saturating_add(1),
                failed_at: at,
            }
            .into(),
        ))
    }
}

/// A new order: a restaurant is its own customer, an admin names one.
fn place_order(by: &Actor, at: DateTime<Utc>, place: PlaceOrder) -> Result<OrderEvent, OrderError> {
    let customer_id = match (by.role, place.customer_id) {
        (Role::Restaurant, Some(named)) if named != by.sub => {
            return Err(OrderError::CustomerMismatch);
        }
        (Role::Restaurant, _) => by.sub.clone(),
        (_, Some(named)) => named,
        (_, None) => return Err(OrderError::CustomerRequired),
    };
    check_lines(&place.lines)?;
    Ok(OrderPlaced {
        order_id: place.order_id,
        customer_id,
        farmer_id: place.farmer_id,
        lines: place.lines,
        delivery_address: place.delivery_address,
        requested_delivery_date: place.requested_delivery_date,
        notes: place.notes,
        placed_at: at,
    }
    .into())
}

/// Whether `role` may issue `command` at all (ownership is checked later, from the state).
fn role_allowed(role: Role, command: &OrderCommand) -> bool {
    match command {
        OrderCommand::PlaceOrder(_) | OrderCommand::CancelOrder { .. } => {
            matches!(role, Role::Restaurant | Role::Admin)
        }
        OrderCommand::ConfirmOrder { .. }
        | OrderCommand::RejectOrder { .. }
        | OrderCommand::MarkInTransit { .. }
        | OrderCommand::MarkDelivered { .. }
        | OrderCommand::MarkDeliveryFailed { .. } => matches!(role, Role::System | Role::Admin),
        OrderCommand::MarkPreparing | OrderCommand::MarkReadyForPickup => {
            matches!(role, Role::Farmer | Role::Admin)
        }
    }
}

/// At least one line, at most [`MAX_LINES`], each stock item once.
fn check_lines(lines: &[OrderLine]) -> Result<(), OrderError> {
    if lines.is_empty() {
        return Err(OrderError::NoLines);
    }
    if lines.len() > MAX_LINES {
        return Err(OrderError::TooManyLines { count: lines.len() });
    }
    let mut seen = HashSet::with_capacity(lines.len());
    for line in lines {
        if !seen.insert(line.stock_item_id) {
            return Err(OrderError::DuplicateLine {
                stock_item_id: line.stock_item_id,
            });
        }
    }
    Ok(())
}

/// Matches the priced lines one to one with the placed ones (same items and quantities, each
/// total being price x quantity) and returns them in the placed order with their sum.
fn price_lines(
    placed: &[OrderLine],
    priced: Vec<PricedLine>,
) -> Result<(Vec<PricedLine>, Cents), OrderError> {
    if priced.len() != placed.len() {
        return Err(OrderError::PricedLinesMismatch);
    }
    let mut by_item = HashMap::with_capacity(priced.len());
    for line in priced {
        if line.unit_price_cents.times(line.quantity.quantity()) != Some(line.line_total_cents) {
            return Err(OrderError::PricedLinesMismatch);
        }
        if by_item.insert(line.stock_item_id, line).is_some() {
            return Err(OrderError::PricedLinesMismatch);
        }
    }
    let mut ordered = Vec::with_capacity(placed.len());
    for wanted in placed {
        match by_item.remove(&wanted.stock_item_id) {
            Some(line) if line.quantity == wanted.quantity => ordered.push(line),
            _ => return Err(OrderError::PricedLinesMismatch),
        }
    }
    let total = ordered
        .iter()
        .try_fold(Cents::ZERO, |sum, line| {
            sum.checked_add(line.line_total_cents)
        })
        .ok_or(OrderError::TotalOverflow)?;
    Ok((ordered, total))
}

/// `Ok` when the order is in `expected`, else the status-machine refusal for `command`.
fn require(
    from: OrderStatus,
    expected: OrderStatus,
    command: &'static str,
) -> Result<(), OrderError> {
    if from == expected {
        Ok(())
    } else {
        Err(OrderError::InvalidTransition {
            from,
            command: command.into(),
        })
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = "order";
    type Command = Issued<OrderCommand>;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued { by, at, command } = command;
        if let Some(event) = self.decide(&by, at, command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        if let OrderEvent::OrderPlaced(placed) = event {
            self.placed = Some(Placed {
                order_id: placed.order_id,
                customer_id: placed.customer_id,
                farmer_id: placed.farmer_id,
                lines: placed.lines,
                status: OrderStatus::Pending,
                delivery_id: None,
                total_cents: None,
                failed_deliveries: BTreeSet::new(),
            });
            return;
        }
        let Some(order) = self.placed.as_mut() else {
            return;
        };
        match event {
            OrderEvent::OrderPlaced(_) => {}
            OrderEvent::OrderConfirmed(confirmed) => {
                order.status = OrderStatus::Confirmed;
                order.total_cents = Some(confirmed.total_cents);
            }
            OrderEvent::OrderRejected(_) => order.status = OrderStatus::Rejected,
            OrderEvent::OrderCancelled(_) => order.status = OrderStatus::Cancelled,
            OrderEvent::OrderPreparing(_) => order.status = OrderStatus::Preparing,
            OrderEvent::OrderReadyForPickup(_) => order.status = OrderStatus::ReadyForPickup,
            OrderEvent::OrderInTransit(in_transit) => {
                order.status = OrderStatus::InTransit;
                order.delivery_id = Some(in_transit.delivery_id);
            }
            OrderEvent::OrderDeliveryFailed(failed) => {
                order.status = OrderStatus::ReadyForPickup;
                order.delivery_id = None;
                order.failed_deliveries.insert(failed.delivery_id);
            }
            OrderEvent::OrderDelivered(delivered) => {
                order.status = OrderStatus::Delivered;
                order.delivery_id = Some(delivered.delivery_id);
            }
        }
    }
}
