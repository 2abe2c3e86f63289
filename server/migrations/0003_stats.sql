-- prtrace index, version 3: what GET /v1/stats sums, one column per event, filled at ingest.
-- ts_ms is the event's ts as milliseconds since the epoch (time arithmetic needs a number);
-- lines_added/lines_removed an edit's change_summary; green 1/0 for a test run (NULL for any
-- other event); actor_kind the event's actor.kind.

ALTER TABLE events_index ADD COLUMN ts_ms BIGINT;
ALTER TABLE events_index ADD COLUMN actor_kind TEXT;
ALTER TABLE events_index ADD COLUMN lines_added BIGINT;
ALTER TABLE events_index ADD COLUMN lines_removed BIGINT;
ALTER TABLE events_index ADD COLUMN skipped BIGINT;
ALTER TABLE events_index ADD COLUMN errors BIGINT;
ALTER TABLE events_index ADD COLUMN green INTEGER;

-- Rows indexed before this version lack those columns; they are filled from their batch
-- objects the first time /v1/stats reads their trace. New traces never need it.
ALTER TABLE traces ADD COLUMN needs_backfill INTEGER NOT NULL DEFAULT 0;
UPDATE traces SET needs_backfill = 1 WHERE event_count > 0;
CREATE INDEX traces_backfill ON traces (trace_id) WHERE needs_backfill = 1;

-- `since` selects traces by their latest event.
CREATE INDEX traces_last_ts ON traces (last_ts);
