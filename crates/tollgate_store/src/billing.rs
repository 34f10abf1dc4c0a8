//! Stripe customers, checkout sessions, subscriptions and invoices, and `apply_sync`: one
//! transaction per event whose guarded upserts never let an older fetch overwrite a newer one.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;
use tollgate_core::invoice::Invoice;
use tollgate_core::store::BillingStore;
use tollgate_core::store::{SyncApplied, SyncChanges};
use tollgate_core::stripe::{
    CheckoutSessionId, StripeCustomerId, StripeEventId, StripeInvoiceId, StripePriceId,
    StripeSubscriptionId, SubscriptionStatus,
};
use tollgate_core::subscription::Subscription;
use tollgate_core::{StoreError, UserId};

use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};
use crate::outbox::insert_message;
use crate::payments::row_lock;
use crate::payments::{apply_payment, apply_refund};
use crate::{Backend, SqlStore};

pub(crate) const SUBSCRIPTION_COLUMNS: &str = "id, user_id, customer_id, status, price_id, plan_id, quantity, current_period_start, \
     current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end, created_at";

pub(crate) fn subscription_from_row(row: &AnyRow) -> Result<Subscription, StoreError> {
    let quantity: i64 = get(row, "quantity")?;
    let cancel: i64 = get(row, "cancel_at_period_end")?;
    Ok(Subscription {
        id: parse(row, "id", StripeSubscriptionId::parse)?,
        user_id: parse(row, "user_id", UserId::parse)?,
        customer: parse(row, "customer_id", StripeCustomerId::parse)?,
        status: parse(row, "status", |s| {
            SubscriptionStatus::parse(s).ok_or("unknown status")
        })?,
        price: parse(row, "price_id", StripePriceId::parse)?,
        plan: get(row, "plan_id")?,
        quantity: u64::try_from(quantity).unwrap_or(0),
        current_period_start: get_time(row, "current_period_start")?,
        current_period_end: get_time(row, "current_period_end")?,
        cancel_at_period_end: cancel != 0,
        canceled_at: get_opt_time(row, "canceled_at")?,
        ended_at: get_opt_time(row, "ended_at")?,
        trial_end: get_opt_time(row, "trial_end")?,
        created_at: get_time(row, "created_at")?,
    })
}

fn invoice_from_row(row: &AnyRow) -> Result<Invoice, StoreError> {
    let subscription: Option<String> = get(row, "subscription_id")?;
    Ok(Invoice {
        id: parse(row, "id", StripeInvoiceId::parse)?,
        user_id: parse(row, "user_id", UserId::parse)?,
        subscription: subscription
            .map(|s| StripeSubscriptionId::parse(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("column subscription_id: {e}")))?,
        status: get(row, "status")?,
        amount_due: get(row, "amount_due")?,
        amount_paid: get(row, "amount_paid")?,
        currency: get(row, "currency")?,
        paid_at: get_opt_time(row, "paid_at")?,
        hosted_invoice_url: get(row, "hosted_invoice_url")?,
        created_at: get_time(row, "created_at")?,
    })
}

fn opt_millis(at: Option<OffsetDateTime>) -> Option<i64> {
    at.map(millis)
}

#[async_trait]
impl BillingStore for SqlStore {
    async fn stripe_customer_of(
        &self,
        user: UserId,
    ) -> Result<Option<StripeCustomerId>, StoreError> {
        self.lookup_id(
            "SELECT customer_id FROM stripe_customers WHERE user_id = $1",
            &user.to_string(),
            StripeCustomerId::parse,
        )
        .await
    }

    async fn user_of_stripe_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<UserId>, StoreError> {
        self.lookup_id(
            "SELECT user_id FROM stripe_customers WHERE customer_id = $1",
            customer.as_str(),
            UserId::parse,
        )
        .await
    }

    async fn link_stripe_customer(
        &self,
        user: UserId,
        customer: &StripeCustomerId,
        now: OffsetDateTime,
    ) -> Result<StripeCustomerId, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        insert_customer_link(&mut tx, user, customer, now).await?;
        let (linked,): (String,) =
            sqlx::query_as("SELECT customer_id FROM stripe_customers WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        StripeCustomerId::parse(&linked)
            .map_err(|e| StoreError::Corrupt(format!("customer_id: {e}")))
    }

    async fn record_checkout_session(
        &self,
        id: &CheckoutSessionId,
        user: UserId,
        mode: &str,
        plan: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO checkout_sessions (id, user_id, mode, plan_id, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'open', $5, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(user.to_string())
        .bind(mode)
        .bind(plan)
        .bind(millis(now))
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn checkout_session_owner(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<UserId>, StoreError> {
        self.lookup_id(
            "SELECT user_id FROM checkout_sessions WHERE id = $1",
            id.as_str(),
            UserId::parse,
        )
        .await
    }

    async fn subscriptions_of(&self, user: UserId) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user.to_string())
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(subscription_from_row).collect()
    }

    async fn invoices_of(&self, user: UserId, limit: u32) -> Result<Vec<Invoice>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, subscription_id, status, amount_due, amount_paid, currency, paid_at, \
                    hosted_invoice_url, created_at \
             FROM invoices WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(user.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(invoice_from_row).collect()
    }

    async fn last_payment_at(&self, user: UserId) -> Result<Option<OffsetDateTime>, StoreError> {
        let row: (Option<i64>,) = sqlx::query_as(
            "SELECT MAX(paid_at) FROM invoices WHERE user_id = $1 AND status = 'paid'",
        )
        .bind(user.to_string())
        .fetch_one(&self.read)
        .await
        .map_err(db_error)?;
        row.0.map(crate::columns::from_millis).transpose()
    }

    async fn apply_sync(
        &self,
        event: Option<&StripeEventId>,
        changes: &SyncChanges,
    ) -> Result<SyncApplied, StoreError> {
        if event.is_some() {
            // The event it settles must be a row (it is, once claimed; the contract allows any).
            self.fold_journal().await?;
        }
        // Callers stamp fetched_at before asking Stripe; a change without one is applied as now.
        let now = changes.fetched_at.unwrap_or_else(OffsetDateTime::now_utc);
        let synced_at = millis(now);
        let window = (synced_at, changes.fetched_until.map_or(synced_at, millis));
        let mut applied = SyncApplied::default();
        let mut tx = self.write.begin().await.map_err(db_error)?;
        if let Some((user, customer)) = &changes.customer_link {
            insert_customer_link(&mut tx, *user, customer, now).await?;
        }
        if let Some((id, status)) = &changes.checkout_status {
            sqlx::query("UPDATE checkout_sessions SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status)
                .bind(millis(now))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        if let Some(subscription) = &changes.subscription {
            applied.subscription_overlapped =
                upsert_subscription(&mut tx, self.backend(), subscription, window).await?;
        }
        if let Some(invoice) = &changes.invoice {
            upsert_invoice(&mut tx, invoice, synced_at).await?;
        }
        if let Some(payment) = &changes.payment {
            apply_payment(&mut tx, self.backend(), payment).await?;
        }
        for refund in &changes.refunds {
            apply_refund(&mut tx, self.backend(), refund).await?;
        }
        for message in &changes.messages {
            insert_message(&mut tx, message).await?;
        }
        crate::console::refresh_members(&mut tx, changes, now).await?;
        if let Some(event) = event {
            crate::inbox::mark_processed(&mut tx, event, now).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(applied)
    }
}

impl SqlStore {
    /// One text column of at most one row, parsed into a typed id.
    pub(crate) async fn lookup_id<T, E: std::fmt::Display>(
        &self,
        sql: &str,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(sql)
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(db_error)?;
        row.map(|(text,)| parse(&text).map_err(|e| StoreError::Corrupt(format!("{sql}: {e}"))))
            .transpose()
    }
}

async fn insert_customer_link(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
    customer: &StripeCustomerId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO stripe_customers (user_id, customer_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(user.to_string())
    .bind(customer.as_str())
    .bind(millis(now))
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Inserts or updates a subscription unless the stored row was fetched later, or is terminal.
/// `window` is when this snapshot was fetched (request sent, answer received). Returns whether
/// it overlaps the stored snapshot's window: then the two cannot be ordered by their stamps,
/// since a request sent later may still have reached Stripe first, and only a fresh fetch tells.
async fn upsert_subscription(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    s: &Subscription,
    (synced_at, synced_until): (i64, i64),
) -> Result<bool, StoreError> {
    // Locked on PostgreSQL, so a concurrent apply compares against this one's window.
    let stored: Option<(i64, Option<i64>, String)> = sqlx::query_as(&format!(
        "SELECT synced_at, synced_until, status FROM subscriptions WHERE id = $1 {}",
        row_lock(backend)
    ))
    .bind(s.id.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    let overlapped = stored.is_some_and(|(at, until, status)| {
        let until = until.unwrap_or(at);
        let terminal = SubscriptionStatus::parse(&status).is_some_and(|s| s.is_terminal());
        !terminal
            && (at, until) != (synced_at, synced_until)
            && synced_at < until
            && at < synced_until
    });
    sqlx::query(
        "INSERT INTO subscriptions (id, user_id, customer_id, status, price_id, plan_id, quantity, \
             current_period_start, current_period_end, cancel_at_period_end, canceled_at, ended_at, trial_end, \
             created_at, synced_at, synced_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, price_id = excluded.price_id, \
             plan_id = excluded.plan_id, quantity = excluded.quantity, \
             current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end, \
             cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at, \
             ended_at = excluded.ended_at, trial_end = excluded.trial_end, synced_at = excluded.synced_at, \
             synced_until = excluded.synced_until \
         WHERE subscriptions.synced_at <= excluded.synced_at \
           AND subscriptions.status NOT IN ('canceled', 'incomplete_expired')",
    )
    .bind(s.id.as_str())
    .bind(s.user_id.to_string())
    .bind(s.customer.as_str())
    .bind(s.status.as_str())
    .bind(s.price.as_str())
    .bind(s.plan.clone())
    .bind(i64::try_from(s.quantity).unwrap_or(i64::MAX))
    .bind(millis(s.current_period_start))
    .bind(millis(s.current_period_end))
    .bind(i64::from(s.cancel_at_period_end))
    .bind(opt_millis(s.canceled_at))
    .bind(opt_millis(s.ended_at))
    .bind(opt_millis(s.trial_end))
    .bind(millis(s.created_at))
    .bind(synced_at)
    .bind(synced_until)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(overlapped)
}

/// Inserts or updates an invoice unless the stored row was fetched later, or is paid or void.
async fn upsert_invoice(
    tx: &mut Transaction<'_, Any>,
    i: &Invoice,
    synced_at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO invoices (id, user_id, subscription_id, status, amount_due, amount_paid, currency, paid_at, \
             hosted_invoice_url, created_at, synced_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, amount_due = excluded.amount_due, \
             amount_paid = excluded.amount_paid, paid_at = excluded.paid_at, \
             hosted_invoice_url = excluded.hosted_invoice_url, synced_at = excluded.synced_at \
         WHERE invoices.synced_at <= excluded.synced_at AND invoices.status NOT IN ('paid', 'void')",
    )
    .bind(i.id.as_str())
    .bind(i.user_id.to_string())
    .bind(i.subscription.as_ref().map(|s| s.as_str().to_string()))
    .bind(&i.status)
    .bind(i.amount_due)
    .bind(i.amount_paid)
    .bind(&i.currency)
    .bind(opt_millis(i.paid_at))
    .bind(i.hosted_invoice_url.clone())
    .bind(millis(i.created_at))
    .bind(synced_at)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}
