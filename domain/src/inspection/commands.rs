//! What may be asked of an inspection.

use chrono::{DateTime, Utc};
use event_schemas::values::{
    ActorId, Description, InspectionId, Notes, Resolution, Score, Severity, StockItemId,
    ViolationCode, ViolationId,
};

/// A command to the `inspection` aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum InspectionCommand {
    /// Plan an inspection of a farm (admin; an inspector for itself).
    ScheduleInspection {
        /// The new inspection's id.
        inspection_id: InspectionId,
        /// The farm's farmer.
        farmer_id: ActorId,
        /// The inspector assigned.
        inspector_id: ActorId,
        /// When it is planned for.
        scheduled_for: DateTime<Utc>,
    },
    /// Start it (the assigned inspector, admin).
    StartInspection,
    /// Record a violation found (the assigned inspector, admin).
    RecordViolation {
        /// The new violation's id (made by the caller).
        violation_id: ViolationId,
        /// The rule violated.
        code: ViolationCode,
        /// How serious.
        severity: Severity,
        /// What was found.
        description: Description,
        /// The stock items concerned.
        stock_item_ids: Vec<StockItemId>,
    },
    /// Finish it with a score: passed, or failed below 70 or with a critical violation open
    /// (the assigned inspector, admin).
    CompleteInspection {
        /// The score given.
        score: Score,
        /// Notes, if any.
        notes: Option<Notes>,
    },
    /// Resolve an open violation (any inspector, admin).
    ResolveViolation {
        /// The violation.
        violation_id: ViolationId,
        /// How it was resolved.
        resolution: Resolution,
    },
}

impl InspectionCommand {
    /// The command's name, as recorded in event metadata.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::ScheduleInspection { .. } => "ScheduleInspection",
            Self::StartInspection => "StartInspection",
            Self::RecordViolation { .. } => "RecordViolation",
            Self::CompleteInspection { .. } => "CompleteInspection",
            Self::ResolveViolation { .. } => "ResolveViolation",
        }
    }
}
