-- Tenant admins: a third role, kept to its users.tenant_id.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('user', 'admin', 'tenant_admin'));
