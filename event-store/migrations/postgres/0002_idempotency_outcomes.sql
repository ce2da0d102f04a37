-- Every first answer stands for its idempotency key: a refusal, "nothing to do" and an If-Match
-- mismatch are kept too, not only appends. Client keys expire (`expires_at`); the keys of the
-- internal system actor never do (NULL), because a process manager replayed after a long outage
-- must still find them.
ALTER TABLE idempotency_keys
    ADD COLUMN outcome text
        CHECK (outcome IN ('appended', 'unchanged', 'refused', 'version_mismatch')),
    ADD COLUMN detail jsonb,
    ADD COLUMN expires_at timestamptz;
UPDATE idempotency_keys SET outcome = 'appended' WHERE version IS NOT NULL;
-- Keys from before this migration are clients' (scoped "<sub>\n<key>"; the system actor issued
-- none yet): they get the default time to live.
UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours'
    WHERE position(E'\n' IN key) > 0;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)
    WHERE expires_at IS NOT NULL;
-- Audits cross-check each stream's head against the keys that name it.
CREATE INDEX idempotency_keys_stream ON idempotency_keys (aggregate_type, aggregate_id, version);
