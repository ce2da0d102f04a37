//! Domain values as read-model columns.

use serde::Serialize;

/// A count or amount as a `BIGINT` (domain bounds keep them far below `i64::MAX`).
pub fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A unit enum (a status, a category) as its serialized name, e.g. `READY_FOR_PICKUP`.
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A value as a JSON `TEXT` column.
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
