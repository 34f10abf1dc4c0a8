//! Payments and refunds: status moves only forward (checked on the locked row), a completed
//! payment grants its credits and any referral bonus in the same transaction, and a succeeded
//! refund takes back its share of credits once, whichever events report it and how often.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;
use tollgate_core::audit::AuditEntry;
use tollgate_core::ledger::{self, EntrySource, Grant};
use tollgate_core::money::{Currency, Money};
use tollgate_core::payment::{
    NewPayment, NewRefund, Payment, PaymentKind, PaymentOutcome, PaymentStatus, Refund,
    RefundOutcome, RefundStatus,
};
use tollgate_core::store::PaymentStore;
use tollgate_core::store::{Page, PaymentFilter, RefundAdmission};
use tollgate_core::stripe::{
    CheckoutSessionId, StripeChargeId, StripePaymentIntentId, StripeRefundId,
};
use tollgate_core::{PaymentId, RefundId, StoreError, UserId};

use crate::SqlStore;
use crate::audit::insert_audit;
use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};
use crate::database::Backend;
use crate::ledger::grant;

const PAYMENT_COLUMNS: &str = "id, user_id, kind, package_id, amount, currency, credits, status, refunded_amount, \
     stripe_checkout_session_id, stripe_payment_intent_id, stripe_charge_id, description, created_at, completed_at";

const REFUND_COLUMNS: &str = "refunds.id, refunds.payment_id, refunds.amount, payments.currency, refunds.status, \
     refunds.reason, refunds.admin_id, refunds.stripe_refund_id, refunds.credits_reversed, refunds.created_at";

fn optional<T, E: std::fmt::Display>(
    row: &AnyRow,
    column: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, StoreError> {
    get::<Option<String>>(row, column)?
        .map(|text| parse(&text).map_err(|e| StoreError::Corrupt(format!("column {column}: {e}"))))
        .transpose()
}

fn payment_from_row(row: &AnyRow) -> Result<Payment, StoreError> {
    let currency = parse(row, "currency", Currency::parse)?;
    Ok(Payment {
        id: parse(row, "id", PaymentId::parse)?,
        user_id: parse(row, "user_id", UserId::parse)?,
        kind: parse(row, "kind", |k| PaymentKind::parse(k).ok_or("unknown kind"))?,
        package: get(row, "package_id")?,
        amount: get(row, "amount")?,
        currency,
        credits: get(row, "credits")?,
        status: parse(row, "status", |s| {
            PaymentStatus::parse(s).ok_or("unknown status")
        })?,
        refunded_amount: get(row, "refunded_amount")?,
        stripe_checkout_session_id: optional(
            row,
            "stripe_checkout_session_id",
            CheckoutSessionId::parse,
        )?,
        stripe_payment_intent_id: optional(
            row,
            "stripe_payment_intent_id",
            StripePaymentIntentId::parse,
        )?,
        stripe_charge_id: optional(row, "stripe_charge_id", StripeChargeId::parse)?,
        description: get(row, "description")?,
        created_at: get_time(row, "created_at")?,
        completed_at: get_opt_time(row, "completed_at")?,
    })
}

fn refund_from_row(row: &AnyRow) -> Result<Refund, StoreError> {
    Ok(Refund {
        id: parse(row, "id", RefundId::parse)?,
        payment_id: parse(row, "payment_id", PaymentId::parse)?,
        amount: get(row, "amount")?,
        currency: parse(row, "currency", Currency::parse)?,
        status: parse(row, "status", |s| {
            RefundStatus::parse(s).ok_or("unknown status")
        })?,
        reason: get(row, "reason")?,
        admin_id: optional(row, "admin_id", UserId::parse)?,
        stripe_refund_id: optional(row, "stripe_refund_id", StripeRefundId::parse)?,
        credits_reversed: get(row, "credits_reversed")?,
        created_at: get_time(row, "created_at")?,
    })
}

/// PostgreSQL locks the row for the rest of the transaction; SQLite's one writer already
/// serialises every write transaction.
pub(crate) fn row_lock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "FOR UPDATE",
        Backend::Sqlite => "",
    }
}

async fn locked_payment(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    id: PaymentId,
) -> Result<Option<Payment>, StoreError> {
    sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1 {}",
        row_lock(backend)
    ))
    .bind(id.to_string())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?
    .as_ref()
    .map(payment_from_row)
    .transpose()
}

#[async_trait]
impl PaymentStore for SqlStore {
    async fn insert_payment(&self, p: &NewPayment) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO payments (id, user_id, kind, package_id, amount, currency, credits, status, \
                 description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $9)",
        )
        .bind(p.id.to_string())
        .bind(p.user_id.to_string())
        .bind(p.kind.as_str())
        .bind(p.package.clone())
        .bind(p.amount.minor)
        .bind(p.amount.currency.as_str())
        .bind(p.credits)
        .bind(p.description.clone())
        .bind(millis(p.created_at))
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn link_payment(
        &self,
        payment: PaymentId,
        session: Option<&CheckoutSessionId>,
        intent: Option<&StripePaymentIntentId>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE payments SET stripe_checkout_session_id = COALESCE(stripe_checkout_session_id, $1), \
                 stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, $2), updated_at = $3 \
             WHERE id = $4",
        )
        .bind(session.map(|s| s.as_str().to_string()))
        .bind(intent.map(|i| i.as_str().to_string()))
        .bind(millis(now))
        .bind(payment.to_string())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn cancel_unstarted_payment(
        &self,
        payment: PaymentId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE payments SET status = 'canceled', updated_at = $1 \
             WHERE id = $2 AND status = 'pending' \
               AND stripe_checkout_session_id IS NULL AND stripe_payment_intent_id IS NULL",
        )
        .bind(millis(now))
        .bind(payment.to_string())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: Page<PaymentId>,
    ) -> Result<Vec<Payment>, StoreError> {
        // Keyset pagination on (created_at, id), newest first.
        let rows = sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR status = $2) \
               AND ($3 IS NULL OR (created_at, id) < (SELECT created_at, id FROM payments WHERE id = $3)) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        ))
        .bind(filter.user.map(|u| u.to_string()))
        .bind(filter.status.map(PaymentStatus::as_str))
        .bind(page.before.map(|id| id.to_string()))
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(payment_from_row).collect()
    }

    async fn admit_refund(
        &self,
        refund: &NewRefund,
        audit: &AuditEntry,
    ) -> Result<RefundAdmission, StoreError> {
        let mut tx = self.write.begin().await.map_err(db_error)?;
        let Some(payment) = locked_payment(&mut tx, self.backend(), refund.payment_id).await?
        else {
            return Ok(RefundAdmission::NotRefundable);
        };
        if !payment.status.was_paid() {
            return Ok(RefundAdmission::NotRefundable);
        }
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE payment_id = $1 AND status = 'pending'",
        )
        .bind(payment.id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let remaining = payment.refundable() - pending;
        if refund.amount > remaining {
            return Ok(RefundAdmission::ExceedsRemaining {
                remaining: remaining.max(0),
            });
        }
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, amount, reason, admin_id, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(refund.id.to_string())
        .bind(refund.payment_id.to_string())
        .bind(refund.amount)
        .bind(refund.reason.clone())
        .bind(refund.admin_id.to_string())
        .bind(millis(refund.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(RefundAdmission::Admitted)
    }

    async fn link_refund(
        &self,
        refund: RefundId,
        stripe_refund: &StripeRefundId,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // An event may have created the row under Stripe's id already: keep that one.
        sqlx::query(
            "UPDATE refunds SET stripe_refund_id = $1 WHERE id = $2 AND stripe_refund_id IS NULL \
               AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.stripe_refund_id = $1)",
        )
        .bind(stripe_refund.as_str())
        .bind(refund.to_string())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn fail_refund(&self, refund: RefundId, _now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE refunds SET status = 'failed' WHERE id = $1 AND status = 'pending' AND settled_at IS NULL",
        )
        .bind(refund.to_string())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        self.find_payment("id", &id.to_string()).await
    }

    async fn payment_by_checkout(
        &self,
        session: &CheckoutSessionId,
    ) -> Result<Option<Payment>, StoreError> {
        self.find_payment("stripe_checkout_session_id", session.as_str())
            .await
    }

    async fn payment_by_intent(
        &self,
        intent: &StripePaymentIntentId,
    ) -> Result<Option<Payment>, StoreError> {
        self.find_payment("stripe_payment_intent_id", intent.as_str())
            .await
    }

    async fn refund(&self, id: RefundId) -> Result<Option<Refund>, StoreError> {
        Ok(self.find_refunds("id", &id.to_string()).await?.pop())
    }

    async fn refunds_of(&self, payment: PaymentId) -> Result<Vec<Refund>, StoreError> {
        self.find_refunds("payment_id", &payment.to_string()).await
    }

    async fn unsent_refunds(
        &self,
        created_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Refund>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds JOIN payments ON payments.id = refunds.payment_id \
             WHERE refunds.status = 'pending' AND refunds.stripe_refund_id IS NULL \
               AND refunds.settled_at IS NULL AND refunds.created_at < $1 \
             ORDER BY refunds.created_at, refunds.id LIMIT $2"
        ))
        .bind(millis(created_before))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(refund_from_row).collect()
    }
}

impl SqlStore {
    pub(crate) async fn find_payment(
        &self,
        column: &'static str,
        key: &str,
    ) -> Result<Option<Payment>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {column} = $1"
        ))
        .bind(key)
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(payment_from_row)
        .transpose()
    }

    pub(crate) async fn find_refunds(
        &self,
        column: &'static str,
        key: &str,
    ) -> Result<Vec<Refund>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds JOIN payments ON payments.id = refunds.payment_id \
             WHERE refunds.{column} = $1 ORDER BY refunds.created_at, refunds.id"
        ))
        .bind(key)
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(refund_from_row).collect()
    }
}

/// Applies what Stripe says became of a payment, inside `apply_sync`'s transaction.
pub(crate) async fn apply_payment(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    outcome: &PaymentOutcome,
) -> Result<(), StoreError> {
    let Some(payment) = locked_payment(tx, backend, outcome.payment).await? else {
        return Ok(());
    };
    let at = millis(outcome.at);
    // Ids are learned whatever the status: a late event may carry the charge.
    sqlx::query(
        "UPDATE payments SET stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, $1), \
             stripe_charge_id = COALESCE(stripe_charge_id, $2) WHERE id = $3",
    )
    .bind(
        outcome
            .payment_intent
            .as_ref()
            .map(|i| i.as_str().to_string()),
    )
    .bind(outcome.charge.as_ref().map(|c| c.as_str().to_string()))
    .bind(payment.id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if !payment.status.can_become(outcome.status) {
        return Ok(());
    }
    let completed = outcome.status == PaymentStatus::Completed;
    let amount = outcome
        .amount_paid
        .filter(|paid| completed && *paid > 0)
        .unwrap_or(payment.amount);
    sqlx::query(
        "UPDATE payments SET status = $1, amount = $2, completed_at = CASE WHEN $3 = 1 THEN $4 ELSE completed_at END, \
             updated_at = $4 WHERE id = $5",
    )
    .bind(outcome.status.as_str())
    .bind(amount)
    .bind(i64::from(completed))
    .bind(at)
    .bind(payment.id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    if !completed {
        return Ok(());
    }
    let credits = Grant {
        user: payment.user_id,
        delta: payment.credits,
        source: EntrySource::Payment,
        source_id: payment.id.to_string(),
        description: payment
            .description
            .clone()
            .unwrap_or_else(|| format!("{} credits purchased", payment.credits)),
    };
    grant(tx, &credits, outcome.at).await?;
    if let Some(rule) = &outcome.referral {
        let paid = Money::new(amount, payment.currency.clone());
        apply_referral(tx, &payment, &paid, rule, outcome.at).await?;
    }
    Ok(())
}

/// Seed 002's bonus: the buyer's first completed purchase, at least the rule's minimum, gives
/// the buyer and their referrer the bonus; the ledger's uniqueness keeps it to once per buyer.
async fn apply_referral(
    tx: &mut Transaction<'_, Any>,
    payment: &Payment,
    paid: &Money,
    rule: &tollgate_core::credits::ReferralRule,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    if paid.currency != rule.min_purchase.currency || paid.minor < rule.min_purchase.minor {
        return Ok(());
    }
    let (referrer,): (Option<String>,) =
        sqlx::query_as("SELECT referred_by FROM users WHERE id = $1")
            .bind(payment.user_id.to_string())
            .fetch_one(&mut **tx)
            .await
            .map_err(db_error)?;
    let Some(referrer) = referrer.and_then(|r| UserId::parse(&r).ok()) else {
        return Ok(());
    };
    let (earlier,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM payments WHERE user_id = $1 AND completed_at IS NOT NULL AND id <> $2",
    )
    .bind(payment.user_id.to_string())
    .bind(payment.id.to_string())
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    if earlier > 0 {
        return Ok(());
    }
    let buyer = payment.user_id.to_string();
    for (user, source, description) in [
        (
            payment.user_id,
            EntrySource::ReferralBonus,
            "Referral bonus: first purchase",
        ),
        (
            referrer,
            EntrySource::ReferralReward,
            "Referral reward: a referred member's first purchase",
        ),
    ] {
        let bonus = Grant {
            user,
            delta: rule.bonus_credits,
            source,
            source_id: buyer.clone(),
            description: description.to_string(),
        };
        grant(tx, &bonus, at).await?;
    }
    Ok(())
}

/// Applies a refund as Stripe has it, inside `apply_sync`'s transaction. A succeeded refund
/// is settled once (its `settled_at`, and its ledger entry's uniqueness): credits are taken
/// back in proportion to this refund's own amount, never from a cumulative figure.
pub(crate) async fn apply_refund(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    outcome: &RefundOutcome,
) -> Result<(), StoreError> {
    let Some(payment) = locked_payment(tx, backend, outcome.payment).await? else {
        return Ok(());
    };
    let at = millis(outcome.at);
    let existing: Option<(String, Option<i64>)> = sqlx::query_as(
        "SELECT id, settled_at FROM refunds WHERE stripe_refund_id = $1 \
         UNION ALL SELECT id, settled_at FROM refunds WHERE id = $2 AND stripe_refund_id IS NULL",
    )
    .bind(outcome.stripe_refund.as_str())
    .bind(outcome.refund.map(|r| r.to_string()).unwrap_or_default())
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_error)?;
    let (refund_id, settled) = match existing {
        Some((id, settled)) => (id, settled.is_some()),
        None => {
            // Made outside tollgate (Stripe's dashboard): recorded so it is settled like ours.
            let id = outcome.refund.unwrap_or_default().to_string();
            sqlx::query(
                "INSERT INTO refunds (id, payment_id, amount, reason, admin_id, status, stripe_refund_id, created_at) \
                 VALUES ($1, $2, $3, $4, NULL, 'pending', $5, $6)",
            )
            .bind(&id)
            .bind(payment.id.to_string())
            .bind(outcome.amount)
            .bind(outcome.reason.clone())
            .bind(outcome.stripe_refund.as_str())
            .bind(at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
            (id, false)
        }
    };
    if settled {
        return Ok(());
    }
    if outcome.status != RefundStatus::Succeeded {
        sqlx::query("UPDATE refunds SET status = $1, stripe_refund_id = $2 WHERE id = $3")
            .bind(outcome.status.as_str())
            .bind(outcome.stripe_refund.as_str())
            .bind(&refund_id)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        return Ok(());
    }
    let reversed = ledger::reversal(
        payment.credits,
        payment.amount,
        payment.refunded_amount,
        outcome.amount,
    );
    let take_back = Grant {
        user: payment.user_id,
        delta: -reversed,
        source: EntrySource::Refund,
        source_id: refund_id.clone(),
        description: format!(
            "Refund of {}",
            Money::new(outcome.amount, payment.currency.clone())
        ),
    };
    grant(tx, &take_back, outcome.at).await?;
    let refunded = (payment.refunded_amount + outcome.amount).min(payment.amount);
    let status = if refunded >= payment.amount {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    };
    let status = if payment.status == status || payment.status.can_become(status) {
        status
    } else {
        payment.status
    };
    sqlx::query(
        "UPDATE payments SET refunded_amount = $1, status = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(refunded)
    .bind(status.as_str())
    .bind(at)
    .bind(payment.id.to_string())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    sqlx::query(
        "UPDATE refunds SET status = 'succeeded', stripe_refund_id = $1, amount = $2, credits_reversed = $3, \
             settled_at = $4 WHERE id = $5",
    )
    .bind(outcome.stripe_refund.as_str())
    .bind(outcome.amount)
    .bind(reversed)
    .bind(at)
    .bind(&refund_id)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}
