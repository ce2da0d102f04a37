//! The `inspection` aggregate's state and decisions.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::values::{
    Actor, ActorId, InspectionId, Role, Score, Severity, StockItemId, ViolationCode, ViolationId,
};
use event_schemas::{
    InspectionEvent, InspectionFailed, InspectionPassed, InspectionScheduled, InspectionStarted,
    InspectionStatus, ViolationRecorded, ViolationResolved,
};
use serde::{Deserialize, Serialize};

use super::{InspectionCommand, InspectionError};
use crate::Issued;

/// An inspection of a farm; `Default` is an inspection not yet scheduled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Who, whom, when and where it stands; `None` until scheduled.
    plan: Option<Plan>,
    /// Every violation recorded, in recording order.
    violations: Vec<Violation>,
    /// The score given at completion.
    score: Option<Score>,
}

/// What scheduling fixed, and the status since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Plan {
    inspection_id: InspectionId,
    farmer_id: ActorId,
    inspector_id: ActorId,
    scheduled_for: DateTime<Utc>,
    status: InspectionStatus,
}

/// A violation recorded during the inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Violation {
    violation_id: ViolationId,
    code: ViolationCode,
    severity: Severity,
    stock_item_ids: Vec<StockItemId>,
    resolved: bool,
}

impl Inspection {
    /// Whether the inspection has been scheduled.
    pub fn exists(&self) -> bool {
        self.plan.is_some()
    }

    /// The inspection's id, once scheduled.
    pub fn id(&self) -> Option<InspectionId> {
        self.plan.as_ref().map(|p| p.inspection_id)
    }

    /// Where the inspection is in its life, once scheduled.
    pub fn status(&self) -> Option<InspectionStatus> {
        self.plan.as_ref().map(|p| p.status)
    }

    /// The farmer whose farm is inspected.
    pub fn farmer(&self) -> Option<&ActorId> {
        self.plan.as_ref().map(|p| &p.farmer_id)
    }

    /// The inspector assigned.
    pub fn inspector(&self) -> Option<&ActorId> {
        self.plan.as_ref().map(|p| &p.inspector_id)
    }

    /// When the inspection is planned for.
    pub fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.plan.as_ref().map(|p| p.scheduled_for)
    }

    /// The score given at completion.
    pub fn score(&self) -> Option<Score> {
        self.score
    }

    /// The open violations with their severity, in recording order.
    pub fn open_violations(&self) -> impl Iterator<Item = (ViolationId, Severity)> + '_ {
        self.violations
            .iter()
            .filter(|v| !v.resolved)
            .map(|v| (v.violation_id, v.severity))
    }

    /// The stock items named by the open critical violations, in recording order.
    pub fn open_critical_stock_items(&self) -> impl Iterator<Item = StockItemId> + '_ {
        self.violations
            .iter()
            .filter(|v| !v.resolved && v.severity == Severity::Critical)
            .flat_map(|v| v.stock_item_ids.iter().copied())
    }

    /// The ids of the open critical violations, in recording order.
    fn open_critical_violations(&self) -> Vec<ViolationId> {
        self.open_violations()
            .filter(|(_, severity)| *severity == Severity::Critical)
            .map(|(id, _)| id)
            .collect()
    }

    /// The violation recorded with this id.
    fn violation(&self, violation_id: ViolationId) -> Option<&Violation> {
        self.violations
            .iter()
            .find(|v| v.violation_id == violation_id)
    }

    /// The violation recorded with this id, to change.
    fn violation_mut(&mut self, violation_id: ViolationId) -> Option<&mut Violation> {
        self.violations
            .iter_mut()
            .find(|v| v.violation_id == violation_id)
    }

    /// Moves a scheduled inspection to `status`.
    fn set_status(&mut self, status: InspectionStatus) {
        if let Some(plan) = &mut self.plan {
            plan.status = status;
        }
    }

    /// The scheduled inspection, or `NotFound`.
    fn existing(&self) -> Result<&Plan, InspectionError> {
        self.plan.as_ref().ok_or(InspectionError::NotFound)
    }

    /// The event `command` produces in the current state, or why it is refused.
    fn decide(
        &self,
        Issued { by, at, command }: Issued<InspectionCommand>,
    ) -> Result<InspectionEvent, InspectionError> {
        if !matches!(by.role, Role::Inspector | Role::Admin) {
            return Err(InspectionError::RoleNotAllowed { role: by.role });
        }
        let name = command.name();
        match command {
            InspectionCommand::ScheduleInspection {
                inspection_id,
                farmer_id,
                inspector_id,
                scheduled_for,
            } => {
                if self.exists() {
                    return Err(InspectionError::AlreadyScheduled);
                }
                if !by.is_admin() && by.sub != inspector_id {
                    return Err(InspectionError::InspectorMismatch);
                }
                Ok(InspectionScheduled {
                    inspection_id,
                    farmer_id,
                    inspector_id,
                    scheduled_for,
                    scheduled_at: at,
                }
                .into())
            }
            InspectionCommand::StartInspection => {
                let plan = self.existing()?;
                ensure_assigned(&by, plan)?;
                ensure_status(plan, InspectionStatus::Scheduled, name)?;
                Ok(InspectionStarted { started_at: at }.into())
            }
            InspectionCommand::RecordViolation {
                violation_id,
                code,
                severity,
                description,
                stock_item_ids,
            } => {
                let plan = self.existing()?;
                ensure_assigned(&by, plan)?;
                ensure_status(plan, InspectionStatus::InProgress, name)?;
                if self.violation(violation_id).is_some() {
                    return Err(InspectionError::DuplicateViolation { violation_id });
                }
                Ok(ViolationRecorded {
                    violation_id,
                    farmer_id: plan.farmer_id.clone(),
                    code,
                    severity,
                    description,
                    stock_item_ids,
                    recorded_at: at,
                }
                .into())
            }
            InspectionCommand::CompleteInspection { score, notes } => {
                let plan = self.existing()?;
                ensure_assigned(&by, plan)?;
                ensure_status(plan, InspectionStatus::InProgress, name)?;
                let farmer_id = plan.farmer_id.clone();
                let open_critical_violations = self.open_critical_violations();
                if open_critical_violations.is_empty() && score >= Score::PASSING {
                    Ok(InspectionPassed {
                        farmer_id,
                        score,
                        notes,
                        completed_at: at,
                    }
                    .into())
                } else {
                    Ok(InspectionFailed {
                        farmer_id,
                        score,
                        notes,
                        open_critical_violations,
                        completed_at: at,
                    }
                    .into())
                }
            }
            InspectionCommand::ResolveViolation {
                violation_id,
                resolution,
            } => {
                // Any inspector may resolve, in any status: a SCHEDULED inspection has no
                // violation yet, so the lookup refuses it.
                self.existing()?;
                let violation = self
                    .violation(violation_id)
                    .ok_or(InspectionError::UnknownViolation { violation_id })?;
                if violation.resolved {
                    return Err(InspectionError::AlreadyResolved { violation_id });
                }
                Ok(ViolationResolved {
                    violation_id,
                    severity: violation.severity,
                    resolution,
                    resolved_at: at,
                }
                .into())
            }
        }
    }
}

/// Refuses an inspector other than the assigned one; admins pass.
fn ensure_assigned(by: &Actor, plan: &Plan) -> Result<(), InspectionError> {
    if by.is_admin() || by.sub == plan.inspector_id {
        Ok(())
    } else {
        Err(InspectionError::NotAssignedInspector)
    }
}

/// Refuses `command` unless the inspection is in `required` status.
fn ensure_status(
    plan: &Plan,
    required: InspectionStatus,
    command: &'static str,
) -> Result<(), InspectionError> {
    if plan.status == required {
        Ok(())
    } else {
        Err(InspectionError::InvalidTransition {
            from: plan.status,
            command: command.into(),
        })
    }
}

impl Aggregate for Inspection {
    const TYPE: &'static str = "inspection";
    type Command = Issued<InspectionCommand>;
    type Event = InspectionEvent;
    type Error = InspectionError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            InspectionEvent::InspectionScheduled(e) => {
                self.plan = Some(Plan {
                    inspection_id: e.inspection_id,
                    farmer_id: e.farmer_id,
                    inspector_id: e.inspector_id,
                    scheduled_for: e.scheduled_for,
                    status: InspectionStatus::Scheduled,
                });
            }
            InspectionEvent::InspectionStarted(_) => self.set_status(InspectionStatus::InProgress),
            InspectionEvent::ViolationRecorded(e) => self.violations.push(Violation {
                violation_id: e.violation_id,
                code: e.code,
                severity: e.severity,
                stock_item_ids: e.stock_item_ids,
                resolved: false,
            }),
            InspectionEvent::ViolationResolved(e) => {
                if let Some(violation) = self.violation_mut(e.violation_id) {
                    violation.resolved = true;
                }
            }
            InspectionEvent::InspectionPassed(e) => {
                self.score = Some(e.score);
                self.set_status(InspectionStatus::Passed);
            }
            InspectionEvent::InspectionFailed(e) => {
                self.score = Some(e.score);
                self.set_status(InspectionStatus::Failed);
            }
        }
    }
}
