//! The `order` aggregate's state and decisions. PLACEHOLDER: replaced by the aggregate's author.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::OrderEvent;
use serde::{Deserialize, Serialize};

use super::{OrderCommand, OrderError};
use crate::Issued;

/// The `order` aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {}

impl Aggregate for Order {
    const TYPE: &'static str = "order";
    type Command = Issued<OrderCommand>;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(
        &mut self,
        _command: Self::Command,
        _services: &Self::Services,
        _sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Err(OrderError::NotFound)
    }

    fn apply(&mut self, _event: Self::Event) {}
}
