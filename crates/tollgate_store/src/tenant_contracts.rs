//! A tenant's recurring contracts (seed 003). As for its invoices, every statement filters on
//! the scope's tenant id, so a scope for tenant A reads and writes nothing of B's.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tollgate_core::store::{Page, TenantContractStore};
use tollgate_core::stripe::{StripeEventId, StripeSubscriptionId};
use tollgate_core::tenant::TenantScope;
use tollgate_core::tenant_billing::{InvoiceUpdate, TenantInvoice};
use tollgate_core::tenant_contracts::{ContractInterval, ContractState, TenantContract};
use tollgate_core::{StoreError, TenantContractId, TenantCustomerId, TenantId};

use crate::SqlStore;
use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};
use crate::tenant_billing::{apply_invoice_in, tenant};

const COLUMNS: &str = "id, tenant_id, customer_id, description, currency, unit_amount, \
     billing_interval, quantity, days_until_due, ends_at, status, application_fee_bps, \
     stripe_subscription_id, current_period_end, cancel_at_period_end, paid_through, \
     created_at, updated_at";

fn contract_from_row(row: &AnyRow) -> Result<TenantContract, StoreError> {
    let days: i64 = get(row, "days_until_due")?;
    let bps: i64 = get(row, "application_fee_bps")?;
    Ok(TenantContract {
        id: parse(row, "id", TenantContractId::parse)?,
        tenant_id: parse(row, "tenant_id", TenantId::parse)?,
        customer_id: parse(row, "customer_id", TenantCustomerId::parse)?,
        description: get(row, "description")?,
        currency: get(row, "currency")?,
        unit_amount: get(row, "unit_amount")?,
        interval: parse(row, "billing_interval", |s| {
            ContractInterval::parse(s).ok_or("unknown interval")
        })?,
        quantity: get(row, "quantity")?,
        days_until_due: u32::try_from(days)
            .map_err(|_| StoreError::Corrupt("column days_until_due: out of range".into()))?,
        ends_at: get_opt_time(row, "ends_at")?,
        status: get(row, "status")?,
        application_fee_bps: u32::try_from(bps)
            .map_err(|_| StoreError::Corrupt("column application_fee_bps: out of range".into()))?,
        stripe_subscription_id: get::<Option<String>>(row, "stripe_subscription_id")?
            .map(|id| StripeSubscriptionId::parse(&id))
            .transpose()
            .map_err(|_| {
                StoreError::Corrupt("column stripe_subscription_id: not a subscription id".into())
            })?,
        current_period_end: get_opt_time(row, "current_period_end")?,
        cancel_at_period_end: get::<i64>(row, "cancel_at_period_end")? != 0,
        paid_through: get_opt_time(row, "paid_through")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

#[async_trait]
impl TenantContractStore for SqlStore {
    async fn insert_contract(
        &self,
        scope: &TenantScope,
        contract: &TenantContract,
    ) -> Result<(), StoreError> {
        // The customer must be this tenant's: the INSERT … SELECT writes nothing otherwise.
        let mut tx = self.scoped(&self.write, scope).await?;
        let inserted = sqlx::query(
            "INSERT INTO tenant_contracts (id, tenant_id, customer_id, description, currency, \
             unit_amount, billing_interval, quantity, days_until_due, ends_at, status, \
             application_fee_bps, cancel_at_period_end, created_at, updated_at) \
             SELECT $1, $2, id, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, 0, $12, $12 \
             FROM tenant_customers WHERE tenant_id = $2 AND id = $3",
        )
        .bind(contract.id.to_string())
        .bind(tenant(scope))
        .bind(contract.customer_id.to_string())
        .bind(&contract.description)
        .bind(&contract.currency)
        .bind(contract.unit_amount)
        .bind(contract.interval.as_str())
        .bind(contract.quantity)
        .bind(i64::from(contract.days_until_due))
        .bind(contract.ends_at.map(millis))
        .bind(i64::from(contract.application_fee_bps))
        .bind(millis(contract.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the customer is not this tenant's".into(),
            ));
        }
        Ok(())
    }

    async fn contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
    ) -> Result<Option<TenantContract>, StoreError> {
        let row = self
            .tenant_row(
                scope,
                &format!("SELECT {COLUMNS} FROM tenant_contracts WHERE tenant_id = $1 AND id = $2"),
                id.to_string(),
            )
            .await?;
        row.as_ref().map(contract_from_row).transpose()
    }

    async fn contracts(
        &self,
        scope: &TenantScope,
        page: Page<TenantContractId>,
    ) -> Result<Vec<TenantContract>, StoreError> {
        let rows = self
            .tenant_page("tenant_contracts", COLUMNS, scope, page.before, page.limit)
            .await?;
        rows.iter().map(contract_from_row).collect()
    }

    async fn contract_by_subscription(
        &self,
        scope: &TenantScope,
        subscription: &StripeSubscriptionId,
    ) -> Result<Option<TenantContract>, StoreError> {
        let row = self
            .tenant_row(
                scope,
                &format!(
                    "SELECT {COLUMNS} FROM tenant_contracts \
                     WHERE tenant_id = $1 AND stripe_subscription_id = $2"
                ),
                subscription.as_str().to_string(),
            )
            .await?;
        row.as_ref().map(contract_from_row).transpose()
    }

    async fn delete_pending_contract(
        &self,
        scope: &TenantScope,
        id: TenantContractId,
    ) -> Result<(), StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        sqlx::query(
            "DELETE FROM tenant_contracts WHERE tenant_id = $1 AND id = $2 AND status = 'pending' \
             AND stripe_subscription_id IS NULL",
        )
        .bind(tenant(scope))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn apply_contract_state(
        &self,
        scope: &TenantScope,
        state: &ContractState,
        event: Option<&StripeEventId>,
    ) -> Result<bool, StoreError> {
        if event.is_some() {
            self.fold_journal().await?;
        }
        let mut tx = self.scoped(&self.write, scope).await?;
        // Found by its subscription, or (unlinked) by the contract its metadata names; newer
        // fetches win and canceled is final.
        let written = sqlx::query(
            "UPDATE tenant_contracts SET stripe_subscription_id = $1, status = $2, quantity = $3, \
             current_period_end = $4, cancel_at_period_end = $5, \
             unit_amount = COALESCE($6, unit_amount), synced_at = $7, updated_at = $7 \
             WHERE tenant_id = $8 \
             AND (stripe_subscription_id = $1 OR (stripe_subscription_id IS NULL AND id = $9)) \
             AND status <> 'canceled' AND (synced_at IS NULL OR synced_at <= $7)",
        )
        .bind(state.subscription.as_str())
        .bind(&state.status)
        .bind(state.quantity)
        .bind(millis(state.current_period_end))
        .bind(i64::from(state.cancel_at_period_end))
        .bind(state.unit_amount)
        .bind(millis(state.fetched_at))
        .bind(tenant(scope))
        .bind(state.contract.map(|id| id.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected()
            > 0;
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, state.fetched_at).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(written)
    }

    async fn apply_contract_invoice(
        &self,
        scope: &TenantScope,
        contract: TenantContractId,
        record: Option<&TenantInvoice>,
        update: &InvoiceUpdate,
        paid_through: Option<OffsetDateTime>,
        event: Option<&StripeEventId>,
    ) -> Result<(), StoreError> {
        if event.is_some() {
            self.fold_journal().await?;
        }
        let mut tx = self.scoped(&self.write, scope).await?;
        if let Some(record) = record {
            let lines = serde_json::to_string(&record.lines)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // The first event of an invoice makes its record; a redelivery finds it there.
            sqlx::query(
                "INSERT INTO tenant_invoices (id, tenant_id, customer_id, currency, lines, total, \
                 days_until_due, status, application_fee, stripe_invoice_id, pay_url, contract_id, \
                 created_at, updated_at) \
                 SELECT $1, $2, customer_id, $3, $4, $5, $6, $12, $7, $8, $9, id, $10, $10 \
                 FROM tenant_contracts WHERE tenant_id = $2 AND id = $11 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(tenant(scope))
            .bind(&record.currency)
            .bind(lines)
            .bind(record.total)
            .bind(i64::from(record.days_until_due))
            .bind(record.application_fee)
            .bind(
                record
                    .stripe_invoice_id
                    .as_ref()
                    .map(|id| id.as_str().to_string()),
            )
            .bind(record.pay_url.clone())
            .bind(millis(record.created_at))
            .bind(contract.to_string())
            .bind(record.status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        apply_invoice_in(&mut tx, scope, update).await?;
        if let Some(until) = paid_through {
            sqlx::query(
                "UPDATE tenant_contracts SET paid_through = $1, updated_at = $2 \
                 WHERE tenant_id = $3 AND id = $4 AND (paid_through IS NULL OR paid_through < $1)",
            )
            .bind(millis(until))
            .bind(millis(update.fetched_at))
            .bind(tenant(scope))
            .bind(contract.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, update.fetched_at).await?;
        }
        tx.commit().await.map_err(db_error)
    }
}
