//! Pieces of request bodies shared by several resources: addresses and closed vocabularies,
//! with their OpenAPI schemas and their conversion to domain values.

use event_schemas::values::{Address, AddressParts};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, SchemaType, Type};

use crate::validate::Fields;

/// A postal address in a request body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"line1": "12 Market Street", "city": "Paris", "postal_code": "75011", "country": "FR"}))]
pub struct AddressBody {
    /// Street and number.
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    /// Building, floor, suite.
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    /// City or town.
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    /// Postal code.
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// Country name or ISO 3166 code.
    #[schema(min_length = 1, max_length = 100)]
    pub country: String,
}

impl AddressBody {
    /// The checked address; errors are recorded under `field.<part>`.
    pub fn check(self, field: &str, fields: &mut Fields) -> Option<Address> {
        let parts = AddressParts {
            line1: self.line1,
            line2: self.line2,
            city: self.city,
            postal_code: self.postal_code,
            country: self.country,
        };
        match Address::parse(parts) {
            Ok(address) => Some(address),
            Err((part, error)) => {
                fields.refuse(format!("{field}.{part}"), error.message());
                None
            }
        }
    }
}

/// A one-line text field as the domain accepts it: no control characters, not blank.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";

/// A multi-line text field as the domain accepts it: line breaks and tabs allowed, no other
/// control characters, not blank.
pub const MULTILINE_PATTERN: &str = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$";

/// Body fields whose text may span lines.
const MULTILINE_FIELDS: &[&str] = &["reason", "notes", "description", "resolution"];

/// Documents what the domain's text types accept on every free-text field of the document's
/// request bodies (strings with a minimum length and no format, enum or pattern): one
/// `pattern` here instead of one per field.
pub fn document_text_rules(node: &mut serde_json::Value) {
    match node {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get_mut("properties") {
                for (name, schema) in properties.iter_mut() {
                    let free_text = schema.get("type").and_then(|t| t.as_str()) == Some("string")
                        && schema
                            .get("minLength")
                            .and_then(|n| n.as_u64())
                            .unwrap_or(0)
                            >= 1
                        && ["format", "enum", "pattern"]
                            .iter()
                            .all(|k| schema.get(k).is_none());
                    if free_text {
                        let pattern = if MULTILINE_FIELDS.contains(&name.as_str()) {
                            MULTILINE_PATTERN
                        } else {
                            TEXT_PATTERN
                        };
                        schema["pattern"] = serde_json::Value::from(pattern);
                    }
                }
            }
            for value in map.values_mut() {
                document_text_rules(value);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(document_text_rules),
        _ => {}
    }
}

/// Parses a closed-vocabulary value (`category`, `unit`...) into its domain enum.
pub fn one_of<T: DeserializeOwned>(raw: &str, allowed: &[&str]) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .map_err(|_| format!("`{raw}` is not one of: {}", allowed.join(", ")))
}

/// The schema of a string restricted to `values`.
fn string_enum(values: &[&str]) -> Object {
    let mut schema = Object::with_type(SchemaType::Type(Type::String));
    schema.enum_values = Some(values.iter().map(|v| serde_json::Value::from(*v)).collect());
    schema
}

/// Product categories.
pub const CATEGORIES: &[&str] = &[
    "vegetables",
    "fruits",
    "herbs",
    "dairy",
    "grains",
    "eggs",
    "meat",
];
/// Units of quantity.
pub const UNITS: &[&str] = &["kg", "piece", "liter", "dozen", "bunch"];
/// Quality grades.
pub const GRADES: &[&str] = &["A", "B", "C"];
/// Violation severities.
pub const SEVERITIES: &[&str] = &["minor", "major", "critical"];

/// The schema of a product category.
pub fn category_schema() -> Object {
    string_enum(CATEGORIES)
}

/// The schema of a unit.
pub fn unit_schema() -> Object {
    string_enum(UNITS)
}

/// The schema of a quality grade.
pub fn grade_schema() -> Object {
    string_enum(GRADES)
}

/// The schema of a violation severity.
pub fn severity_schema() -> Object {
    string_enum(SEVERITIES)
}

#[cfg(test)]
mod tests {
    use event_schemas::values::{Category, QualityGrade, Severity, Unit};

    use super::*;

    #[test]
    fn every_listed_value_parses_into_the_domain_enum() {
        for v in CATEGORIES {
            assert!(one_of::<Category>(v, CATEGORIES).is_ok(), "{v}");
        }
        for v in UNITS {
            assert!(one_of::<Unit>(v, UNITS).is_ok(), "{v}");
        }
        for v in GRADES {
            assert!(one_of::<QualityGrade>(v, GRADES).is_ok(), "{v}");
        }
        for v in SEVERITIES {
            assert!(one_of::<Severity>(v, SEVERITIES).is_ok(), "{v}");
        }
        assert!(one_of::<Category>("cars", CATEGORIES).is_err());
    }
}
