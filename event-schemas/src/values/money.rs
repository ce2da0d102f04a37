//! Money, always in integer cents.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::{InvalidValue, Quantity};

/// The largest amount handled: ten billion in the currency's units.
pub const MAX_CENTS: u64 = 1_000_000_000_000;

/// A non-negative amount of money in cents (prices, costs, totals).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "u64", into = "u64")]
pub struct Cents(u64);

impl Cents {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// Checks that `n` is within the product's bounds.
    pub fn new(n: u64) -> Result<Self, InvalidValue> {
        if n > MAX_CENTS {
            return Err(InvalidValue(format!(
                "amount must be at most {MAX_CENTS} cents"
            )));
        }
        Ok(Self(n))
    }

    /// The number of cents.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self * quantity`, or `None` past the bounds.
    pub fn times(self, quantity: Quantity) -> Option<Self> {
        Self::new(self.0.checked_mul(quantity.get())?).ok()
    }

    /// `self + other`, or `None` past the bounds.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        Self::new(self.0.checked_add(other.0)?).ok()
    }
}

impl TryFrom<u64> for Cents {
    type Error = InvalidValue;

    fn try_from(n: u64) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<Cents> for u64 {
    fn from(c: Cents) -> Self {
        c.0
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for Cents {
    fn schema_name() -> Cow<'static, str> {
        "Cents".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": 0, "maximum": MAX_CENTS })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_times_a_quantity_is_a_line_total() {
        let total = Cents::new(250).unwrap().times(Quantity::new(4).unwrap());
        assert_eq!(total, Some(Cents::new(1000).unwrap()));
    }

    #[test]
    fn overflowing_totals_are_refused() {
        let price = Cents::new(MAX_CENTS).unwrap();
        assert_eq!(price.times(Quantity::new(2).unwrap()), None);
    }
}
