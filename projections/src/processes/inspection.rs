//! The inspection process on the runtime: a critical violation quarantines the items it
//! names, a passed inspection of the farm releases what the process quarantined. One instance
//! per farm.

use async_trait::async_trait;
use domain::process::{InspectionProcess, Target};
use domain::stock::{StockCommand, StockError};
use event_schemas::values::InspectionId;
use event_store::ExecuteError;

use super::issue::{Causes, Issuer, Outcome};
use super::manager::{Process, Stuck, state_row};
use crate::event::{Body, Event};

state_row! {
    /// The inspection process's state of one farm.
    InspectionProcessRow in "inspection_process"
}

/// The inspection process.
#[derive(Debug)]
pub struct InspectionFlow;

#[async_trait]
impl Process for InspectionFlow {
    const NAME: &'static str = "inspection-process";
    const VERSION: i64 = 1;
    type State = InspectionProcess;
    type Row = InspectionProcessRow;

    fn key(event: &Event) -> Option<String> {
        match &event.body {
            Body::Inspection(e) => InspectionProcess::farm_of(e).map(|farm| farm.to_string()),
            _ => None,
        }
    }

    async fn react(
        state: &mut InspectionProcess,
        event: &Event,
        causes: Causes,
        issuer: &Issuer,
    ) -> Result<(), Stuck> {
        let Body::Inspection(inspection) = &event.body else {
            return Ok(());
        };
        let Ok(inspection_id) = event.aggregate_id.parse::<InspectionId>() else {
            return Err(Stuck(format!(
                "the inspection id `{}` is not a UUID",
                event.aggregate_id
            )));
        };
        let cause = causes.cause();
        // What the process held before this event: an item it quarantined earlier and finds
        // still quarantined stays its own.
        let held_before: Vec<_> = state.quarantined().collect();
        for command in state.handle(cause, inspection_id, inspection) {
            let outcome = issuer.issue(&command, causes).await;
            let Target::Stock {
                stock_item_id,
                command: asked,
            } = &command.target
            else {
                if let Some(error) = outcome.error() {
                    return Err(Stuck::refused(&command, &error));
                }
                continue;
            };
            let Outcome::Stock(answer) = &outcome else {
                continue;
            };
            match (asked, answer) {
                // The stock aggregate refused (and recorded) a quarantine of another farm's
                // item. A replayed command carries no events, so this rests on the owner,
                // which never changes.
                (StockCommand::QuarantineStock { .. }, Ok(_)) => {
                    let owner = issuer
                        .owner_of(*stock_item_id)
                        .await
                        .map_err(|e| Stuck(format!("cannot read stock/{stock_item_id}: {e}")))?;
                    if owner.as_ref().map(ToString::to_string) != Self::key(event) {
                        tracing::warn!(
                            stock_item = %stock_item_id,
                            inspection = %inspection_id,
                            "the violation named another farm's stock item: its quarantine was \
                             refused"
                        );
                        state.quarantine_not_taken(*stock_item_id);
                    }
                }
                // Quarantined already by the process's earlier violation: still its own.
                (
                    StockCommand::QuarantineStock { .. },
                    Err(ExecuteError::Rejected(StockError::AlreadyQuarantined)),
                ) if held_before.contains(stock_item_id) => {}
                // Someone else quarantined it before, or it does not exist: not the
                // process's to release later.
                (
                    StockCommand::QuarantineStock { .. },
                    Err(ExecuteError::Rejected(
                        StockError::AlreadyQuarantined | StockError::NotFound,
                    )),
                ) => state.quarantine_not_taken(*stock_item_id),
                // Someone released it before.
                (
                    StockCommand::ReleaseQuarantine { .. },
                    Err(ExecuteError::Rejected(StockError::NotQuarantined | StockError::NotFound)),
                ) => {}
                _ => {
                    if let Some(error) = outcome.error() {
                        return Err(Stuck::refused(&command, &error));
                    }
                }
            }
        }
        Ok(())
    }
}
