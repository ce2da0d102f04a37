//! The `stock` aggregate's state and decisions. PLACEHOLDER: replaced by the aggregate's author.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::StockEvent;
use serde::{Deserialize, Serialize};

use super::{StockCommand, StockError};
use crate::Issued;

/// The `stock` aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StockItem {}

impl Aggregate for StockItem {
    const TYPE: &'static str = "stock";
    type Command = Issued<StockCommand>;
    type Event = StockEvent;
    type Error = StockError;
    type Services = ();

    async fn handle(
        &mut self,
        _command: Self::Command,
        _services: &Self::Services,
        _sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Err(StockError::NotFound)
    }

    fn apply(&mut self, _event: Self::Event) {}
}
