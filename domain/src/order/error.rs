//! Why the `order` aggregate refuses a command.

use std::borrow::Cow;

use event_schemas::OrderStatus;
use event_schemas::values::{DeliveryId, Role, StockItemId};
use serde::{Deserialize, Serialize};

use super::MAX_LINES;
use crate::{Refusal, RefusalKind};

/// A refused `order` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum OrderError {
    /// The actor's role may not issue this command.
    #[error("the {role} role may not issue this order command")]
    RoleNotAllowed {
        /// The actor's role.
        role: Role,
    },
    /// No such order.
    #[error("order not found")]
    NotFound,
    /// An order with this id was already placed.
    #[error("an order with this id already exists")]
    AlreadyPlaced,
    /// A restaurant tried to place an order for another customer.
    #[error("a restaurant may only place orders for itself")]
    CustomerMismatch,
    /// An admin placed an order without naming its customer.
    #[error("an order placed by an admin must name its customer")]
    CustomerRequired,
    /// The order has no lines.
    #[error("an order must have at least one line")]
    NoLines,
    /// The order has more lines than allowed.
    #[error("an order may have at most {MAX_LINES} lines, not {count}")]
    TooManyLines {
        /// How many lines were given.
        count: usize,
    },
    /// The same stock item appears on two lines.
    #[error("stock item {stock_item_id} appears on more than one line")]
    DuplicateLine {
        /// The repeated stock item.
        stock_item_id: StockItemId,
    },
    /// The priced lines do not match the placed lines or a line total is not price x quantity.
    #[error(
        "the priced lines must name the placed stock items and quantities, each line total being unit price times quantity"
    )]
    PricedLinesMismatch,
    /// The sum of the line totals exceeds the largest amount handled.
    #[error("the order total exceeds the largest amount handled")]
    TotalOverflow,
    /// A restaurant tried to cancel another customer's order.
    #[error("only the order's customer may cancel it")]
    NotCustomer,
    /// A farmer tried to act on an order placed with another farmer.
    #[error("only the farmer the order is placed with may do this")]
    NotOrderFarmer,
    /// Cancelling an order that is in transit or delivered.
    #[error("cannot cancel once in transit (the order is {})", label(*status))]
    AlreadyInTransit {
        /// The order's status.
        status: OrderStatus,
    },
    /// Cancelling an order that is already cancelled or rejected.
    #[error("the order is already closed ({})", label(*status))]
    AlreadyClosed {
        /// The order's status.
        status: OrderStatus,
    },
    /// A delivery failed that is not the one carrying the order in transit.
    #[error("delivery {delivery_id} is not the one carrying the order")]
    NotCarryingDelivery {
        /// The delivery said to have failed.
        delivery_id: DeliveryId,
    },
    /// The command does not apply to an order in this status.
    #[error("{command} does not apply to an order that is {}", label(*from))]
    InvalidTransition {
        /// The order's status.
        from: OrderStatus,
        /// The refused command's name.
        command: Cow<'static, str>,
    },
}

/// The status as API.md spells it.
const fn label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "PENDING",
        OrderStatus::Confirmed => "CONFIRMED",
        OrderStatus::Rejected => "REJECTED",
        OrderStatus::Cancelled => "CANCELLED",
        OrderStatus::Preparing => "PREPARING",
        OrderStatus::ReadyForPickup => "READY_FOR_PICKUP",
        OrderStatus::InTransit => "IN_TRANSIT",
        OrderStatus::Delivered => "DELIVERED",
    }
}

impl Refusal for OrderError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
            Self::RoleNotAllowed { .. }
            | Self::CustomerMismatch
            | Self::NotCustomer
            | Self::NotOrderFarmer => RefusalKind::Forbidden,
            Self::AlreadyPlaced
            | Self::AlreadyInTransit { .. }
            | Self::AlreadyClosed { .. }
            | Self::NotCarryingDelivery { .. }
            | Self::InvalidTransition { .. } => RefusalKind::Conflict,
            Self::CustomerRequired
            | Self::NoLines
            | Self::TooManyLines { .. }
            | Self::DuplicateLine { .. }
            | Self::PricedLinesMismatch
            | Self::TotalOverflow => RefusalKind::Invalid,
        }
    }
}
