//! The `order` aggregate: a restaurant's order to one farmer, from placement to delivery.

mod aggregate;
mod commands;
mod error;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use aggregate::{MAX_LINES, Order};
pub use commands::{OrderCommand, PlaceOrder};
pub use error::OrderError;
