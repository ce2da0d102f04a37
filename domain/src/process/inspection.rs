//! The inspection process: a critical violation quarantines the stock items it names; a later
//! passed inspection of the same farm releases them.

use std::collections::BTreeMap;

use event_schemas::InspectionEvent;
use event_schemas::values::{InspectionId, Reason, Severity, StockItemId};
use serde::{Deserialize, Serialize};

use super::command::{Cause, Decision, ProcessCommand};
use crate::stock::StockCommand;

/// The process's name, the `sub` of the system actor issuing its commands.
const PROCESS: &str = "inspection-process";

/// The inspection process's state for one farm: the stock items it quarantined and which
/// inspection found each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InspectionProcess {
    quarantined: BTreeMap<StockItemId, InspectionId>,
}

impl InspectionProcess {
    /// The farm (farmer id) an event concerns, so the runtime loads the right process state;
    /// `None` for events the process ignores.
    pub fn farm_of(event: &InspectionEvent) -> Option<&event_schemas::values::ActorId> {
        match event {
            InspectionEvent::ViolationRecorded(e) => Some(&e.farmer_id),
            InspectionEvent::InspectionPassed(e) => Some(&e.farmer_id),
            _ => None,
        }
    }

    /// Reacts to one event of inspection `inspection_id` and returns the commands to issue.
    pub fn handle(
        &mut self,
        cause: Cause,
        inspection_id: InspectionId,
        event: &InspectionEvent,
    ) -> Vec<ProcessCommand> {
        let mut decision = Decision::new(PROCESS, cause);
        match event {
            InspectionEvent::ViolationRecorded(v) if v.severity == Severity::Critical => {
                for &stock_item_id in &v.stock_item_ids {
                    // Asked again for a new inspection's violation even if held from an
                    // earlier one: someone may have released it since. (Its key makes a
                    // repeat of this same event harmless.)
                    if self.quarantined.get(&stock_item_id) == Some(&inspection_id) {
                        continue;
                    }
                    self.quarantined.insert(stock_item_id, inspection_id);
                    decision.stock(
                        stock_item_id,
                        StockCommand::QuarantineStock {
                            reason: Reason::system(&format!(
                                "critical violation {} found by inspection {inspection_id}",
                                v.code
                            )),
                            inspection_id: Some(inspection_id),
                            // The stock item refuses a violation naming another farm's item.
                            inspected_farmer_id: Some(v.farmer_id.clone()),
                        },
                    );
                }
            }
            InspectionEvent::InspectionPassed(_) => {
                for stock_item_id in std::mem::take(&mut self.quarantined).into_keys() {
                    decision.stock(
                        stock_item_id,
                        StockCommand::ReleaseQuarantine {
                            reason: Reason::system(&format!(
                                "inspection {inspection_id} of the farm passed"
                            )),
                            inspection_id: Some(inspection_id),
                        },
                    );
                }
            }
            _ => {}
        }
        decision.into_commands()
    }

    /// Forgets that the process holds `stock_item_id` in quarantine: its `QuarantineStock` was
    /// refused (answered `StockQuarantineRefused`, or the item was quarantined by someone
    /// else already), so a later passed inspection must not release a quarantine this process
    /// did not make.
    pub fn quarantine_not_taken(&mut self, stock_item_id: StockItemId) {
        self.quarantined.remove(&stock_item_id);
    }

    /// The stock items this process holds in quarantine for the farm.
    pub fn quarantined(&self) -> impl Iterator<Item = StockItemId> + '_ {
        self.quarantined.keys().copied()
    }
}

#[cfg(test)]
mod tests;
