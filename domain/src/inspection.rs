//! The `inspection` aggregate: an inspector's audit of a farm, its violations and verdict.

mod aggregate;
mod commands;
mod error;
#[cfg(test)]
mod tests;

pub use aggregate::Inspection;
pub use commands::InspectionCommand;
pub use error::InspectionError;
