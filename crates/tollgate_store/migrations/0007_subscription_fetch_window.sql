-- The end of the window in which a subscription's stored snapshot was fetched (synced_at is
-- its start): a later snapshot whose window overlaps it cannot be ordered by the stamps, and
-- is fetched again (apply_sync says so). NULL on older rows: the instant synced_at.
ALTER TABLE subscriptions ADD COLUMN synced_until BIGINT;
