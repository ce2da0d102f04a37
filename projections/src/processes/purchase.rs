//! The purchase process on the runtime: goods received restock their stock item. One
//! instance per purchase.

use async_trait::async_trait;
use domain::process::PurchaseProcess;
use domain::stock::StockError;
use event_schemas::values::PurchaseId;
use event_store::ExecuteError;

use super::issue::{Causes, Issuer, Outcome};
use super::manager::{Process, Stuck, state_row};
use crate::event::{Body, Event};

state_row! {
    /// The purchase process's state of one purchase.
    PurchaseProcessRow in "purchase_process"
}

/// The purchase process.
#[derive(Debug)]
pub struct PurchaseFlow;

#[async_trait]
impl Process for PurchaseFlow {
    const NAME: &'static str = "purchase-process";
    const VERSION: i64 = 1;
    type State = PurchaseProcess;
    type Row = PurchaseProcessRow;

    fn key(event: &Event) -> Option<String> {
        matches!(event.body, Body::Purchase(_)).then(|| event.aggregate_id.clone())
    }

    async fn react(
        state: &mut PurchaseProcess,
        event: &Event,
        causes: Causes,
        issuer: &Issuer,
    ) -> Result<(), Stuck> {
        let Body::Purchase(purchase) = &event.body else {
            return Ok(());
        };
        let Ok(purchase_id) = event.aggregate_id.parse::<PurchaseId>() else {
            return Err(Stuck(format!(
                "the purchase id `{}` is not a UUID",
                event.aggregate_id
            )));
        };
        let cause = causes.cause();
        for command in state.handle(cause, purchase_id, purchase) {
            match issuer.issue(&command, causes).await {
                // The item would hold more than the most handled: the goods stay recorded
                // on the purchase, and the farmer adjusts by hand; no other purchase waits.
                Outcome::Stock(Err(ExecuteError::Rejected(StockError::QuantityOverflow))) => {
                    tracing::error!(
                        purchase = %purchase_id,
                        "the goods received would overflow the stock item's quantity; not added"
                    );
                }
                outcome => {
                    if let Some(error) = outcome.error() {
                        return Err(Stuck::refused(&command, &error));
                    }
                }
            }
        }
        Ok(())
    }
}
