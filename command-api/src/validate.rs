//! Turning a request body's raw values into domain values, collecting every field in error.

use std::fmt::Display;

use event_schemas::values::{Cents, PositiveQuantity, Quantity};

use crate::ApiError;
use crate::problem::FieldError;

/// Collects field errors while a command is built from its body.
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
}

impl Fields {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `result`'s value, or records its error against `field`.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.push(FieldError::new(field, error.to_string()));
                None
            }
        }
    }

    /// Checks an optional value.
    pub fn check_opt<R, T, E: Display>(
        &mut self,
        field: &str,
        raw: Option<R>,
        parse: impl FnOnce(R) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match raw {
            None => Some(None),
            Some(raw) => self.check(field, parse(raw)).map(Some),
        }
    }

    /// Records an error against `field`.
    pub fn refuse(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The command `build` makes from the checked values, or a 400 listing every field in
    /// error. `build` returns `None` only when a value it needs was refused.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if self.errors.is_empty()
            && let Some(value) = build()
        {
            return Ok(value);
        }
        let detail = match self.errors.as_slice() {
            [] => "the request is invalid".to_owned(),
            [one] => format!("invalid field `{}`: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Err(ApiError::BadRequest {
            detail,
            errors: self.errors,
        })
    }
}

/// Parses a UUID-shaped id of a path or body.
pub fn uuid(raw: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| format!("`{raw}` is not a UUID"))
}

/// Parses an RFC 3339 time.
pub fn time(raw: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("`{raw}` is not an RFC 3339 time"))
}

/// Parses a calendar date (`YYYY-MM-DD`).
pub fn date(raw: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("`{raw}` is not a date (YYYY-MM-DD)"))
}

/// Converts a signed integer of a body into an unsigned one.
pub fn non_negative(n: i64) -> Result<u64, String> {
    u64::try_from(n).map_err(|_| "must not be negative".to_owned())
}

/// Parses a quantity (zero or more units).
pub fn quantity(n: i64) -> Result<Quantity, String> {
    Quantity::new(non_negative(n)?).map_err(|e| e.to_string())
}

/// Parses a quantity of at least one unit.
pub fn positive_quantity(n: i64) -> Result<PositiveQuantity, String> {
    PositiveQuantity::new(non_negative(n)?).map_err(|e| e.to_string())
}

/// Parses an amount of cents.
pub fn cents(n: i64) -> Result<Cents, String> {
    Cents::new(non_negative(n)?).map_err(|e| e.to_string())
}

/// Parses the aggregate id of a path (`{id}`), wrapped in its id type.
pub fn path_id<T>(raw: &str, wrap: fn(uuid::Uuid) -> T) -> Result<T, ApiError> {
    uuid(raw)
        .map(wrap)
        .map_err(|message| ApiError::field("id", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_in_error_is_listed() {
        let mut fields = Fields::new();
        let a = fields.check("a", Err::<u8, _>("bad a"));
        let b = fields.check("b", Err::<u8, _>("bad b"));
        match fields.finish(|| Some((a?, b?))) {
            Err(ApiError::BadRequest { errors, .. }) => assert_eq!(errors.len(), 2),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn valid_values_build_the_command() {
        let mut fields = Fields::new();
        let a = fields.check("a", Ok::<u8, String>(1));
        assert_eq!(fields.finish(|| Some(a? + 1)).unwrap(), 2);
    }
}
