//! Positions on the earth, for delivery tracking.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::InvalidValue;

macro_rules! coordinate {
    ($(#[$doc:meta])* $name:ident, $what:literal, $limit:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            /// Checks that `degrees` is a finite number within the coordinate's range.
            pub fn new(degrees: f64) -> Result<Self, InvalidValue> {
                if !degrees.is_finite() || !(-$limit..=$limit).contains(&degrees) {
                    return Err(InvalidValue(format!(
                        "{} must be between -{} and {}",
                        $what, $limit, $limit
                    )));
                }
                // -0.0 is 0.0: stored as JSON numbers, the two must not differ (PostgreSQL's
                // jsonb has no negative zero, so the hash chain would break on read-back).
                Ok(Self(if degrees == 0.0 { 0.0 } else { degrees }))
            }

            /// The coordinate in decimal degrees.
            pub const fn degrees(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = InvalidValue;

            fn try_from(degrees: f64) -> Result<Self, Self::Error> {
                Self::new(degrees)
            }
        }

        impl From<$name> for f64 {
            fn from(c: $name) -> Self {
                c.0
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
                json_schema!({ "type": "number", "minimum": -$limit, "maximum": $limit })
            }
        }
    };
}

coordinate!(
    /// Latitude in decimal degrees, -90 to 90.
    Latitude, "latitude", 90.0
);
coordinate!(
    /// Longitude in decimal degrees, -180 to 180.
    Longitude, "longitude", 180.0
);

/// A point on the earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GeoPoint {
    /// Latitude in decimal degrees.
    pub lat: Latitude,
    /// Longitude in decimal degrees.
    pub lon: Longitude,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_outside_the_globe_are_refused() {
        assert!(Latitude::new(90.0).is_ok());
        assert!(Latitude::new(90.5).is_err());
        assert!(Longitude::new(-180.0).is_ok());
        assert!(Longitude::new(-180.1).is_err());
        assert!(Latitude::new(f64::NAN).is_err());
    }

    #[test]
    fn negative_zero_is_zero() {
        let zero = Latitude::new(-0.0).unwrap();
        assert!(zero.degrees().is_sign_positive());
        assert_eq!(serde_json::to_string(&zero).unwrap(), "0.0");
    }
}
