//! Why the `inspection` aggregate refuses a command.

use std::borrow::Cow;

use event_schemas::InspectionStatus;
use event_schemas::values::{Role, ViolationId};
use serde::{Deserialize, Serialize};

use crate::{Refusal, RefusalKind};

/// A refused `inspection` command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum InspectionError {
    /// The actor's role may not issue inspection commands (only inspectors and admins may).
    #[error("the {role} role may not issue inspection commands")]
    RoleNotAllowed {
        /// The actor's role.
        role: Role,
    },
    /// No inspection with this id has been scheduled.
    #[error("inspection not found")]
    NotFound,
    /// An inspection with this id is already scheduled.
    #[error("an inspection with this id is already scheduled")]
    AlreadyScheduled,
    /// An inspector tried to schedule an inspection assigned to another inspector.
    #[error("an inspector may only schedule inspections assigned to itself")]
    InspectorMismatch,
    /// An inspector other than the assigned one tried to work on the inspection.
    #[error("only the inspector assigned to this inspection may do this")]
    NotAssignedInspector,
    /// The command is not allowed in the inspection's current status.
    #[error("{command} is not allowed while the inspection is {}", label(*.from))]
    InvalidTransition {
        /// The inspection's current status.
        from: InspectionStatus,
        /// The refused command's name.
        command: Cow<'static, str>,
    },
    /// A violation with this id was already recorded on the inspection.
    #[error("violation {violation_id} is already recorded")]
    DuplicateViolation {
        /// The violation's id.
        violation_id: ViolationId,
    },
    /// The inspection has no violation with this id.
    #[error("violation {violation_id} is not recorded on this inspection")]
    UnknownViolation {
        /// The violation's id.
        violation_id: ViolationId,
    },
    /// The violation is already resolved.
    #[error("violation {violation_id} is already resolved")]
    AlreadyResolved {
        /// The violation's id.
        violation_id: ViolationId,
    },
}

/// How a status reads in a message.
fn label(status: InspectionStatus) -> &'static str {
    match status {
        InspectionStatus::Scheduled => "scheduled",
        InspectionStatus::InProgress => "in progress",
        InspectionStatus::Passed => "passed",
        InspectionStatus::Failed => "failed",
    }
}

impl Refusal for InspectionError {
    fn kind(&self) -> RefusalKind {
        match self {
            Self::NotFound | Self::UnknownViolation { .. } => RefusalKind::NotFound,
            Self::RoleNotAllowed { .. } | Self::InspectorMismatch | Self::NotAssignedInspector => {
                RefusalKind::Forbidden
            }
            Self::AlreadyScheduled
            | Self::InvalidTransition { .. }
            | Self::DuplicateViolation { .. }
            | Self::AlreadyResolved { .. } => RefusalKind::Conflict,
        }
    }
}
