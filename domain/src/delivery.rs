//! The `delivery` aggregate: carrying an order from the farm to the restaurant.

mod aggregate;
mod commands;
mod error;
#[cfg(test)]
mod tests;

pub use aggregate::Delivery;
pub use commands::{DeliveryCommand, ScheduleDelivery};
pub use error::DeliveryError;
