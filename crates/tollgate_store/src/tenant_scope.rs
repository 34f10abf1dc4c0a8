//! The tenant scope in the database: every tenant-scoped statement runs in a transaction opened
//! by `SqlStore::scoped`. With row-level security on (PostgreSQL, `database.row_level_security`),
//! that transaction runs as the `tollgate_tenant` role with `tollgate.tenant_id` set, and the
//! policies below hide every other tenant's rows: a second wall behind the `tenant_id = $n`
//! filter each statement already has, so a statement that forgot it still sees one tenant.

use sqlx::{Any, AnyPool, Transaction};
use tollgate_core::StoreError;
use tollgate_core::tenant::TenantScope;

use crate::columns::db_error;
use crate::{Backend, ConnectError, SqlStore};

/// Idempotent, and safe when several instances start at once (one advisory lock). The role is
/// cluster-wide and NOLOGIN: it is only ever entered with `SET LOCAL ROLE` by tollgate's own
/// login role, which it is granted to.
const SETUP: &str = r#"
DO $setup$
DECLARE
    scoped text;
BEGIN
    PERFORM pg_advisory_xact_lock(8391020517);
    BEGIN
        CREATE ROLE tollgate_tenant NOLOGIN;
    EXCEPTION WHEN duplicate_object THEN NULL;
    END;
    EXECUTE format('GRANT tollgate_tenant TO %I', current_user);
    GRANT SELECT, UPDATE ON tenants TO tollgate_tenant;
    -- A scoped command settles its event and writes its audit entry in the same transaction.
    GRANT SELECT, UPDATE ON stripe_events TO tollgate_tenant;
    GRANT INSERT ON audit_log TO tollgate_tenant;
    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
    IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE policyname = 'tollgate_tenant_rows' AND tablename = 'tenants') THEN
        CREATE POLICY tollgate_tenant_rows ON tenants TO tollgate_tenant
            USING (id = current_setting('tollgate.tenant_id', true))
            WITH CHECK (id = current_setting('tollgate.tenant_id', true));
    END IF;
    -- Every table with a tenant_id column: one policy each, the same rule.
    FOR scoped IN SELECT unnest(ARRAY['tenant_customers', 'tenant_invoices', 'tenant_refunds', 'tenant_contracts']) LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO tollgate_tenant', scoped);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', scoped);
        IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE policyname = 'tollgate_tenant_rows' AND tablename = scoped) THEN
            EXECUTE format(
                'CREATE POLICY tollgate_tenant_rows ON %I TO tollgate_tenant '
                'USING (tenant_id = current_setting(''tollgate.tenant_id'', true)) '
                'WITH CHECK (tenant_id = current_setting(''tollgate.tenant_id'', true))',
                scoped);
        END IF;
    END LOOP;
    -- A contract Stripe refused to create is removed while still pending.
    GRANT DELETE ON tenant_contracts TO tollgate_tenant;
END
$setup$;
"#;

impl SqlStore {
    /// Turns on row-level security for tenant rows (PostgreSQL only): sets up the role and the
    /// policies, and makes every scoped transaction enter them. Needs a login role that may
    /// create roles (or a `tollgate_tenant` role made beforehand and granted to it).
    pub async fn with_row_level_security(mut self) -> Result<Self, ConnectError> {
        if self.backend() != Backend::Postgres {
            return Err(ConnectError::Migrate(
                "row-level security needs PostgreSQL".into(),
            ));
        }
        sqlx::raw_sql(SETUP)
            .execute(&self.write)
            .await
            .map_err(|e| ConnectError::Migrate(format!("row-level security set-up: {e}")))?;
        self.row_level_security = true;
        Ok(self)
    }

    pub fn row_level_security(&self) -> bool {
        self.row_level_security
    }

    /// A transaction on `pool` within the tenant's scope (see the module's comment).
    pub(crate) async fn scoped(
        &self,
        pool: &AnyPool,
        scope: &TenantScope,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = pool.begin().await.map_err(db_error)?;
        if self.row_level_security {
            sqlx::query("SET LOCAL ROLE tollgate_tenant")
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            sqlx::query("SELECT set_config('tollgate.tenant_id', $1, true)")
                .bind(scope.tenant_id().to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        Ok(tx)
    }
}
