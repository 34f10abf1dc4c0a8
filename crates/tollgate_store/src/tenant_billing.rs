//! A tenant's customers and invoices (seed 003). Every statement filters on the scope's tenant
//! id, so a scope for tenant A reads and writes nothing of B's, whatever id it is handed.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use tollgate_core::connect::{ChargeAmounts, InvoiceLine};
use tollgate_core::store::RefundAdmission;
use tollgate_core::store::{Page, TenantBillingStore};
use tollgate_core::stripe::{
    StripeCustomerId, StripeEventId, StripeInvoiceId, StripePaymentIntentId, StripeRefundId,
};
use tollgate_core::tenant::TenantScope;
use tollgate_core::tenant_billing::{
    InvoiceStatus, InvoiceUpdate, TenantCustomer, TenantInvoice, TenantRefund,
};
use tollgate_core::{
    Email, StoreError, TenantContractId, TenantCustomerId, TenantId, TenantInvoiceId,
    TenantRefundId,
};

use crate::SqlStore;
use crate::columns::{db_error, get, get_time, millis, parse};

const CUSTOMER_COLUMNS: &str = "id, tenant_id, email, name, stripe_customer_id, created_at";
const INVOICE_COLUMNS: &str = "id, tenant_id, customer_id, currency, lines, total, days_until_due, \
     status, application_fee, stripe_invoice_id, pay_url, amount_gross, amount_stripe_fee, \
     amount_application_fee, amount_net, failure, payment_intent, contract_id, created_at, updated_at";
const REFUND_COLUMNS: &str = "id, tenant_id, invoice_id, amount, refund_application_fee, status, stripe_refund_id, created_at";

fn refund_from_row(row: &AnyRow) -> Result<TenantRefund, StoreError> {
    let stripe_id: Option<String> = get(row, "stripe_refund_id")?;
    Ok(TenantRefund {
        id: parse(row, "id", TenantRefundId::parse)?,
        tenant_id: parse(row, "tenant_id", TenantId::parse)?,
        invoice_id: parse(row, "invoice_id", TenantInvoiceId::parse)?,
        amount: get(row, "amount")?,
        refund_application_fee: get::<i64>(row, "refund_application_fee")? != 0,
        status: get(row, "status")?,
        stripe_refund_id: stripe_id
            .map(|id| StripeRefundId::parse(&id))
            .transpose()
            .map_err(|_| StoreError::Corrupt("column stripe_refund_id: not a refund id".into()))?,
        created_at: get_time(row, "created_at")?,
    })
}

/// Stripe's refund statuses, as stored (`requires_action` is still pending here).
fn refund_status(status: &str) -> &'static str {
    match status {
        "succeeded" => "succeeded",
        "failed" => "failed",
        "canceled" => "canceled",
        _ => "pending",
    }
}

fn customer_from_row(row: &AnyRow) -> Result<TenantCustomer, StoreError> {
    Ok(TenantCustomer {
        id: parse(row, "id", TenantCustomerId::parse)?,
        tenant_id: parse(row, "tenant_id", TenantId::parse)?,
        email: parse(row, "email", Email::parse)?,
        name: get(row, "name")?,
        stripe_customer_id: parse(row, "stripe_customer_id", StripeCustomerId::parse)?,
        created_at: get_time(row, "created_at")?,
    })
}

pub(crate) fn invoice_from_row(row: &AnyRow) -> Result<TenantInvoice, StoreError> {
    let lines: String = get(row, "lines")?;
    let lines: Vec<InvoiceLine> = serde_json::from_str(&lines)
        .map_err(|e| StoreError::Corrupt(format!("column lines: {e}")))?;
    let stripe_id: Option<String> = get(row, "stripe_invoice_id")?;
    let gross: Option<i64> = get(row, "amount_gross")?;
    let amounts = match gross {
        Some(gross) => Some(ChargeAmounts {
            gross,
            stripe_fee: get::<Option<i64>>(row, "amount_stripe_fee")?.unwrap_or(0),
            application_fee: get::<Option<i64>>(row, "amount_application_fee")?.unwrap_or(0),
            net: get::<Option<i64>>(row, "amount_net")?.unwrap_or(0),
        }),
        None => None,
    };
    let days: i64 = get(row, "days_until_due")?;
    Ok(TenantInvoice {
        id: parse(row, "id", TenantInvoiceId::parse)?,
        tenant_id: parse(row, "tenant_id", TenantId::parse)?,
        customer_id: parse(row, "customer_id", TenantCustomerId::parse)?,
        currency: get(row, "currency")?,
        lines,
        total: get(row, "total")?,
        days_until_due: u32::try_from(days)
            .map_err(|_| StoreError::Corrupt("column days_until_due: out of range".into()))?,
        status: parse(row, "status", |s| {
            InvoiceStatus::parse(s).ok_or("unknown status")
        })?,
        application_fee: get(row, "application_fee")?,
        stripe_invoice_id: stripe_id
            .map(|id| StripeInvoiceId::parse(&id))
            .transpose()
            .map_err(|_| {
                StoreError::Corrupt("column stripe_invoice_id: not an invoice id".into())
            })?,
        pay_url: get(row, "pay_url")?,
        amounts,
        failure: get(row, "failure")?,
        payment_intent: get::<Option<String>>(row, "payment_intent")?
            .map(|id| StripePaymentIntentId::parse(&id))
            .transpose()
            .map_err(|_| StoreError::Corrupt("column payment_intent: not an intent id".into()))?,
        contract_id: get::<Option<String>>(row, "contract_id")?
            .map(|id| TenantContractId::parse(&id))
            .transpose()
            .map_err(|_| StoreError::Corrupt("column contract_id: not a contract id".into()))?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
    })
}

pub(crate) fn tenant(scope: &TenantScope) -> String {
    scope.tenant_id().to_string()
}

/// What is refunded or being refunded of one invoice.
const REFUNDED: &str = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM tenant_refunds \
     WHERE tenant_id = $1 AND invoice_id = $2 AND status IN ('pending', 'succeeded')";

/// Applies Stripe's state of an invoice to its record within `tx`: newer fetches win, and a
/// final status (paid, void) is never left. Returns whether it wrote.
pub(crate) async fn apply_invoice_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    scope: &TenantScope,
    update: &InvoiceUpdate,
) -> Result<bool, StoreError> {
    let amounts = update.amounts;
    Ok(sqlx::query(
        "UPDATE tenant_invoices SET status = $1, pay_url = COALESCE($2, pay_url), \
         amount_gross = COALESCE($3, amount_gross), amount_stripe_fee = COALESCE($4, amount_stripe_fee), \
         amount_application_fee = COALESCE($5, amount_application_fee), \
         amount_net = COALESCE($6, amount_net), failure = COALESCE($7, failure), \
         payment_intent = COALESCE($11, payment_intent), \
         synced_at = $8, updated_at = $8 \
         WHERE tenant_id = $9 AND stripe_invoice_id = $10 \
         AND status NOT IN ('paid', 'void') AND (synced_at IS NULL OR synced_at <= $8)",
    )
    .bind(update.status.as_str())
    .bind(update.pay_url.clone())
    .bind(amounts.map(|a| a.gross))
    .bind(amounts.map(|a| a.stripe_fee))
    .bind(amounts.map(|a| a.application_fee))
    .bind(amounts.map(|a| a.net))
    .bind(update.failure.clone())
    .bind(millis(update.fetched_at))
    .bind(tenant(scope))
    .bind(update.stripe_invoice_id.as_str())
    .bind(update.payment_intent.as_ref().map(|p| p.as_str().to_string()))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?
    .rows_affected()
        > 0)
}

impl SqlStore {
    /// At most one of the tenant's rows: `sql` filters on `tenant_id = $1` and binds `key` as `$2`.
    pub(crate) async fn tenant_row(
        &self,
        scope: &TenantScope,
        sql: &str,
        key: String,
    ) -> Result<Option<AnyRow>, StoreError> {
        let mut tx = self.scoped(&self.read, scope).await?;
        let row = sqlx::query(sql)
            .bind(tenant(scope))
            .bind(key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(row)
    }

    /// One keyset page of a tenant's rows, newest first, below the previous page's last id.
    pub(crate) async fn tenant_page(
        &self,
        table: &str,
        columns: &str,
        scope: &TenantScope,
        before: Option<impl ToString>,
        limit: u32,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let mut tx = self.scoped(&self.read, scope).await?;
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM {table} WHERE tenant_id = $1 \
             AND ($2 IS NULL OR (created_at, id) < \
                  (SELECT created_at, id FROM {table} WHERE tenant_id = $1 AND id = $2)) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(tenant(scope))
        .bind(before.map(|id| id.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(rows)
    }
}

#[async_trait]
impl TenantBillingStore for SqlStore {
    async fn insert_tenant_customer(
        &self,
        scope: &TenantScope,
        customer: &TenantCustomer,
    ) -> Result<TenantCustomer, StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        sqlx::query(
            "INSERT INTO tenant_customers (id, tenant_id, email, name, stripe_customer_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(customer.id.to_string())
        .bind(tenant(scope))
        .bind(customer.email.as_str().to_string())
        .bind(customer.name.clone())
        .bind(customer.stripe_customer_id.as_str())
        .bind(millis(customer.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let row = sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM tenant_customers WHERE tenant_id = $1 AND lower(email) = lower($2)"
        ))
        .bind(tenant(scope))
        .bind(customer.email.as_str().to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        customer_from_row(&row)
    }

    async fn tenant_customer(
        &self,
        scope: &TenantScope,
        id: TenantCustomerId,
    ) -> Result<Option<TenantCustomer>, StoreError> {
        let row = self
            .tenant_row(scope, &format!("SELECT {CUSTOMER_COLUMNS} FROM tenant_customers WHERE tenant_id = $1 AND id = $2"), id.to_string())
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    async fn tenant_customer_by_email(
        &self,
        scope: &TenantScope,
        email: &Email,
    ) -> Result<Option<TenantCustomer>, StoreError> {
        let row = self
            .tenant_row(scope, &format!("SELECT {CUSTOMER_COLUMNS} FROM tenant_customers WHERE tenant_id = $1 AND lower(email) = lower($2)"), email.as_str().to_string())
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    async fn tenant_customers(
        &self,
        scope: &TenantScope,
        page: Page<TenantCustomerId>,
    ) -> Result<Vec<TenantCustomer>, StoreError> {
        let rows = self
            .tenant_page(
                "tenant_customers",
                CUSTOMER_COLUMNS,
                scope,
                page.before,
                page.limit,
            )
            .await?;
        rows.iter().map(customer_from_row).collect()
    }

    async fn insert_tenant_invoice(
        &self,
        scope: &TenantScope,
        invoice: &TenantInvoice,
    ) -> Result<(), StoreError> {
        let lines = serde_json::to_string(&invoice.lines)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // The customer must be this tenant's: the INSERT … SELECT writes nothing otherwise.
        let mut tx = self.scoped(&self.write, scope).await?;
        let inserted = sqlx::query(
            "INSERT INTO tenant_invoices (id, tenant_id, customer_id, currency, lines, total, \
             days_until_due, status, created_at, updated_at) \
             SELECT $1, $2, id, $4, $5, $6, $7, 'draft', $8, $8 FROM tenant_customers \
             WHERE tenant_id = $2 AND id = $3",
        )
        .bind(invoice.id.to_string())
        .bind(tenant(scope))
        .bind(invoice.customer_id.to_string())
        .bind(&invoice.currency)
        .bind(lines)
        .bind(invoice.total)
        .bind(i64::from(invoice.days_until_due))
        .bind(millis(invoice.created_at))
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

    async fn tenant_invoice(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
    ) -> Result<Option<TenantInvoice>, StoreError> {
        let row = self
            .tenant_row(
                scope,
                &format!(
                    "SELECT {INVOICE_COLUMNS} FROM tenant_invoices WHERE tenant_id = $1 AND id = $2"
                ),
                id.to_string(),
            )
            .await?;
        row.as_ref().map(invoice_from_row).transpose()
    }

    async fn tenant_invoices(
        &self,
        scope: &TenantScope,
        page: Page<TenantInvoiceId>,
    ) -> Result<Vec<TenantInvoice>, StoreError> {
        let rows = self
            .tenant_page(
                "tenant_invoices",
                INVOICE_COLUMNS,
                scope,
                page.before,
                page.limit,
            )
            .await?;
        rows.iter().map(invoice_from_row).collect()
    }

    async fn mark_tenant_invoice_sent(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
        application_fee: i64,
        update: &InvoiceUpdate,
    ) -> Result<(), StoreError> {
        // An event of the sent invoice may have been applied already: never move it back.
        let mut tx = self.scoped(&self.write, scope).await?;
        sqlx::query(
            "UPDATE tenant_invoices SET stripe_invoice_id = $1, application_fee = $2, \
             pay_url = COALESCE(pay_url, $3), \
             status = CASE WHEN status = 'draft' THEN $4 ELSE status END, \
             synced_at = COALESCE(synced_at, $5), updated_at = $5 \
             WHERE tenant_id = $6 AND id = $7",
        )
        .bind(update.stripe_invoice_id.as_str())
        .bind(application_fee)
        .bind(update.pay_url.clone())
        .bind(update.status.as_str())
        .bind(millis(update.fetched_at))
        .bind(tenant(scope))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn void_tenant_draft(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        sqlx::query(
            "UPDATE tenant_invoices SET status = 'void', updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND status = 'draft'",
        )
        .bind(millis(now))
        .bind(tenant(scope))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn apply_tenant_invoice(
        &self,
        scope: &TenantScope,
        update: &InvoiceUpdate,
        event: Option<&StripeEventId>,
    ) -> Result<bool, StoreError> {
        if event.is_some() {
            self.fold_journal().await?;
        }
        let mut tx = self.scoped(&self.write, scope).await?;
        let written = apply_invoice_in(&mut tx, scope, update).await?;
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, update.fetched_at).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(written)
    }

    async fn admit_tenant_refund(
        &self,
        scope: &TenantScope,
        refund: &TenantRefund,
        gross: i64,
    ) -> Result<RefundAdmission, StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        // The invoice's row is locked (PostgreSQL; SQLite has one writer), so two refunds at
        // once cannot both see room for themselves.
        let paid: Option<(String,)> = sqlx::query_as(&format!(
            "SELECT status FROM tenant_invoices WHERE tenant_id = $1 AND id = $2 {}",
            crate::payments::row_lock(self.backend())
        ))
        .bind(tenant(scope))
        .bind(refund.invoice_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if paid.is_none_or(|(status,)| status != "paid") {
            return Ok(RefundAdmission::NotRefundable);
        }
        let (taken,): (i64,) = sqlx::query_as(REFUNDED)
            .bind(tenant(scope))
            .bind(refund.invoice_id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let remaining = gross - taken;
        if refund.amount > remaining {
            return Ok(RefundAdmission::ExceedsRemaining { remaining });
        }
        sqlx::query(
            "INSERT INTO tenant_refunds (id, tenant_id, invoice_id, amount, refund_application_fee, \
             status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
        )
        .bind(refund.id.to_string())
        .bind(tenant(scope))
        .bind(refund.invoice_id.to_string())
        .bind(refund.amount)
        .bind(i64::from(refund.refund_application_fee))
        .bind(millis(refund.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(RefundAdmission::Admitted)
    }

    async fn link_tenant_refund(
        &self,
        scope: &TenantScope,
        id: TenantRefundId,
        stripe_refund_id: &StripeRefundId,
        status: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.scoped(&self.write, scope).await?;
        // The refund's event may have settled it already: a pending answer never undoes that.
        sqlx::query(
            "UPDATE tenant_refunds SET stripe_refund_id = $1, \
             status = CASE WHEN status = 'pending' THEN $2 ELSE status END, updated_at = $3 \
             WHERE tenant_id = $4 AND id = $5",
        )
        .bind(stripe_refund_id.as_str())
        .bind(refund_status(status))
        .bind(millis(now))
        .bind(tenant(scope))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn apply_tenant_refund(
        &self,
        scope: &TenantScope,
        stripe_refund_id: &StripeRefundId,
        status: &str,
        now: OffsetDateTime,
        event: Option<&StripeEventId>,
    ) -> Result<(), StoreError> {
        if event.is_some() {
            self.fold_journal().await?;
        }
        let mut tx = self.scoped(&self.write, scope).await?;
        // Only a pending refund moves; a settled one stays as Stripe first settled it.
        sqlx::query(
            "UPDATE tenant_refunds SET status = $1, updated_at = $2 \
             WHERE tenant_id = $3 AND stripe_refund_id = $4 AND status = 'pending'",
        )
        .bind(refund_status(status))
        .bind(millis(now))
        .bind(tenant(scope))
        .bind(stripe_refund_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, now).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn tenant_refunded(
        &self,
        scope: &TenantScope,
        invoice: TenantInvoiceId,
    ) -> Result<i64, StoreError> {
        let mut tx = self.scoped(&self.read, scope).await?;
        let (taken,): (i64,) = sqlx::query_as(REFUNDED)
            .bind(tenant(scope))
            .bind(invoice.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(taken)
    }

    async fn tenant_refunds(
        &self,
        scope: &TenantScope,
        invoice: TenantInvoiceId,
    ) -> Result<Vec<TenantRefund>, StoreError> {
        let mut tx = self.scoped(&self.read, scope).await?;
        let rows = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM tenant_refunds WHERE tenant_id = $1 AND invoice_id = $2 \
             ORDER BY created_at, id"
        ))
        .bind(tenant(scope))
        .bind(invoice.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        rows.iter().map(refund_from_row).collect()
    }
}
