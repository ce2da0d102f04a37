//! The delivery process on the runtime: an order ready for pickup gets a delivery; pickup,
//! completion and failure of the delivery move the order; a failed delivery gets another, up
//! to the most an order may have. One instance per order.

use async_trait::async_trait;
use domain::delivery::DeliveryError;
use domain::order::OrderError;
use domain::process::{DeliveryProcess, DeliveryProcessInput, Target};
use event_store::ExecuteError;

use super::issue::{Causes, Issuer, Outcome};
use super::manager::{Process, Stuck, state_row};
use crate::event::{Body, Event};

state_row! {
    /// The delivery process's state of one order.
    DeliveryProcessRow in "delivery_process"
}

/// The delivery process.
#[derive(Debug)]
pub struct DeliveryFlow;

#[async_trait]
impl Process for DeliveryFlow {
    const NAME: &'static str = "delivery-process";
    const VERSION: i64 = 1;
    type State = DeliveryProcess;
    type Row = DeliveryProcessRow;

    fn key(event: &Event) -> Option<String> {
        input_of(event)?.order_id().map(|id| id.to_string())
    }

    async fn react(
        state: &mut DeliveryProcess,
        event: &Event,
        causes: Causes,
        issuer: &Issuer,
    ) -> Result<(), Stuck> {
        let Some(input) = input_of(event) else {
            return Ok(());
        };
        let cause = causes.cause();
        for command in state.handle(cause, input) {
            let outcome = issuer.issue(&command, causes).await;
            match (&command.target, &outcome) {
                // The order moved on (cancelled while its delivery was under way), another
                // delivery carries it (one an admin scheduled), or the delivery names no
                // order of ours: the order's own events decide what becomes of its stock.
                (
                    Target::Order { order_id, command },
                    Outcome::Order(Err(ExecuteError::Rejected(
                        error @ (OrderError::AlreadyClosed { .. }
                        | OrderError::InvalidTransition { .. }
                        | OrderError::NotCarryingDelivery { .. }
                        | OrderError::NotFound),
                    ))),
                ) => {
                    tracing::warn!(
                        order = %order_id,
                        command = command.name(),
                        %error,
                        "the order moved on; the delivery's news changes nothing"
                    );
                }
                // The delivery's id was taken (an admin scheduled one under it): that
                // delivery serves the order.
                (
                    Target::Delivery { delivery_id, .. },
                    Outcome::Delivery(Err(ExecuteError::Rejected(DeliveryError::AlreadyScheduled))),
                ) => {
                    tracing::warn!(delivery = %delivery_id, "the delivery was already scheduled by someone else");
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

/// What the delivery process reads in `event`.
fn input_of(event: &Event) -> Option<DeliveryProcessInput<'_>> {
    match &event.body {
        Body::Order(e) => Some(DeliveryProcessInput::Order {
            order_id: event.aggregate_id.parse().ok()?,
            event: e,
        }),
        Body::Delivery(e) => Some(DeliveryProcessInput::Delivery {
            delivery_id: event.aggregate_id.parse().ok()?,
            event: e,
        }),
        _ => None,
    }
}
