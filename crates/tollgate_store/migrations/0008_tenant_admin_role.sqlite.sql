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
