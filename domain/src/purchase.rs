//! The `purchase` aggregate: restocking a stock item from a supplier through a carrier.

mod aggregate;
mod commands;
mod error;
mod services;
#[cfg(test)]
mod tests;

pub use aggregate::Purchase;
pub use commands::PurchaseCommand;
pub use error::PurchaseError;
pub use services::{LookupUnavailable, PurchaseServices, StockItemOwners};
