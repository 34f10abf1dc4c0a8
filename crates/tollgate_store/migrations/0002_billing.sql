-- Subscriptions end to end: Stripe customers, checkout sessions, subscriptions and invoices
-- synced from Stripe, the webhook inbox, and the notification outbox.
-- Booleans are BIGINT 0/1 and times unix milliseconds, as in 0001.

CREATE TABLE stripe_customers (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- One customer per user, and one user per customer (invariant 5).
    customer_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE checkout_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mode TEXT NOT NULL,
    plan_id TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX checkout_sessions_user_idx ON checkout_sessions (user_id, created_at);

CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    price_id TEXT NOT NULL,
    plan_id TEXT,
    quantity BIGINT NOT NULL,
    current_period_start BIGINT NOT NULL,
    current_period_end BIGINT NOT NULL,
    cancel_at_period_end BIGINT NOT NULL,
    canceled_at BIGINT,
    ended_at BIGINT,
    trial_end BIGINT,
    created_at BIGINT NOT NULL,
    -- When the row's content was fetched from Stripe: older fetches never overwrite newer ones.
    synced_at BIGINT NOT NULL
);
CREATE INDEX subscriptions_user_idx ON subscriptions (user_id, created_at);
CREATE INDEX subscriptions_status_idx ON subscriptions (status);

CREATE TABLE invoices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subscription_id TEXT,
    status TEXT NOT NULL,
    amount_due BIGINT NOT NULL,
    amount_paid BIGINT NOT NULL,
    currency TEXT NOT NULL,
    paid_at BIGINT,
    hosted_invoice_url TEXT,
    created_at BIGINT NOT NULL,
    synced_at BIGINT NOT NULL
);
CREATE INDEX invoices_user_idx ON invoices (user_id, created_at);

CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    account TEXT,
    created BIGINT NOT NULL,
    api_version TEXT,
    livemode BIGINT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'processed', 'failed', 'ignored')),
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    received_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    processed_at BIGINT
);
-- Claims read only pending rows, in arrival order: a partial index keeps that cheap however
-- many settled events the inbox holds.
CREATE INDEX stripe_events_claim_idx ON stripe_events (received_at, id) WHERE status = 'received';
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at, id);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    -- One message per fact and channel, however often the fact's events arrive.
    dedupe_key TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_claim_idx ON outbox (created_at, id) WHERE status = 'pending';
