-- An event's payload (3 kB is typical) is kept inline in its row, uncompressed, up to about a
-- full 8 kB page. PostgreSQL's default compresses every row over 2 kB with pglz before it is
-- written, which cost a third of the database's CPU on the webhook path (docs/benchmarks.md);
-- larger events are still compressed and moved to TOAST as before.
ALTER TABLE stripe_events SET (toast_tuple_target = 8160);
