-- Tenant admins: a third role, kept to its users.tenant_id. SQLite cannot alter a CHECK, so
-- users is rebuilt the documented way (https://sqlite.org/lang_altertable.html#otheralter).
-- SqlStore::migrate runs SQLite's migrations on a connection with foreign keys off, so that
-- dropping the old table neither cascades to the rows referencing users nor rewrites them.
CREATE TABLE users_0008 (
    id TEXT PRIMARY KEY,
    email TEXT,
    password_hash TEXT,
    external_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin', 'tenant_admin')),
    tenant_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    referred_by TEXT
);
INSERT INTO users_0008 (id, email, password_hash, external_id, role, tenant_id, created_at, updated_at, referred_by)
    SELECT id, email, password_hash, external_id, role, tenant_id, created_at, updated_at, referred_by FROM users;
DROP TABLE users;
ALTER TABLE users_0008 RENAME TO users;
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_external_id_key ON users (external_id);
CREATE INDEX users_created_idx ON users (created_at, id);
CREATE INDEX users_role_created_idx ON users (role, created_at, id);
CREATE INDEX users_referred_by_idx ON users (referred_by) WHERE referred_by IS NOT NULL;

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
