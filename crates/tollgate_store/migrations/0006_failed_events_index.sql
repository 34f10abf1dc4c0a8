-- The failed events, newest first (`tollgate events list --status failed`, the admin events
-- page): few among many, so without an index of their own each page read the whole inbox.
-- Partial, so deliveries, which are never failed, do not write to it.
CREATE INDEX stripe_events_failed_idx ON stripe_events (received_at, id) WHERE status = 'failed';
