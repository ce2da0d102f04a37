-- The audit read of the log (`events` with a filter) pages by position: each filter gets an
-- index that leads with it and ends with the position, so a page far into a long log starts
-- where the cursor is. A stream's events already have their unique key.
CREATE INDEX events_by_type ON events (event_type, position);
CREATE INDEX events_by_actor ON events (json_extract(metadata, '$.actor.sub'), position);
CREATE INDEX events_by_time ON events (recorded_at);
