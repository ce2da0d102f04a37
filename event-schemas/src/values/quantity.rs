//! Quantities of a stock item, in the item's unit.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The largest quantity the product handles; far above any real lot, low enough that sums of
/// many quantities never overflow and stay exact in JSON numbers.
pub const MAX_QUANTITY: u64 = 1_000_000_000_000;

/// A non-negative quantity (an on-hand or reserved level, a threshold).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u64", into = "u64")]
pub struct Quantity(u64);

impl Quantity {
    /// No units at all.
    pub const ZERO: Self = Self(0);

    /// Checks that `n` is within the product's bounds.
    pub fn new(n: u64) -> Result<Self, InvalidValue> {
        if n > MAX_QUANTITY {
            return Err(InvalidValue(format!(
                "quantity must be at most {MAX_QUANTITY}"
            )));
        }
        Ok(Self(n))
    }

    /// The number of units.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` past [`MAX_QUANTITY`].
    pub fn checked_add(self, other: Self) -> Option<Self> {
        Self::new(self.0.checked_add(other.0)?).ok()
    }

    /// `self - other`, or `None` below zero.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    /// `self - other`, stopping at zero.
    pub fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// `self + delta`, or `None` below zero or past [`MAX_QUANTITY`].
    pub fn checked_apply(self, delta: QuantityDelta) -> Option<Self> {
        let n = i128::from(self.0) + i128::from(delta.0);
        u64::try_from(n).ok().and_then(|n| Self::new(n).ok())
    }
}

impl TryFrom<u64> for Quantity {
    type Error = InvalidValue;

    fn try_from(n: u64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Quantity> for u64 {
    fn from(q: Quantity) -> Self {
        q.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 0, "maximum": MAX_QUANTITY })
    }
}

/// A strictly positive quantity: what a command moves (receives, reserves, orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct PositiveQuantity(Quantity);

impl PositiveQuantity {
    /// Checks that `n` is at least one and within the product's bounds.
    pub fn new(n: u64) -> Result<Self, InvalidValue> {
        if n == 0 {
            return Err(InvalidValue("quantity must be at least 1".into()));
        }
        Quantity::new(n).map(Self)
    }

    /// The same amount as a plain quantity.
    pub const fn quantity(self) -> Quantity {
        self.0
    }

    /// The number of units.
    pub const fn get(self) -> u64 {
        self.0.0
    }
}

impl From<PositiveQuantity> for Quantity {
    fn from(q: PositiveQuantity) -> Self {
        q.0
    }
}

impl TryFrom<u64> for PositiveQuantity {
    type Error = InvalidValue;

    fn try_from(n: u64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<PositiveQuantity> for u64 {
    fn from(q: PositiveQuantity) -> Self {
        q.get()
    }
}

impl fmt::Display for PositiveQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for PositiveQuantity {
    fn schema_name() -> Cow<'static, str> {
        "PositiveQuantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 1, "maximum": MAX_QUANTITY })
    }
}

/// A non-zero signed change of a quantity (a stock adjustment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct QuantityDelta(i64);

impl QuantityDelta {
    /// Checks that `n` is non-zero and its size within the product's bounds.
    pub fn new(n: i64) -> Result<Self, InvalidValue> {
        if n == 0 {
            return Err(InvalidValue("delta must not be zero".into()));
        }
        if n.unsigned_abs() > MAX_QUANTITY {
            return Err(InvalidValue(format!(
                "delta must be between -{MAX_QUANTITY} and {MAX_QUANTITY}"
            )));
        }
        Ok(Self(n))
    }

    /// The signed number of units.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for QuantityDelta {
    type Error = InvalidValue;

    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<QuantityDelta> for i64 {
    fn from(d: QuantityDelta) -> Self {
        d.0
    }
}

impl fmt::Display for QuantityDelta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for QuantityDelta {
    fn schema_name() -> Cow<'static, str> {
        "QuantityDelta".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": -(MAX_QUANTITY as i64),
            "maximum": MAX_QUANTITY,
            "not": { "const": 0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_positive_quantity_refuses_zero() {
        assert!(PositiveQuantity::new(0).is_err());
        assert_eq!(PositiveQuantity::new(3).unwrap().get(), 3);
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::new(MAX_QUANTITY).is_ok());
        assert!(Quantity::new(MAX_QUANTITY + 1).is_err());
        assert!(serde_json::from_str::<Quantity>("-1").is_err());
    }

    #[test]
    fn applying_a_delta_never_goes_below_zero() {
        let q = Quantity::new(5).unwrap();
        assert_eq!(
            q.checked_apply(QuantityDelta::new(-5).unwrap()),
            Some(Quantity::ZERO)
        );
        assert_eq!(q.checked_apply(QuantityDelta::new(-6).unwrap()), None);
    }

    #[test]
    fn a_zero_delta_is_refused() {
        assert!(QuantityDelta::new(0).is_err());
    }
}
