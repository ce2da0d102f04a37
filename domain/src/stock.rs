//! The `stock` aggregate: a lot of produce a farmer lists: levels, reservations per order, price, quarantine.

mod aggregate;
mod commands;
mod error;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use aggregate::StockItem;
pub use commands::{RegisterStockItem, StockCommand};
pub use error::StockError;
