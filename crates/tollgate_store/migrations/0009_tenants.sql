-- Tenants of a platform (seed 003, Stripe Connect): each bills its own customers through its
-- connected account while the platform takes an application fee. The account's state is what
-- Stripe last said (re-fetched on every account event), stamped with when it was fetched.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    country TEXT NOT NULL,
    fee_bps BIGINT NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    fee_fixed BIGINT NOT NULL CHECK (fee_fixed >= 0),
    status TEXT NOT NULL CHECK (status IN ('active', 'deauthorized')),
    stripe_account_id TEXT UNIQUE,
    account_kind TEXT,
    charges_enabled BIGINT,
    payouts_enabled BIGINT,
    details_submitted BIGINT,
    requirements TEXT,
    account_synced_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tenants_created_idx ON tenants (created_at, id);
CREATE INDEX users_tenant_idx ON users (tenant_id) WHERE tenant_id IS NOT NULL;

-- Events of a connected account no tenant has: stored and acknowledged (Stripe disables an
-- endpoint that keeps failing), settled as ignored, never applied, listed for the platform.
CREATE TABLE unrouted_events (
    event_id TEXT PRIMARY KEY,
    stripe_account TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX unrouted_events_recorded_idx ON unrouted_events (recorded_at, event_id);
