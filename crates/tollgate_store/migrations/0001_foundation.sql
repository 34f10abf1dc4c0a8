-- Foundation: accounts, sessions, API keys and the audit log.
-- One file for both databases: only types both understand (TEXT, BIGINT), times in unix
-- milliseconds, ids as hyphenated UUID text, JSON as TEXT.
-- Later migrations add customers, subscriptions, payments, ledger, inbox/outbox and tenants
-- (users.tenant_id is already here so tenants need no rewrite of users).

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT,
    password_hash TEXT,
    external_id TEXT,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    tenant_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Emails are stored lower-cased; the index on lower() keeps uniqueness case-insensitive
-- even for rows written by hand.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_external_id_key ON users (external_id);
CREATE INDEX users_created_idx ON users (created_at, id);
CREATE INDEX users_role_created_idx ON users (role, created_at, id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at, id);
CREATE INDEX audit_log_target_idx ON audit_log (target, created_at);
