//! Postal addresses for deliveries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InvalidValue;
use super::text::bounded;

/// A postal address, every part checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "AddressParts", into = "AddressParts")]
#[schemars(with = "AddressParts")]
pub struct Address(AddressParts);

/// The parts of an address as they travel on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddressParts {
    /// Street and number.
    #[schemars(length(min = 1, max = 200))]
    pub line1: String,
    /// Building, floor, suite.
    #[schemars(length(max = 200))]
    pub line2: Option<String>,
    /// City or town.
    #[schemars(length(min = 1, max = 100))]
    pub city: String,
    /// Postal code.
    #[schemars(length(min = 1, max = 20))]
    pub postal_code: String,
    /// Country name or ISO 3166 code.
    #[schemars(length(min = 1, max = 100))]
    pub country: String,
}

impl Address {
    /// Checks every part; returns the first field in error with its message.
    pub fn parse(parts: AddressParts) -> Result<Self, (&'static str, InvalidValue)> {
        let line1 = bounded("line1", &parts.line1, 1, 200, false).map_err(|e| ("line1", e))?;
        let line2 = match parts.line2.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(bounded("line2", raw, 1, 200, false).map_err(|e| ("line2", e))?),
        };
        let city = bounded("city", &parts.city, 1, 100, false).map_err(|e| ("city", e))?;
        let postal_code = bounded("postal code", &parts.postal_code, 1, 20, false)
            .map_err(|e| ("postal_code", e))?;
        let country =
            bounded("country", &parts.country, 1, 100, false).map_err(|e| ("country", e))?;
        Ok(Self(AddressParts {
            line1,
            line2,
            city,
            postal_code,
            country,
        }))
    }

    /// The checked parts.
    pub fn parts(&self) -> &AddressParts {
        &self.0
    }
}

impl TryFrom<AddressParts> for Address {
    type Error = InvalidValue;

    fn try_from(parts: AddressParts) -> Result<Self, Self::Error> {
        Self::parse(parts).map_err(|(_, e)| e)
    }
}

impl From<Address> for AddressParts {
    fn from(a: Address) -> Self {
        a.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> AddressParts {
        AddressParts {
            line1: " 1 Market St ".into(),
            line2: Some("".into()),
            city: "Lyon".into(),
            postal_code: "69001".into(),
            country: "FR".into(),
        }
    }

    #[test]
    fn an_address_is_trimmed_and_an_empty_line2_dropped() {
        let address = Address::parse(parts()).unwrap();
        assert_eq!(address.parts().line1, "1 Market St");
        assert_eq!(address.parts().line2, None);
    }

    #[test]
    fn a_missing_city_names_its_field() {
        let err = Address::parse(AddressParts {
            city: " ".into(),
            ..parts()
        })
        .unwrap_err();
        assert_eq!(err.0, "city");
    }
}
