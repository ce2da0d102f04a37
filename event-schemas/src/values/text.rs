//! Bounded, trimmed strings with a meaning: names, reasons, references.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// Trims `raw` and checks its length (in characters) and that it has no control characters
/// (line breaks and tabs allowed only where `multiline`).
pub(crate) fn bounded(
    what: &str,
    raw: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<String, InvalidValue> {
    let value = raw.trim();
    let len = value.chars().count();
    if len < min {
        return Err(InvalidValue(if min == 1 {
            format!("{what} must not be empty")
        } else {
            format!("{what} must have at least {min} characters")
        }));
    }
    if len > max {
        return Err(InvalidValue(format!(
            "{what} must have at most {max} characters"
        )));
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
    if !value.chars().all(allowed) {
        return Err(InvalidValue(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(value.to_owned())
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $what:literal, $min:literal ..= $max:literal $(, $multiline:literal)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a raw string: trimmed, then checked for length and control characters.
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                bounded($what, raw, $min, $max, false $(|| $multiline)?).map(Self)
            }

            /// The text itself.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;

            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "minLength": $min,
                    "maxLength": $max,
                })
            }
        }
    };
}

bounded_text!(
    /// The name of a product as the farmer lists it, e.g. "Heirloom tomatoes".
    ProductName, "product name", 1..=200
);
bounded_text!(
    /// Why something was done (an adjustment, a cancellation, a quarantine...).
    Reason, "reason", 1..=500, true
);
bounded_text!(
    /// Free notes attached to an order or an inspection.
    Notes, "notes", 0..=2000, true
);
bounded_text!(
    /// The description of an inspection violation.
    Description, "description", 1..=2000, true
);
bounded_text!(
    /// How a violation was resolved.
    Resolution, "resolution", 1..=2000, true
);
bounded_text!(
    /// A certification a stock item holds, e.g. "organic".
    Certification, "certification", 1..=100
);
bounded_text!(
    /// The code of a violated rule in the inspection checklist, e.g. "HYG-12".
    ViolationCode, "violation code", 1..=50
);
bounded_text!(
    /// The identifier of an outside supplier.
    SupplierId, "supplier id", 1..=100
);
bounded_text!(
    /// The supplier's reference for an order placed with it.
    SupplierOrderRef, "supplier order reference", 1..=100
);
bounded_text!(
    /// The identifier of a carrier transporting a purchase.
    CarrierId, "carrier id", 1..=100
);
bounded_text!(
    /// The carrier's tracking reference.
    TrackingRef, "tracking reference", 1..=100
);
bounded_text!(
    /// A discount voucher code given with a purchase.
    VoucherCode, "voucher code", 1..=50
);
bounded_text!(
    /// The vehicle a driver uses, e.g. a plate number.
    Vehicle, "vehicle", 1..=100
);
bounded_text!(
    /// The person who received a delivery.
    RecipientName, "recipient name", 1..=200
);
bounded_text!(
    /// A reference to a proof of delivery (a photo or signature id).
    ProofRef, "proof reference", 1..=500
);

impl Reason {
    /// A reason the product words itself: control characters dropped and cut to the maximum
    /// length, so it never fails; "no reason given" when nothing remains.
    pub fn system(text: &str) -> Self {
        let cleaned: String = text.chars().filter(|c| !c.is_control()).take(500).collect();
        match cleaned.trim() {
            "" => Self("no reason given".to_owned()),
            trimmed => Self(trimmed.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed() {
        assert_eq!(ProductName::parse("  Kale ").unwrap().as_str(), "Kale");
    }

    #[test]
    fn empty_text_is_refused() {
        assert_eq!(
            ProductName::parse("   ").unwrap_err().message(),
            "product name must not be empty"
        );
    }

    #[test]
    fn overlong_text_is_refused() {
        assert!(VoucherCode::parse(&"x".repeat(51)).is_err());
    }

    #[test]
    fn control_characters_are_refused_except_line_breaks_in_multiline_text() {
        assert!(ProductName::parse("a\nb").is_err());
        assert!(Reason::parse("a\nb").is_ok());
        assert!(Reason::parse("a\u{0}b").is_err());
    }

    #[test]
    fn a_system_reason_never_fails() {
        assert_eq!(Reason::system(" \u{0} ").as_str(), "no reason given");
        assert_eq!(Reason::system(&"y".repeat(600)).as_str().len(), 500);
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<ProductName>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<ProductName>("\"Kale\"").unwrap(),
            ProductName::parse("Kale").unwrap()
        );
    }
}
