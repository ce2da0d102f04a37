//! Why the `delivery` aggregate refuses a command.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use event_schemas::DeliveryStatus;
use event_schemas::values::Role;
use serde::{Deserialize, Serialize};

use crate::{Refusal, RefusalKind};

/// A refused `delivery` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum DeliveryError {
    /// The actor's role may not issue this command.
    #[error("the {role} role may not issue this delivery command")]
    RoleNotAllowed {
        /// The actor's role.
        role: Role,
    },
    /// No such delivery.
    #[error("delivery not found")]
    NotFound,
    /// A delivery with this id was already scheduled.
    #[error("this delivery is already scheduled")]
    AlreadyScheduled,
    /// The delivery window does not end after it starts.
    #[error("the delivery window must end after it starts")]
    InvalidWindow,
    /// A distributor tried to assign someone other than itself.
    #[error("a distributor may only assign itself as the driver")]
    DriverMismatch,
    /// An admin assigned a driver without naming one.
    #[error("an admin must name the driver to assign")]
    DriverRequired,
    /// The delivery already has a driver.
    #[error("this delivery already has a driver")]
    AlreadyAssigned,
    /// The actor is a distributor but not the delivery's assigned driver.
    #[error("only the delivery's assigned driver may do this")]
    NotAssignedDriver,
    /// The location is not later than the last one recorded.
    #[error("a location must be recorded after the last one, recorded at {last_recorded_at}")]
    StaleLocation {
        /// When the last recorded location was taken.
        last_recorded_at: DateTime<Utc>,
    },
    /// The command is not allowed in the delivery's current status.
    #[error("{command} is not allowed on a delivery that is {}", status_label(*.from))]
    InvalidTransition {
        /// The delivery's status.
        from: DeliveryStatus,
        /// The refused command's name ([`super::DeliveryCommand::name`]).
        command: Cow<'static, str>,
    },
}

/// A status as a client reads it in a message.
const fn status_label(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Scheduled => "scheduled",
        DeliveryStatus::Assigned => "assigned",
        DeliveryStatus::InTransit => "in transit",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

impl Refusal for DeliveryError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound => RefusalKind::NotFound,
            Self::RoleNotAllowed { .. } | Self::DriverMismatch | Self::NotAssignedDriver => {
                RefusalKind::Forbidden
            }
            Self::AlreadyScheduled
            | Self::AlreadyAssigned
            | Self::StaleLocation { .. }
            | Self::InvalidTransition { .. } => RefusalKind::Conflict,
            Self::InvalidWindow | Self::DriverRequired => RefusalKind::Invalid,
        }
    }
}
