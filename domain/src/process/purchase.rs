//! The purchase process: goods received for a purchase are added to its stock item.

use event_schemas::PurchaseEvent;
use event_schemas::values::PurchaseId;
use serde::{Deserialize, Serialize};

use super::command::{Cause, Decision, ProcessCommand};
use crate::stock::StockCommand;

/// The process's name, the `sub` of the system actor issuing its commands.
const PROCESS: &str = "purchase-process";

/// The purchase process's state for one purchase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PurchaseProcess {
    restocked: bool,
}

impl PurchaseProcess {
    /// Reacts to one event of purchase `purchase_id` and returns the commands to issue.
    pub fn handle(
        &mut self,
        cause: Cause,
        purchase_id: PurchaseId,
        event: &PurchaseEvent,
    ) -> Vec<ProcessCommand> {
        let mut decision = Decision::new(PROCESS, cause);
        if let PurchaseEvent::GoodsReceived(goods) = event
            && !self.restocked
        {
            self.restocked = true;
            decision.stock(
                goods.stock_item_id,
                StockCommand::ReceiveStock {
                    quantity: goods.quantity_received,
                    purchase_id: Some(purchase_id),
                },
            );
        }
        decision.into_commands()
    }
}

#[cfg(test)]
mod tests;
