//! The `purchase` aggregate's state and decisions. PLACEHOLDER: replaced by the aggregate's author.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::PurchaseEvent;
use serde::{Deserialize, Serialize};

use super::PurchaseServices;
use super::{PurchaseCommand, PurchaseError};
use crate::Issued;

/// The `purchase` aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Purchase {}

impl Aggregate for Purchase {
    const TYPE: &'static str = "purchase";
    type Command = Issued<PurchaseCommand>;
    type Event = PurchaseEvent;
    type Error = PurchaseError;
    type Services = PurchaseServices;

    async fn handle(
        &mut self,
        _command: Self::Command,
        _services: &Self::Services,
        _sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Err(PurchaseError::NotFound)
    }

    fn apply(&mut self, _event: Self::Event) {}
}
