//! supplyline's domain: the five aggregates (stock, order, delivery, inspection, purchase) on
//! cqrs-es, their commands, business rules and errors, and the pure decisions of the process
//! managers that connect them. No I/O, no clock: time and the actor come in with each command
//! ([`Issued`]), outside facts through service traits.

mod issued;
mod refusal;

pub mod delivery;
pub mod inspection;
pub mod order;
pub mod process;
pub mod purchase;
pub mod stock;

pub use issued::Issued;
pub use refusal::{Refusal, RefusalKind};

pub use event_schemas::values;
