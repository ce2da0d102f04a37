//! The `inspection` aggregate's state and decisions. PLACEHOLDER: replaced by the aggregate's author.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::InspectionEvent;
use serde::{Deserialize, Serialize};

use super::{InspectionCommand, InspectionError};
use crate::Issued;

/// The `inspection` aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inspection {}

impl Aggregate for Inspection {
    const TYPE: &'static str = "inspection";
    type Command = Issued<InspectionCommand>;
    type Event = InspectionEvent;
    type Error = InspectionError;
    type Services = ();

    async fn handle(
        &mut self,
        _command: Self::Command,
        _services: &Self::Services,
        _sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Err(InspectionError::NotFound)
    }

    fn apply(&mut self, _event: Self::Event) {}
}
