//! What an idempotency key stands for: the first answer given to the request it was first used
//! with, whatever that answer was (events appended, nothing to do, a refusal, a version
//! mismatch), so that a retry always gets the same answer.

use event_schemas::ChainHash;
use serde_json::{Value, json};

use crate::convert::{parse_hash, to_i64, to_u64};
use crate::{Appended, Position, StoreError, StreamId};

/// The longest a key may stand for its first answer (a longer time to live is capped: times
/// stay comparable as text on SQLite, and in range on PostgreSQL).
pub(crate) const MAX_TTL: std::time::Duration =
    std::time::Duration::from_secs(100 * 365 * 24 * 3600);

/// The first answer given under an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyOutcome {
    /// The command appended events.
    Appended(Appended),
    /// The command changed nothing: the aggregate already was as asked.
    Unchanged {
        /// The stream's version.
        version: u64,
        /// The position of the stream's last event.
        position: Option<Position>,
        /// The hash of the stream's last event.
        last_hash: ChainHash,
    },
    /// The aggregate refused the command.
    Refused {
        /// The stream's version the refusal was decided on.
        version: u64,
        /// The aggregate's error, serialized.
        refusal: Value,
    },
    /// `If-Match` named another version than the stream's.
    VersionMismatch {
        /// The version the client named.
        expected: u64,
        /// The stream's version.
        actual: u64,
    },
}

/// The stored first answer of an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotentOutcome {
    /// The fingerprint of the request the key was first used with.
    pub fingerprint: String,
    /// The stream that request was for.
    pub stream: StreamId,
    /// The answer it got.
    pub outcome: KeyOutcome,
}

/// A [`KeyOutcome`] as the `idempotency_keys` columns hold it.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredOutcome {
    /// `appended`, `unchanged`, `refused` or `version_mismatch`.
    pub(crate) kind: &'static str,
    pub(crate) version: Option<i64>,
    pub(crate) position: Option<Position>,
    pub(crate) last_hash: Option<String>,
    pub(crate) detail: Option<Value>,
}

impl KeyOutcome {
    /// How the `outcome` column names an append.
    pub(crate) const APPENDED: &'static str = "appended";

    /// The columns that store this outcome.
    pub(crate) fn stored(&self) -> Result<StoredOutcome, StoreError> {
        Ok(match self {
            Self::Appended(appended) => StoredOutcome {
                kind: Self::APPENDED,
                version: Some(to_i64(appended.version)?),
                position: Some(appended.position),
                last_hash: Some(appended.last_hash.to_string()),
                detail: None,
            },
            Self::Unchanged {
                version,
                position,
                last_hash,
            } => StoredOutcome {
                kind: "unchanged",
                version: Some(to_i64(*version)?),
                position: *position,
                last_hash: Some(last_hash.to_string()),
                detail: None,
            },
            Self::Refused { version, refusal } => StoredOutcome {
                kind: "refused",
                version: Some(to_i64(*version)?),
                detail: Some(refusal.clone()),
                ..StoredOutcome::default()
            },
            Self::VersionMismatch { expected, actual } => StoredOutcome {
                kind: "version_mismatch",
                version: Some(to_i64(*actual)?),
                detail: Some(json!({ "expected": expected, "actual": actual })),
                ..StoredOutcome::default()
            },
        })
    }

    /// The outcome the columns store.
    pub(crate) fn from_stored(
        kind: &str,
        version: Option<i64>,
        position: Option<Position>,
        last_hash: Option<&str>,
        detail: Option<Value>,
    ) -> Result<Self, StoreError> {
        let corrupt =
            || StoreError::Corrupt(format!("an idempotency key's `{kind}` is incomplete"));
        let version = version.map(to_u64).transpose()?;
        let last_hash = last_hash.map(parse_hash).transpose()?;
        Ok(match kind {
            "appended" => Self::Appended(Appended {
                version: version.ok_or_else(corrupt)?,
                position: position.ok_or_else(corrupt)?,
                last_hash: last_hash.ok_or_else(corrupt)?,
                replayed: true,
            }),
            "unchanged" => Self::Unchanged {
                version: version.ok_or_else(corrupt)?,
                position,
                last_hash: last_hash.ok_or_else(corrupt)?,
            },
            "refused" => Self::Refused {
                version: version.ok_or_else(corrupt)?,
                refusal: detail.ok_or_else(corrupt)?,
            },
            "version_mismatch" => {
                let detail = detail.ok_or_else(corrupt)?;
                let field = |name: &str| detail.get(name).and_then(Value::as_u64);
                Self::VersionMismatch {
                    expected: field("expected").ok_or_else(corrupt)?,
                    actual: field("actual").ok_or_else(corrupt)?,
                }
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "an idempotency key's outcome `{other}` is unknown"
                )));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(outcome: &KeyOutcome) -> KeyOutcome {
        let stored = outcome.stored().unwrap();
        KeyOutcome::from_stored(
            stored.kind,
            stored.version,
            stored.position,
            stored.last_hash.as_deref(),
            stored.detail,
        )
        .unwrap()
    }

    #[test]
    fn every_outcome_survives_its_columns() {
        let hash = ChainHash::from_bytes([3; 32]);
        let outcomes = [
            KeyOutcome::Appended(Appended {
                version: 4,
                position: Position::new(0, 9, 12),
                last_hash: hash,
                replayed: true,
            }),
            KeyOutcome::Unchanged {
                version: 4,
                position: Some(Position::new(0, 9, 12)),
                last_hash: hash,
            },
            KeyOutcome::Refused {
                version: 4,
                refusal: json!({"NotOwner": null}),
            },
            KeyOutcome::VersionMismatch {
                expected: 2,
                actual: 4,
            },
        ];
        for outcome in &outcomes {
            assert_eq!(&round_trip(outcome), outcome);
        }
    }

    #[test]
    fn an_unknown_stored_outcome_is_corrupt_data() {
        assert!(matches!(
            KeyOutcome::from_stored("maybe", Some(1), None, None, None),
            Err(StoreError::Corrupt(_))
        ));
    }
}
