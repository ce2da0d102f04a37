//! Conversions between the store's unsigned counters and the databases' signed integers, and
//! parsing of stored values; a value out of range is corrupt data, never a panic.

use event_schemas::ChainHash;

use crate::{StoreError, StreamId};

pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} is out of range")))
}

pub(crate) fn to_i32(n: u32) -> Result<i32, StoreError> {
    i32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} is out of range")))
}

pub(crate) fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} is negative")))
}

pub(crate) fn to_u32(n: i32) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} is negative")))
}

pub(crate) fn parse_hash(text: &str) -> Result<ChainHash, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("`{text}` is not a hash")))
}

/// The `(type, id, sequence)` to read a whole-log audit after (`("", "", 0)`: from the start).
pub(crate) fn audit_cursor(
    after: Option<(&StreamId, u64)>,
) -> Result<(&str, &str, i64), StoreError> {
    Ok(match after {
        Some((stream, sequence)) => (
            stream.aggregate_type.as_str(),
            stream.aggregate_id.as_str(),
            to_i64(sequence)?,
        ),
        None => ("", "", 0),
    })
}
