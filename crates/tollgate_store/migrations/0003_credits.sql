-- Credits: one-time payments and their refunds, the append-only credit ledger with its cached
-- balances, usage quotas, coupons and referrals. Money is BIGINT minor units with its currency;
-- booleans BIGINT 0/1 and times unix milliseconds, as in 0001.

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('checkout', 'payment_intent')),
    package_id TEXT,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    credits BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'completed', 'canceled', 'expired',
                                           'partially_refunded', 'refunded')),
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    stripe_checkout_session_id TEXT UNIQUE,
    stripe_payment_intent_id TEXT UNIQUE,
    stripe_charge_id TEXT,
    description TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX payments_user_idx ON payments (user_id, created_at, id);
CREATE INDEX payments_created_idx ON payments (created_at, id);
CREATE INDEX payments_status_idx ON payments (status, created_at, id);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
    amount BIGINT NOT NULL CHECK (amount > 0),
    reason TEXT,
    admin_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    stripe_refund_id TEXT UNIQUE,
    credits_reversed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    -- Set once the refund's credits were taken back: never twice.
    settled_at BIGINT
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id, created_at);

-- Every movement of credits. (source, source_id) names the one fact an entry records, so a
-- redelivered or overlapping event can never add a second entry for it.
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    delta BIGINT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (source, source_id)
);
CREATE INDEX ledger_entries_user_idx ON ledger_entries (user_id, created_at, id);

-- The sum of each user's entries, updated in the entry's transaction.
CREATE TABLE credit_balances (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance BIGINT NOT NULL,
    -- Set while the balance is negative (credits refunded after they were spent).
    negative_since BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX credit_balances_negative_idx ON credit_balances (negative_since) WHERE negative_since IS NOT NULL;

-- One row per consumption, keyed by the caller's idempotency key.
CREATE TABLE usage_records (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    feature TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    -- The answer given, replayed for the same key: JSON of the outcome.
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);

CREATE TABLE usage_counters (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    feature TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    used BIGINT NOT NULL,
    PRIMARY KEY (user_id, feature, period_start)
);

CREATE TABLE coupons (
    code TEXT PRIMARY KEY,
    credits BIGINT NOT NULL CHECK (credits > 0),
    max_redemptions BIGINT,
    redemptions BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE coupon_redemptions (
    code TEXT NOT NULL REFERENCES coupons (code) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (code, user_id)
);

CREATE TABLE referral_codes (
    code TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE
);

-- Who referred a member (seed 002's referred_by_code), set at sign-up.
ALTER TABLE users ADD COLUMN referred_by TEXT;
CREATE INDEX users_referred_by_idx ON users (referred_by) WHERE referred_by IS NOT NULL;
