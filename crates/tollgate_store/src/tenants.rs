//! Tenants of a platform and their connected accounts (seed 003). Every statement about one
//! tenant filters on the scope's tenant id, so a scope for tenant A can never read or change B.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;
use tollgate_core::audit::AuditEntry;
use tollgate_core::connect::{AccountKind, AccountSnapshot, Requirements};
use tollgate_core::fee::FeePolicy;
use tollgate_core::inbox::InboxEvent;
use tollgate_core::store::{Page, TenantStore};
use tollgate_core::stripe::{StripeAccountId, StripeEventId};
use tollgate_core::tenant::{ConnectState, Tenant, TenantScope, TenantStatus};
use tollgate_core::{Email, StoreError, TenantId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};
use crate::inbox::{EVENT_COLUMNS, event_from_row};

const COLUMNS: &str = "id, name, email, country, fee_bps, fee_fixed, status, stripe_account_id, \
     account_kind, charges_enabled, payouts_enabled, details_submitted, requirements, \
     account_synced_at, created_at, updated_at";

fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    let corrupt =
        |column: &str, what: &str| StoreError::Corrupt(format!("column {column}: {what}"));
    let account: Option<String> = get(row, "stripe_account_id")?;
    let kind: Option<String> = get(row, "account_kind")?;
    let connect = match get_opt_time(row, "account_synced_at")? {
        Some(synced_at) => {
            let requirements: Option<String> = get(row, "requirements")?;
            let flag = |column: &str| -> Result<bool, StoreError> {
                Ok(get::<Option<i64>>(row, column)?.unwrap_or(0) != 0)
            };
            Some(ConnectState {
                charges_enabled: flag("charges_enabled")?,
                payouts_enabled: flag("payouts_enabled")?,
                details_submitted: flag("details_submitted")?,
                requirements: requirements
                    .map(|text| serde_json::from_str::<Requirements>(&text))
                    .transpose()
                    .map_err(|e| corrupt("requirements", &e.to_string()))?
                    .unwrap_or_default(),
                synced_at,
            })
        }
        None => None,
    };
    let fee_bps: i64 = get(row, "fee_bps")?;
    Ok(Tenant {
        id: parse(row, "id", TenantId::parse)?,
        name: get(row, "name")?,
        email: parse(row, "email", Email::parse)?,
        country: get(row, "country")?,
        fees: FeePolicy::new(fee_bps, get(row, "fee_fixed")?)
            .map_err(|e| corrupt("fee_bps", &e.to_string()))?,
        status: parse(row, "status", |s| {
            TenantStatus::parse(s).ok_or("unknown status")
        })?,
        account_id: account
            .map(|a| StripeAccountId::parse(&a))
            .transpose()
            .map_err(|_| corrupt("stripe_account_id", "not an account id"))?,
        account_kind: kind
            .map(|k| AccountKind::parse(&k).map(AccountKind::as_str))
            .map(|k| k.ok_or_else(|| corrupt("account_kind", "unknown kind")))
            .transpose()?,
        connect,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

impl SqlStore {
    async fn tenant_where(
        &self,
        condition: &str,
        value: String,
    ) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tenants WHERE {condition} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn tenant_in(
        tx: &mut Transaction<'_, Any>,
        scope: &TenantScope,
    ) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
            .bind(scope.tenant_id().to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        row.as_ref().map(tenant_from_row).transpose()
    }
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn insert_tenant(&self, tenant: &Tenant, audit: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO tenants (id, name, email, country, fee_bps, fee_fixed, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(tenant.id.to_string())
        .bind(&tenant.name)
        .bind(tenant.email.as_str().to_string())
        .bind(&tenant.country)
        .bind(i64::from(tenant.fees.bps))
        .bind(tenant.fees.fixed)
        .bind(tenant.status.as_str())
        .bind(millis(tenant.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn tenant(&self, scope: &TenantScope) -> Result<Option<Tenant>, StoreError> {
        let mut tx = self.scoped(&self.read, scope).await?;
        let tenant = Self::tenant_in(&mut tx, scope).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(tenant)
    }

    async fn tenants(&self, page: Page<TenantId>) -> Result<Vec<Tenant>, StoreError> {
        // Keyset: the page starts below the previous page's last (created_at, id).
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tenants \
             WHERE $1 IS NULL OR (created_at, id) < (SELECT created_at, id FROM tenants WHERE id = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(page.before.map(|id| id.to_string()))
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn tenant_by_account(
        &self,
        account: &StripeAccountId,
    ) -> Result<Option<Tenant>, StoreError> {
        self.tenant_where("stripe_account_id", account.as_str().to_string())
            .await
    }

    async fn update_tenant_fees(
        &self,
        scope: &TenantScope,
        fees: FeePolicy,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<Option<Tenant>, StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        let updated = sqlx::query(
            "UPDATE tenants SET fee_bps = $1, fee_fixed = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(i64::from(fees.bps))
        .bind(fees.fixed)
        .bind(millis(now))
        .bind(scope.tenant_id().to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        insert_audit(&mut *tx, audit).await?;
        let tenant = Self::tenant_in(&mut tx, scope).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(tenant)
    }

    async fn link_tenant_account(
        &self,
        scope: &TenantScope,
        account: &StripeAccountId,
        kind: &str,
        now: OffsetDateTime,
    ) -> Result<StripeAccountId, StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        sqlx::query(
            "UPDATE tenants SET stripe_account_id = $1, account_kind = $2, updated_at = $3 \
             WHERE id = $4 AND stripe_account_id IS NULL",
        )
        .bind(account.as_str())
        .bind(kind)
        .bind(millis(now))
        .bind(scope.tenant_id().to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let linked = Self::tenant_in(&mut tx, scope)
            .await?
            .and_then(|t| t.account_id)
            .ok_or_else(|| StoreError::Corrupt("the tenant vanished while linking".into()))?;
        tx.commit().await.map_err(db_error)?;
        Ok(linked)
    }

    async fn record_account_state(
        &self,
        scope: &TenantScope,
        snapshot: &AccountSnapshot,
        fetched_at: OffsetDateTime,
        event: Option<&StripeEventId>,
    ) -> Result<bool, StoreError> {
        if event.is_some() {
            self.fold_journal().await?;
        }
        let requirements = serde_json::to_string(&snapshot.requirements)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.scoped(&self.write, scope).await?;
        // Only the account this tenant linked, and only a fetch newer than the stored one.
        let written = sqlx::query(
            "UPDATE tenants SET charges_enabled = $1, payouts_enabled = $2, details_submitted = $3, \
             requirements = $4, account_synced_at = $5, updated_at = $5 \
             WHERE id = $6 AND stripe_account_id = $7 \
             AND (account_synced_at IS NULL OR account_synced_at < $5)",
        )
        .bind(i64::from(snapshot.charges_enabled))
        .bind(i64::from(snapshot.payouts_enabled))
        .bind(i64::from(snapshot.details_submitted))
        .bind(requirements)
        .bind(millis(fetched_at))
        .bind(scope.tenant_id().to_string())
        .bind(snapshot.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            > 0;
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, fetched_at).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(written)
    }

    async fn record_unrouted(
        &self,
        event: &StripeEventId,
        account: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.fold_journal().await?;
        let mut tx = self.write.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO unrouted_events (event_id, stripe_account, recorded_at) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.as_str())
        .bind(account)
        .bind(millis(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "UPDATE stripe_events SET status = 'ignored', processed_at = $1, locked_until = NULL, \
             last_error = $2 WHERE id = $3",
        )
        .bind(millis(now))
        .bind(format!("unrouted: no tenant has the account {account}"))
        .bind(event.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn unrouted_events(&self, limit: u32) -> Result<Vec<InboxEvent>, StoreError> {
        self.fold_journal().await?;
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM stripe_events \
             JOIN unrouted_events ON unrouted_events.event_id = stripe_events.id \
             ORDER BY unrouted_events.recorded_at DESC, unrouted_events.event_id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn deauthorize_tenant(
        &self,
        scope: &TenantScope,
        now: OffsetDateTime,
        audit: &AuditEntry,
        event: Option<&StripeEventId>,
    ) -> Result<(), StoreError> {
        if event.is_some() {
            self.fold_journal().await?;
        }
        let mut tx = self.scoped(&self.write, scope).await?;
        let changed = sqlx::query(
            "UPDATE tenants SET status = 'deauthorized', charges_enabled = 0, payouts_enabled = 0, \
             updated_at = $1 WHERE id = $2 AND status <> 'deauthorized'",
        )
        .bind(millis(now))
        .bind(scope.tenant_id().to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        // A redelivered deauthorization audits nothing twice.
        if changed > 0 {
            insert_audit(&mut *tx, audit).await?;
        }
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, now).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn tenant_test_clock(&self, scope: &TenantScope) -> Result<Option<String>, StoreError> {
        let mut tx = self.scoped(&self.read, scope).await?;
        let clock: Option<(Option<String>,)> =
            sqlx::query_as("SELECT test_clock FROM tenants WHERE id = $1")
                .bind(scope.tenant_id().to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(clock.and_then(|(clock,)| clock))
    }

    async fn set_tenant_test_clock(
        &self,
        scope: &TenantScope,
        clock: &str,
    ) -> Result<String, StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        sqlx::query("UPDATE tenants SET test_clock = COALESCE(test_clock, $1) WHERE id = $2")
            .bind(clock)
            .bind(scope.tenant_id().to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let (stored,): (Option<String>,) =
            sqlx::query_as("SELECT test_clock FROM tenants WHERE id = $1")
                .bind(scope.tenant_id().to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        stored.ok_or_else(|| StoreError::Corrupt("a test clock stored and gone".into()))
    }

    async fn tenant_test_clocks(&self) -> Result<Vec<(StripeAccountId, String)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT stripe_account_id, test_clock FROM tenants \
             WHERE test_clock IS NOT NULL AND stripe_account_id IS NOT NULL ORDER BY id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(account, clock)| {
                StripeAccountId::parse(&account)
                    .map(|account| (account, clock))
                    .map_err(|_| {
                        StoreError::Corrupt("column stripe_account_id: not an account id".into())
                    })
            })
            .collect()
    }
}
