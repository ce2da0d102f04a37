//! The order process: reserve every line of a placed order, then confirm it at the reserved
//! prices or reject it and release what was reserved; release on cancellation, commit on
//! delivery.

use std::collections::BTreeMap;

use event_schemas::values::{ActorId, Cents, OrderId, ProductName, Reason, StockItemId};
use event_schemas::{
    OrderEvent, OrderLine, PricedLine, RefusedLine, ReservationRefusal, StockEvent,
};
use serde::{Deserialize, Serialize};

use super::command::{Cause, Decision, ProcessCommand};
use crate::order::OrderCommand;
use crate::stock::StockCommand;

/// The process's name, the `sub` of the system actor issuing its commands.
const PROCESS: &str = "order-process";

/// What the order process reacts to.
#[derive(Debug, Clone, Copy)]
pub enum OrderProcessInput<'a> {
    /// An event of the order's own stream.
    Order(&'a OrderEvent),
    /// An event of a stock item's stream that names the order.
    Stock {
        /// The stock item whose stream holds the event.
        stock_item_id: StockItemId,
        /// The event.
        event: &'a StockEvent,
    },
    /// A `ReserveStock` this process issued was refused outright (the stock item does not
    /// exist), so no stock event will ever answer the line.
    ReservationImpossible {
        /// The stock item named by the line.
        stock_item_id: StockItemId,
        /// Why.
        reason: &'a ReservationRefusal,
    },
}

impl OrderProcessInput<'_> {
    /// The order this input concerns, so the runtime loads the right process state; `None`
    /// for events the process ignores.
    pub fn order_id(&self, order_stream_id: Option<OrderId>) -> Option<OrderId> {
        match self {
            Self::Order(_) => order_stream_id,
            Self::Stock { event, .. } => match event {
                StockEvent::StockReserved(e) => Some(e.order_id),
                StockEvent::StockReservationRefused(e) => Some(e.order_id),
                _ => None,
            },
            Self::ReservationImpossible { .. } => order_stream_id,
        }
    }
}

/// How a line's reservation was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum LineAnswer {
    Reserved {
        product_name: ProductName,
        unit_price_cents: Cents,
    },
    Refused(ReservationRefusal),
}

/// Where the order stands, as far as the process is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// The order has not been seen yet.
    #[default]
    Unplaced,
    /// Waiting for the lines' answers.
    Reserving,
    /// Every line answered; confirm or reject issued.
    Decided,
    /// Confirmed and not yet closed: reservations are held.
    Confirmed,
    /// Rejected or cancelled: reservations are (being) released.
    Closed,
    /// Delivered: reservations committed.
    Delivered,
}

/// The order process's state for one order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderProcess {
    order_id: Option<OrderId>,
    farmer_id: Option<ActorId>,
    lines: Vec<OrderLine>,
    answers: BTreeMap<StockItemId, LineAnswer>,
    phase: Phase,
}

impl OrderProcess {
    /// Reacts to one input and returns the commands to issue.
    pub fn handle(&mut self, cause: Cause, input: OrderProcessInput<'_>) -> Vec<ProcessCommand> {
        let mut decision = Decision::new(PROCESS, cause);
        match input {
            OrderProcessInput::Order(event) => self.on_order_event(&mut decision, event),
            OrderProcessInput::Stock {
                stock_item_id,
                event,
            } => match event {
                StockEvent::StockReserved(e) => self.on_answer(
                    &mut decision,
                    stock_item_id,
                    LineAnswer::Reserved {
                        product_name: e.product_name.clone(),
                        unit_price_cents: e.unit_price_cents,
                    },
                ),
                StockEvent::StockReservationRefused(e) => self.on_answer(
                    &mut decision,
                    stock_item_id,
                    LineAnswer::Refused(e.reason.clone()),
                ),
                _ => {}
            },
            OrderProcessInput::ReservationImpossible {
                stock_item_id,
                reason,
            } => self.on_answer(
                &mut decision,
                stock_item_id,
                LineAnswer::Refused(reason.clone()),
            ),
        }
        decision.into_commands()
    }

    fn on_order_event(&mut self, decision: &mut Decision, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPlaced(placed) => {
                if self.phase != Phase::Unplaced {
                    return;
                }
                self.order_id = Some(placed.order_id);
                self.farmer_id = Some(placed.farmer_id.clone());
                self.lines = placed.lines.clone();
                self.phase = Phase::Reserving;
                for line in &placed.lines {
                    decision.stock(
                        line.stock_item_id,
                        StockCommand::ReserveStock {
                            order_id: placed.order_id,
                            farmer_id: placed.farmer_id.clone(),
                            quantity: line.quantity,
                        },
                    );
                }
            }
            OrderEvent::OrderConfirmed(_) => {
                if matches!(self.phase, Phase::Reserving | Phase::Decided) {
                    self.phase = Phase::Confirmed;
                }
            }
            OrderEvent::OrderRejected(_) | OrderEvent::OrderCancelled(_) => {
                if matches!(
                    self.phase,
                    Phase::Closed | Phase::Delivered | Phase::Unplaced
                ) {
                    return;
                }
                self.phase = Phase::Closed;
                self.release_held_or_pending(decision);
            }
            OrderEvent::OrderDelivered(_) => {
                if self.phase == Phase::Delivered {
                    return;
                }
                self.phase = Phase::Delivered;
                let Some(order_id) = self.order_id else {
                    return;
                };
                for line in &self.lines {
                    decision.stock(
                        line.stock_item_id,
                        StockCommand::CommitReservation { order_id },
                    );
                }
            }
            // A failed delivery sends the order back to the farm, not back to the shelf: its
            // reservations stay held for the next delivery.
            OrderEvent::OrderPreparing(_)
            | OrderEvent::OrderReadyForPickup(_)
            | OrderEvent::OrderInTransit(_)
            | OrderEvent::OrderDeliveryFailed(_) => {}
        }
    }

    fn on_answer(
        &mut self,
        decision: &mut Decision,
        stock_item_id: StockItemId,
        answer: LineAnswer,
    ) {
        let Some(order_id) = self.order_id else {
            return;
        };
        if !self.lines.iter().any(|l| l.stock_item_id == stock_item_id)
            || self.answers.contains_key(&stock_item_id)
        {
            return;
        }
        let reserved = matches!(answer, LineAnswer::Reserved { .. });
        self.answers.insert(stock_item_id, answer);
        match self.phase {
            Phase::Reserving if self.answers.len() == self.lines.len() => {
                self.phase = Phase::Decided;
                self.decide(decision, order_id);
            }
            // A reservation that lands after the order closed must not stay held.
            Phase::Closed if reserved => {
                decision.stock(stock_item_id, StockCommand::ReleaseReservation { order_id })
            }
            _ => {}
        }
    }

    fn decide(&self, decision: &mut Decision, order_id: OrderId) {
        let mut priced = Vec::with_capacity(self.lines.len());
        let mut refused = Vec::new();
        let mut overflow = false;
        for line in &self.lines {
            match self.answers.get(&line.stock_item_id) {
                Some(LineAnswer::Reserved {
                    product_name,
                    unit_price_cents,
                }) => match unit_price_cents.times(line.quantity.quantity()) {
                    Some(line_total_cents) => priced.push(PricedLine {
                        stock_item_id: line.stock_item_id,
                        product_name: product_name.clone(),
                        quantity: line.quantity,
                        unit_price_cents: *unit_price_cents,
                        line_total_cents,
                    }),
                    None => overflow = true,
                },
                Some(LineAnswer::Refused(reason)) => refused.push(RefusedLine {
                    stock_item_id: line.stock_item_id,
                    reason: reason.clone(),
                }),
                None => return,
            }
        }
        let total = priced.iter().try_fold(Cents::ZERO, |sum, line| {
            sum.checked_add(line.line_total_cents)
        });
        overflow |= total.is_none();
        if refused.is_empty() && !overflow {
            decision.order(order_id, OrderCommand::ConfirmOrder { lines: priced });
            return;
        }
        let reason = if refused.is_empty() {
            "the order's total is too large".to_owned()
        } else {
            format!(
                "{} of {} lines could not be reserved",
                refused.len(),
                self.lines.len()
            )
        };
        decision.order(
            order_id,
            OrderCommand::RejectOrder {
                reason: Reason::system(&reason),
                refused_lines: refused,
            },
        );
    }

    /// Releases every line that is reserved or may still be (its answer not in yet); a release
    /// where nothing is held does nothing.
    fn release_held_or_pending(&self, decision: &mut Decision) {
        let Some(order_id) = self.order_id else {
            return;
        };
        for line in &self.lines {
            if !matches!(
                self.answers.get(&line.stock_item_id),
                Some(LineAnswer::Refused(_))
            ) {
                decision.stock(
                    line.stock_item_id,
                    StockCommand::ReleaseReservation { order_id },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
