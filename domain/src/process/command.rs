//! What a process decision returns: commands addressed to aggregates, with deterministic ids.

use chrono::{DateTime, Utc};
use event_schemas::values::{Actor, DeliveryId, OrderId, StockItemId};
use uuid::{Uuid, uuid};

use crate::Issued;
use crate::delivery::DeliveryCommand;
use crate::order::OrderCommand;
use crate::stock::StockCommand;

/// The namespace of process command ids (UUIDv5).
const COMMAND_NAMESPACE: Uuid = uuid!("7b1c9d2e-5a4f-4e8b-9c3d-2f6a1b0e8d47");

/// The event a decision reacts to: its id and when it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// The causing event's `event_id`.
    pub event_id: Uuid,
    /// When the causing event was recorded; the commands are issued "at" this time, so a
    /// replayed decision is the same decision.
    pub at: DateTime<Utc>,
}

/// A command a process manager issues.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessCommand {
    /// Deterministic: derived from the process, the causing event and the command's place in
    /// the decision. The runtime uses it as the append's idempotency key.
    pub id: Uuid,
    /// The causing event's id (the command's causation id).
    pub causation_id: Uuid,
    /// When it is issued: the causing event's time.
    pub at: DateTime<Utc>,
    /// The aggregate it is addressed to and what it asks.
    pub target: Target,
}

/// An aggregate and the command for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A command to a stock item.
    Stock {
        /// The stock item.
        stock_item_id: StockItemId,
        /// The command.
        command: StockCommand,
    },
    /// A command to an order.
    Order {
        /// The order.
        order_id: OrderId,
        /// The command.
        command: OrderCommand,
    },
    /// A command to a delivery.
    Delivery {
        /// The delivery.
        delivery_id: DeliveryId,
        /// The command.
        command: DeliveryCommand,
    },
}

impl ProcessCommand {
    /// The command wrapped as issued by `process` (a system actor) at the cause's time.
    pub fn issued<C>(&self, process: &str, command: C) -> Issued<C> {
        Issued::new(Actor::system(process), self.at, command)
    }
}

/// Builds a decision's commands, numbering them so each gets its own deterministic id.
pub(crate) struct Decision {
    process: &'static str,
    cause: Cause,
    commands: Vec<ProcessCommand>,
}

impl Decision {
    pub(crate) fn new(process: &'static str, cause: Cause) -> Self {
        Self {
            process,
            cause,
            commands: Vec::new(),
        }
    }

    pub(crate) fn issue(&mut self, target: Target) {
        let name = format!(
            "{}/{}/{}",
            self.process,
            self.cause.event_id,
            self.commands.len()
        );
        self.commands.push(ProcessCommand {
            id: Uuid::new_v5(&COMMAND_NAMESPACE, name.as_bytes()),
            causation_id: self.cause.event_id,
            at: self.cause.at,
            target,
        });
    }

    pub(crate) fn stock(&mut self, stock_item_id: StockItemId, command: StockCommand) {
        self.issue(Target::Stock {
            stock_item_id,
            command,
        });
    }

    pub(crate) fn order(&mut self, order_id: OrderId, command: OrderCommand) {
        self.issue(Target::Order { order_id, command });
    }

    pub(crate) fn delivery(&mut self, delivery_id: DeliveryId, command: DeliveryCommand) {
        self.issue(Target::Delivery {
            delivery_id,
            command,
        });
    }

    pub(crate) fn into_commands(self) -> Vec<ProcessCommand> {
        self.commands
    }
}
