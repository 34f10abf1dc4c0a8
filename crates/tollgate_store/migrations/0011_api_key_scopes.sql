-- What each API key may do (issue 24): space-separated scope names. A key made before scopes
-- existed keeps what it could do then (its owner's role decided), so an upgrade breaks no
-- host application; new keys get only what they name.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'entitlements:read usage:write billing';
UPDATE api_keys SET scopes = scopes || ' admin'
 WHERE user_id IN (SELECT id FROM users WHERE role = 'admin');
UPDATE api_keys SET scopes = scopes || ' tenant'
 WHERE user_id IN (SELECT id FROM users WHERE role = 'tenant_admin');
