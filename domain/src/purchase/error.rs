//! Why the `purchase` aggregate refuses a command.

use std::borrow::Cow;

use event_schemas::PurchaseStatus;
use event_schemas::values::{Role, StockItemId};
use serde::{Deserialize, Serialize};

use crate::{Refusal, RefusalKind};

/// A refused `purchase` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PurchaseError {
    /// The actor's role may not issue this command.
    #[error("the {role} role may not issue purchase commands")]
    RoleNotAllowed {
        /// The actor's role.
        role: Role,
    },
    /// No such purchase.
    #[error("purchase not found")]
    NotFound,
    /// A purchase with this id already exists.
    #[error("a purchase with this id already exists")]
    AlreadyCreated,
    /// The stock item named by the purchase does not exist.
    #[error("stock item {stock_item_id} does not exist")]
    UnknownStockItem {
        /// The stock item named.
        stock_item_id: StockItemId,
    },
    /// A farmer may only buy restock for its own stock items.
    #[error("only the stock item's owner may create a purchase for it")]
    NotStockItemOwner,
    /// A farmer may only act on its own purchases.
    #[error("only the purchase's owner may do this")]
    NotOwner,
    /// The stock items' owners could not be looked up; the command may be retried.
    #[error("stock item owners could not be looked up: {0}")]
    Unavailable(String),
    /// Unit cost times quantity exceeds the largest amount handled.
    #[error("the total cost (unit cost times quantity) exceeds the largest amount handled")]
    CostOverflow,
    /// The command is not allowed in the purchase's current status.
    #[error("{command} is not allowed on a purchase in status {}", status_name(*.from))]
    InvalidTransition {
        /// The purchase's current status.
        from: PurchaseStatus,
        /// The refused command's name.
        command: Cow<'static, str>,
    },
    /// A purchase whose goods were received can no longer be cancelled.
    #[error("the purchase's goods were received; it can no longer be cancelled")]
    AlreadyReceived,
    /// The purchase was already cancelled.
    #[error("the purchase is already cancelled")]
    AlreadyCancelled,
}

/// A status as clients see it (API.md's upper-case names).
const fn status_name(status: PurchaseStatus) -> &'static str {
    match status {
        PurchaseStatus::Received => "RECEIVED",
        PurchaseStatus::OrderRequested => "ORDER_REQUESTED",
        PurchaseStatus::ReserveDelivered => "RESERVE_DELIVERED",
        PurchaseStatus::Completed => "COMPLETED",
        PurchaseStatus::Cancelled => "CANCELLED",
    }
}

impl Refusal for PurchaseError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
            Self::RoleNotAllowed { .. } | Self::NotStockItemOwner | Self::NotOwner => {
                RefusalKind::Forbidden
            }
            Self::AlreadyCreated
            | Self::InvalidTransition { .. }
            | Self::AlreadyReceived
            | Self::AlreadyCancelled => RefusalKind::Conflict,
            Self::UnknownStockItem { .. } | Self::CostOverflow => RefusalKind::Invalid,
            Self::Unavailable(_) => RefusalKind::Unavailable,
        }
    }
}
