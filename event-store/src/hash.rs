//! The per-stream hash chain: `hash = SHA-256(prev_hash || canonical event bytes)`.
//!
//! The canonical bytes are the event's JSON with object keys sorted and no whitespace, built
//! here rather than by `serde_json`'s map (whose key order depends on a crate feature that any
//! dependency may switch on), so the same event hashes the same in every build and backend.

use event_schemas::ChainHash;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{RecordedEvent, StreamId};

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
    let mut canonical = Vec::with_capacity(1024);
    write_event(
        &mut canonical,
        stream,
        sequence,
        event_type,
        event_version,
        payload,
        metadata,
        false,
    );
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(&canonical);
    ChainHash::from_bytes(hasher.finalize().into())
}

/// The canonical bytes of a whole stored event, its metadata's `hash` included: what the
/// transparency log's leaf covers (stream, sequence, type, version, payload and metadata).
pub fn canonical_event(event: &RecordedEvent) -> Vec<u8> {
    let mut canonical = Vec::with_capacity(1024);
    write_event(
        &mut canonical,
        &event.stream,
        event.sequence,
        &event.event_type,
        &event.event_version,
        &event.payload,
        &event.metadata,
        true,
    );
    canonical
}

/// Writes the canonical form of {aggregate_id, aggregate_type, event_type, event_version,
/// metadata, payload, sequence}, the metadata's `hash` only `with_hash`: field by field in
/// sorted key order rather than built as a Value, which would copy the payload and metadata.
#[allow(clippy::too_many_arguments)] // the event's parts, as the chain hashes them
fn write_event(
    canonical: &mut Vec<u8>,
    stream: &StreamId,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: &Value,
    metadata: &Value,
    with_hash: bool,
) {
    canonical.push(b'{');
    write_field(canonical, "aggregate_id", true);
    write_scalar(&Value::from(stream.aggregate_id.as_str()), canonical);
    write_field(canonical, "aggregate_type", false);
    write_scalar(&Value::from(stream.aggregate_type.as_str()), canonical);
    write_field(canonical, "event_type", false);
    write_scalar(&Value::from(event_type), canonical);
    write_field(canonical, "event_version", false);
    write_scalar(&Value::from(event_version), canonical);
    write_field(canonical, "metadata", false);
    match metadata {
        Value::Object(map) => write_object(
            map.iter()
                .filter(|(key, _)| with_hash || key.as_str() != "hash"),
            canonical,
        ),
        other => write_canonical(other, canonical),
    }
    write_field(canonical, "payload", false);
    write_canonical(payload, canonical);
    write_field(canonical, "sequence", false);
    write_scalar(&Value::from(sequence), canonical);
    canonical.push(b'}');
}

/// Writes `"key":`, preceded by a comma unless it is the object's first field.
fn write_field(out: &mut Vec<u8>, key: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    write_scalar(&Value::from(key), out);
    out.push(b':');
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
        Value::Object(map) => write_object(map.iter(), out),
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

/// Writes an object's entries with their keys sorted.
fn write_object<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = entries.collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        write_field(out, key, i == 0);
        write_canonical(value, out);
    }
    out.push(b'}');
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
    fn the_hash_is_over_the_sorted_canonical_form_of_the_whole_event() {
        let stream = StreamId::new("stock", "s-1");
        let payload = json!({"b": [1, {"y": 2, "x": "é\n"}], "a": null});
        let metadata =
            json!({"z": 1.5, "hash": "ignored", "actor": {"sub": "a", "role": "farmer"}});
        let expected = br#"{"aggregate_id":"s-1","aggregate_type":"stock","event_type":"T","event_version":"1.0.0","metadata":{"actor":{"role":"farmer","sub":"a"},"z":1.5},"payload":{"a":null,"b":[1,{"x":"\u00e9\n","y":2}]},"sequence":3}"#;
        let mut hasher = Sha256::new();
        hasher.update(ChainHash::GENESIS.as_bytes());
        hasher.update(
            String::from_utf8_lossy(expected)
                .replace("\\u00e9", "é")
                .as_bytes(),
        );
        let computed = event_hash(
            &ChainHash::GENESIS,
            &stream,
            3,
            "T",
            "1.0.0",
            &payload,
            &metadata,
        );
        assert_eq!(computed, ChainHash::from_bytes(hasher.finalize().into()));
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
