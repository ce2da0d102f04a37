//! Why the `stock` aggregate refuses a command.

use event_schemas::values::{Quantity, QuantityDelta, Role};
use serde::{Deserialize, Serialize};

use crate::{Refusal, RefusalKind};

/// A refused `stock` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StockError {
    /// The actor's role may not issue this command at all.
    #[error("the {role} role may not issue this stock command")]
    RoleNotAllowed {
        /// The actor's role.
        role: Role,
    },
    /// No stock item with this id has been registered.
    #[error("stock item not found")]
    NotFound,
    /// A stock item with this id is already registered.
    #[error("a stock item with this id is already registered")]
    AlreadyRegistered,
    /// A farmer tried to register a stock item for another farmer.
    #[error("a farmer may only register stock items for itself")]
    FarmerMismatch,
    /// An admin registered a stock item without naming its farmer.
    #[error("an admin registering a stock item must name the farmer who owns it")]
    FarmerRequired,
    /// A farmer tried to manage another farmer's stock item.
    #[error("the stock item belongs to another farmer")]
    NotOwner,
    /// On hand would exceed the largest quantity the product handles.
    #[error("on hand would exceed the largest quantity handled")]
    QuantityOverflow,
    /// An adjustment would take on hand below what is reserved (or below zero).
    #[error(
        "adjusting on hand {on_hand} by {delta} would fall below the {reserved} units reserved"
    )]
    BelowReserved {
        /// Units on hand now.
        on_hand: Quantity,
        /// Units reserved now.
        reserved: Quantity,
        /// The adjustment asked for.
        delta: QuantityDelta,
    },
    /// The stock item is already quarantined.
    #[error("the stock item is already quarantined")]
    AlreadyQuarantined,
    /// The stock item is not quarantined, so there is nothing to release.
    #[error("the stock item is not quarantined")]
    NotQuarantined,
    /// A quarantine for an inspection named a stock item of another farm than the inspected
    /// one.
    #[error("the stock item belongs to another farm than the one inspected")]
    OtherFarm,
}

impl Refusal for StockError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
            Self::RoleNotAllowed { .. } | Self::FarmerMismatch | Self::NotOwner => {
                RefusalKind::Forbidden
            }
            Self::FarmerRequired => RefusalKind::Invalid,
            Self::AlreadyRegistered
            | Self::QuantityOverflow
            | Self::BelowReserved { .. }
            | Self::AlreadyQuarantined
            | Self::NotQuarantined
            | Self::OtherFarm => RefusalKind::Conflict,
        }
    }
}
