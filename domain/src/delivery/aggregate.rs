//! The `delivery` aggregate's state and decisions. PLACEHOLDER: replaced by the aggregate's author.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_schemas::DeliveryEvent;
use serde::{Deserialize, Serialize};

use super::{DeliveryCommand, DeliveryError};
use crate::Issued;

/// The `delivery` aggregate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {}

impl Aggregate for Delivery {
    const TYPE: &'static str = "delivery";
    type Command = Issued<DeliveryCommand>;
    type Event = DeliveryEvent;
    type Error = DeliveryError;
    type Services = ();

    async fn handle(
        &mut self,
        _command: Self::Command,
        _services: &Self::Services,
        _sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        Err(DeliveryError::NotFound)
    }

    fn apply(&mut self, _event: Self::Event) {}
}
