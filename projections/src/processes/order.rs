//! The order process on the runtime: reserves an order's lines, confirms or rejects it,
//! releases on rejection or cancellation, commits on delivery. One instance per order.

use std::collections::VecDeque;

use async_trait::async_trait;
use domain::order::OrderError;
use domain::process::{Cause, OrderProcess, OrderProcessInput, ProcessCommand, Target};
use domain::stock::{StockCommand, StockError};
use event_schemas::ReservationRefusal;
use event_schemas::values::{OrderId, StockItemId};
use event_store::ExecuteError;

use super::issue::{Causes, Issuer, Outcome};
use super::manager::{Process, Stuck, state_row};
use crate::event::{Body, Event};

state_row! {
    /// The order process's state of one order.
    OrderProcessRow in "order_process"
}

/// The order process.
#[derive(Debug)]
pub struct OrderFlow;

#[async_trait]
impl Process for OrderFlow {
    const NAME: &'static str = "order-process";
    const VERSION: i64 = 1;
    type State = OrderProcess;
    type Row = OrderProcessRow;

    fn key(event: &Event) -> Option<String> {
        let (input, stream_order) = input_of(event)?;
        input.order_id(stream_order).map(|id| id.to_string())
    }

    async fn react(
        state: &mut OrderProcess,
        event: &Event,
        causes: Causes,
        issuer: &Issuer,
    ) -> Result<(), Stuck> {
        let Some((input, _)) = input_of(event) else {
            return Ok(());
        };
        let cause = causes.cause();
        let mut queue: VecDeque<ProcessCommand> = state.handle(cause, input).into();
        while let Some(command) = queue.pop_front() {
            let outcome = issuer.issue(&command, causes).await;
            match (&command.target, &outcome) {
                (
                    Target::Stock {
                        stock_item_id,
                        command: StockCommand::ReserveStock { .. },
                    },
                    Outcome::Stock(Err(ExecuteError::Rejected(StockError::NotFound))),
                ) => {
                    // No stock event will ever answer this line: the refusal is the answer.
                    // Its commands are caused by the refused command, so their ids differ
                    // from the first decision's.
                    let refused = Cause {
                        event_id: command.id,
                        at: cause.at,
                    };
                    let input = OrderProcessInput::ReservationImpossible {
                        stock_item_id: *stock_item_id,
                        reason: &ReservationRefusal::UnknownItem,
                    };
                    queue.extend(state.handle(refused, input));
                }
                // Releasing or committing where the item does not exist holds nothing.
                (
                    Target::Stock { .. },
                    Outcome::Stock(Err(ExecuteError::Rejected(StockError::NotFound))),
                ) => {}
                // The order moved on meanwhile (its customer cancelled it): its own events
                // tell the process what to release.
                (
                    Target::Order { order_id, command },
                    Outcome::Order(Err(ExecuteError::Rejected(
                        error @ (OrderError::AlreadyClosed { .. }
                        | OrderError::InvalidTransition { .. }),
                    ))),
                ) => {
                    tracing::info!(order = %order_id, command = command.name(), %error, "the order moved on; nothing to do");
                }
                (_, outcome) => {
                    if let Some(error) = outcome.error() {
                        return Err(Stuck::refused(&command, &error));
                    }
                }
            }
        }
        Ok(())
    }
}

/// What the order process reads in `event`, with the order of the stream it belongs to.
fn input_of(event: &Event) -> Option<(OrderProcessInput<'_>, Option<OrderId>)> {
    match &event.body {
        Body::Order(e) => Some((OrderProcessInput::Order(e), event.aggregate_id.parse().ok())),
        Body::Stock(e) => Some((
            OrderProcessInput::Stock {
                stock_item_id: event.aggregate_id.parse::<StockItemId>().ok()?,
                event: e,
            },
            None,
        )),
        _ => None,
    }
}
