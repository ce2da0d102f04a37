//! The metadata stored with every event (DESIGN.md "The log").

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Actor, InvalidValue};

/// Who did what, why, and the event's link in its stream's hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventMetadata {
    /// This event's own id (UUIDv7).
    pub event_id: Uuid,
    /// The id shared by everything one client request set in motion.
    pub correlation_id: Uuid,
    /// The id of the request or event that directly caused this one.
    pub causation_id: Uuid,
    /// Who issued the command.
    pub actor: Actor,
    /// The command's name, e.g. `PlaceOrder`.
    pub command: String,
    /// The client's idempotency key, if it sent one.
    pub idempotency_key: Option<String>,
    /// The HTTP request id (`X-Request-Id`), or the process run that issued the command.
    pub request_id: String,
    /// When the event was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The hash of the stream's previous event ([`ChainHash::GENESIS`] for the first).
    pub prev_hash: ChainHash,
    /// SHA-256 over `prev_hash` and this event's canonical bytes.
    pub hash: ChainHash,
}

/// A SHA-256 digest in a stream's hash chain, written as 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChainHash([u8; 32]);

impl ChainHash {
    /// The `prev_hash` of a stream's first event.
    pub const GENESIS: Self = Self([0; 32]);

    /// Wraps a digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for ChainHash {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(s, &mut bytes)
            .map_err(|_| InvalidValue("a hash is 64 hexadecimal digits".into()))?;
        Ok(Self(bytes))
    }
}

impl TryFrom<String> for ChainHash {
    type Error = InvalidValue;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ChainHash> for String {
    fn from(h: ChainHash) -> Self {
        h.to_string()
    }
}

impl JsonSchema for ChainHash {
    fn schema_name() -> Cow<'static, str> {
        "ChainHash".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[0-9a-f]{64}$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_round_trips_through_hex() {
        let hash = ChainHash::from_bytes([0xab; 32]);
        assert_eq!(hash.to_string().parse::<ChainHash>(), Ok(hash));
        assert_eq!(ChainHash::GENESIS.to_string(), "0".repeat(64));
    }

    #[test]
    fn a_short_hash_is_refused() {
        assert!("abcd".parse::<ChainHash>().is_err());
    }
}
