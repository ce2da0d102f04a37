-- The log: postgres-es's `events` columns plus the global order. SQLite serialises writers,
-- so rowid order is commit order and readers can follow `position` alone.
CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence > 0),
    event_type TEXT NOT NULL,
    event_version TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE snapshots (
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    last_hash TEXT NOT NULL,
    position INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
