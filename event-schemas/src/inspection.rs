//! Events of the `inspection` aggregate: an inspector's audit of a farm.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalog::events;
use crate::values::{
    ActorId, Description, InspectionId, Notes, Resolution, Score, Severity, StockItemId,
    ViolationCode, ViolationId,
};

events! {
    /// Everything that happens to an inspection.
    pub enum InspectionEvent for "inspection" {
        InspectionScheduled => "1.0.0",
        InspectionStarted => "1.0.0",
        ViolationRecorded => "1.0.0",
        ViolationResolved => "1.0.0",
        InspectionPassed => "1.0.0",
        InspectionFailed => "1.0.0",
    }
}

/// Where an inspection is in its life (API.md "Inspections").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InspectionStatus {
    /// Planned.
    Scheduled,
    /// The inspector is on the farm.
    InProgress,
    /// Completed with a score of at least 70 and no open critical violation.
    Passed,
    /// Completed otherwise.
    Failed,
}

/// An inspection of a farm was planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InspectionScheduled {
    /// The new inspection.
    pub inspection_id: InspectionId,
    /// The farm (its farmer) inspected.
    pub farmer_id: ActorId,
    /// The inspector assigned.
    pub inspector_id: ActorId,
    /// When it is planned for.
    pub scheduled_for: DateTime<Utc>,
    /// When it was scheduled.
    pub scheduled_at: DateTime<Utc>,
}

/// The inspector started the inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InspectionStarted {
    /// When.
    pub started_at: DateTime<Utc>,
}

/// The inspector recorded a violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ViolationRecorded {
    /// The new violation.
    pub violation_id: ViolationId,
    /// The farm it concerns.
    pub farmer_id: ActorId,
    /// The rule violated.
    pub code: ViolationCode,
    /// How serious it is; a critical one quarantines `stock_item_ids`.
    pub severity: Severity,
    /// What was found.
    pub description: Description,
    /// The stock items concerned.
    pub stock_item_ids: Vec<StockItemId>,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

/// A violation was resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ViolationResolved {
    /// The violation.
    pub violation_id: ViolationId,
    /// Its severity, so read models need not look it up.
    pub severity: Severity,
    /// How it was resolved.
    pub resolution: Resolution,
    /// When.
    pub resolved_at: DateTime<Utc>,
}

/// The inspection was completed and passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InspectionPassed {
    /// The farm inspected.
    pub farmer_id: ActorId,
    /// The score given.
    pub score: Score,
    /// The inspector's notes.
    pub notes: Option<Notes>,
    /// When.
    pub completed_at: DateTime<Utc>,
}

/// The inspection was completed and failed (score below 70 or a critical violation open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InspectionFailed {
    /// The farm inspected.
    pub farmer_id: ActorId,
    /// The score given.
    pub score: Score,
    /// The inspector's notes.
    pub notes: Option<Notes>,
    /// The critical violations still open at completion.
    pub open_critical_violations: Vec<ViolationId>,
    /// When.
    pub completed_at: DateTime<Utc>,
}
