//! Closed vocabularies of the catalogue and of inspections.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of produce a stock item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Vegetables.
    Vegetables,
    /// Fruits.
    Fruits,
    /// Fresh herbs.
    Herbs,
    /// Milk, cheese and other dairy.
    Dairy,
    /// Grains and flours.
    Grains,
    /// Eggs.
    Eggs,
    /// Meat.
    Meat,
}

/// The unit a stock item's quantities count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Kilograms.
    Kg,
    /// Single pieces.
    Piece,
    /// Liters.
    Liter,
    /// Dozens.
    Dozen,
    /// Bunches.
    Bunch,
}

/// The quality grade a farmer gives a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum QualityGrade {
    /// Best quality.
    A,
    /// Good quality.
    B,
    /// Acceptable quality.
    C,
}

/// How serious an inspection violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Noted; does not fail an inspection by itself.
    Minor,
    /// Serious; does not fail an inspection by itself.
    Major,
    /// Quarantines the stock items it names and fails the inspection while open.
    Critical,
}
