-- The log: postgres-es's `events` columns plus the global order.
--
-- Readers order by (epoch, tx, position) and take only rows whose writing transaction is below
-- the oldest one still running (pg_snapshot_xmin): a BIGSERIAL alone is handed out at insert
-- time but becomes visible at commit time, so a reader following it could pass an event whose
-- transaction commits later and never see it. `epoch` is raised when the log is restored into
-- a new cluster, whose transaction ids start lower.
CREATE TABLE log_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch integer NOT NULL DEFAULT 0 CHECK (epoch >= 0)
);
INSERT INTO log_epoch DEFAULT VALUES;

CREATE TABLE events (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    sequence bigint NOT NULL CHECK (sequence > 0),
    event_type text NOT NULL,
    event_version text NOT NULL,
    payload jsonb NOT NULL,
    metadata jsonb NOT NULL,
    epoch integer NOT NULL,
    tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
    position bigint GENERATED ALWAYS AS IDENTITY,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE INDEX events_global_order ON events (epoch, tx, position);

-- One row per idempotency key: claimed first in the append's transaction (so identical
-- concurrent requests queue on it), filled with the append's outcome before commit.
CREATE TABLE idempotency_keys (
    key text PRIMARY KEY,
    fingerprint text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint,
    epoch integer,
    tx bigint,
    position bigint,
    last_hash text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE snapshots (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    version bigint NOT NULL,
    state jsonb NOT NULL,
    last_hash text NOT NULL,
    epoch integer NOT NULL,
    tx bigint NOT NULL,
    position bigint NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);
