-- Every first answer stands for its idempotency key: a refusal, "nothing to do" and an If-Match
-- mismatch are kept too, not only appends, so the columns of an append's outcome become
-- optional. Client keys expire (`expires_at`); the system actor's keys never do (NULL).
CREATE TABLE idempotency_keys_v2 (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('appended', 'unchanged', 'refused', 'version_mismatch')),
    version INTEGER,
    position INTEGER,
    last_hash TEXT,
    detail TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT
);
INSERT INTO idempotency_keys_v2 (key, fingerprint, aggregate_type, aggregate_id, outcome,
        version, position, last_hash, created_at)
    SELECT key, fingerprint, aggregate_type, aggregate_id, 'appended', version, position,
        last_hash, created_at
    FROM idempotency_keys;
-- Keys from before this migration are clients' (scoped "<sub>\n<key>"; the system actor issued
-- none yet): they get the default time to live.
UPDATE idempotency_keys_v2
    SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '+1 day')
    WHERE instr(key, char(10)) > 0;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)
    WHERE expires_at IS NOT NULL;
CREATE INDEX idempotency_keys_stream ON idempotency_keys (aggregate_type, aggregate_id, version);
