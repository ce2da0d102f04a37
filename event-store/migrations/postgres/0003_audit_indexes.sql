-- The audit read of the log (`events` with a filter) pages in the log's order: each filter
-- gets an index that leads with it and ends with that order, so a page far into a long log
-- starts where the cursor is instead of scanning up to it. A stream's events already have the
-- primary key.
CREATE INDEX events_by_type ON events (event_type, epoch, tx, position);
CREATE INDEX events_by_actor ON events ((metadata #>> '{actor,sub}'), epoch, tx, position);
CREATE INDEX events_by_time ON events (recorded_at);
