//! The per-stream hash chain: `hash = SHA-256(prev_hash || canonical event bytes)`.
//!
//! The canonical bytes are the event's JSON with object keys sorted and no whitespace, built
//! here rather than by `serde_json`'s map (whose key order depends on a crate feature that any
//! dependency may switch on), so the same event hashes the same in every build and backend.

use event_schemas::ChainHash;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::StreamId;

/// The hash of one event, chained to `prev`. `metadata` is hashed without its `hash` field.
pub fn event_hash(
    prev: &ChainHash,
    stream: &StreamId,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: &Value,
    metadata: &Value,
) -> ChainHash {
    let mut metadata = metadata.clone();
    if let Value::Object(map) = &mut metadata {
        map.remove("hash");
    }
    let body = serde_json::json!({
        "aggregate_type": stream.aggregate_type,
        "aggregate_id": stream.aggregate_id,
        "sequence": sequence,
        "event_type": event_type,
        "event_version": event_version,
        "payload": payload,
        "metadata": metadata,
    });
    let mut canonical = Vec::with_capacity(512);
    write_canonical(&body, &mut canonical);
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(&canonical);
    ChainHash::from_bytes(hasher.finalize().into())
}

/// `value` as canonical JSON: object keys sorted, no whitespace. Equal JSON values give equal
/// bytes in every build (used for hashes and request fingerprints).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Serializing a scalar JSON value into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hash(payload: Value, metadata: Value) -> ChainHash {
        event_hash(
            &ChainHash::GENESIS,
            &StreamId::new("stock", "s-1"),
            1,
            "StockReceived",
            "1.0.0",
            &payload,
            &metadata,
        )
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"c":2,"d":[1,2]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"d":[1,2],"c":2},"a":1}"#).unwrap();
        assert_eq!(hash(a, json!({})), hash(b, json!({})));
    }

    #[test]
    fn any_change_to_the_payload_changes_the_hash() {
        assert_ne!(
            hash(json!({"q": 1}), json!({})),
            hash(json!({"q": 2}), json!({}))
        );
    }

    #[test]
    fn the_stored_hash_field_is_not_hashed() {
        assert_eq!(
            hash(json!({}), json!({"actor": "x"})),
            hash(json!({}), json!({"actor": "x", "hash": "whatever"}))
        );
    }

    #[test]
    fn the_chain_depends_on_the_previous_hash() {
        let stream = StreamId::new("stock", "s-1");
        let p = json!({});
        let first = event_hash(&ChainHash::GENESIS, &stream, 1, "T", "1", &p, &p);
        let other = event_hash(&first, &stream, 1, "T", "1", &p, &p);
        assert_ne!(first, other);
    }
}
