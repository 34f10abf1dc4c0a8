//! Admin refunds: written `pending` (with the admin in the audit log) before Stripe is asked,
//! created in Stripe with an idempotency key from our refund id, and settled only by the
//! refund's events, which take back credits once per refund object.

use std::collections::BTreeMap;

use crate::audit::{Actor, AuditEntry};
use crate::billing::{Billing, BillingError};
use crate::payment::{NewRefund, Refund};
use crate::store::RefundAdmission;
use crate::stripe::{NewStripeRefund, StripeError, StripePaymentIntentId};
use crate::{PaymentId, RefundId, UserId};

impl Billing<'_> {
    /// Refunds `amount` (all that remains when `None`) of a payment.
    pub async fn refund(
        &self,
        admin: UserId,
        payment_id: PaymentId,
        amount: Option<i64>,
        reason: Option<String>,
    ) -> Result<Refund, BillingError> {
        let payment = self
            .store
            .payment(payment_id)
            .await?
            .ok_or(BillingError::UnknownPayment)?;
        let intent = payment
            .stripe_payment_intent_id
            .clone()
            .filter(|_| payment.status.was_paid())
            .ok_or(BillingError::NotRefundable)?;
        let amount = amount.unwrap_or_else(|| payment.refundable());
        if amount < 1 {
            return Err(BillingError::RefundExceedsRemaining {
                remaining: payment.refundable(),
            });
        }
        let now = self.clock.now();
        let refund = NewRefund {
            id: RefundId::new(),
            payment_id,
            amount,
            reason: reason.clone(),
            admin_id: admin,
            created_at: now,
        };
        let audit = AuditEntry::new(
            Actor::User(admin),
            "payment.refund",
            format!("payment:{payment_id}"),
            serde_json::json!({ "refund": refund.id, "amount": amount, "currency": payment.currency, "reason": reason }),
            now,
        );
        match self.store.admit_refund(&refund, &audit).await? {
            RefundAdmission::Admitted => {}
            RefundAdmission::ExceedsRemaining { remaining } => {
                return Err(BillingError::RefundExceedsRemaining { remaining });
            }
            RefundAdmission::NotRefundable => return Err(BillingError::NotRefundable),
        }
        self.send_refund(refund.id, payment_id, intent, amount, reason.as_deref())
            .await?;
        self.store
            .refund(refund.id)
            .await?
            .ok_or(BillingError::UnknownPayment)
    }

    /// Asks Stripe for an admitted refund and records its answer. The idempotency key is the
    /// refund's id and the parameters are rebuilt from its row, so asking again (after a crash
    /// left the answer unknown) returns the refund Stripe already made instead of a second one.
    async fn send_refund(
        &self,
        refund: RefundId,
        payment_id: PaymentId,
        intent: StripePaymentIntentId,
        amount: i64,
        reason: Option<&str>,
    ) -> Result<(), BillingError> {
        let mut metadata = BTreeMap::from([
            ("tollgate_refund_id".to_string(), refund.to_string()),
            ("payment_id".to_string(), payment_id.to_string()),
        ]);
        if let Some(reason) = reason {
            metadata.insert("reason".to_string(), reason.chars().take(400).collect());
        }
        let created = self
            .stripe
            .create_refund(&NewStripeRefund {
                payment_intent: intent,
                amount,
                metadata,
                refund_application_fee: None,
                idempotency_key: format!("tollgate-refund-{refund}"),
            })
            .await;
        let now = self.clock.now();
        match created {
            Ok(stripe_refund) => {
                self.store
                    .link_refund(refund, &stripe_refund.id, now)
                    .await?;
                Ok(())
            }
            // Stripe may have made the refund before the connection failed: the row stays
            // pending, holding the amount back, until the refund's event settles it or
            // `resend_unsent_refunds` asks again.
            Err(error @ (StripeError::Unavailable(_) | StripeError::RateLimited)) => {
                Err(error.into())
            }
            Err(error) => {
                // Stripe refused: the refund no longer holds the amount back.
                self.store.fail_refund(refund, now).await?;
                Err(error.into())
            }
        }
    }

    /// Finishes refunds whose Stripe call never got an answer (the process stopped, or Stripe
    /// was unreachable) once they are `older_than` old. Refunds an event settled in the
    /// meantime are not pending any more and are left alone; one Stripe refuses is failed.
    pub async fn resend_unsent_refunds(
        &self,
        older_than: time::Duration,
    ) -> Result<ResentRefunds, BillingError> {
        let unsent = self
            .store
            .unsent_refunds(self.clock.now() - older_than, 50)
            .await?;
        let mut resent = ResentRefunds::default();
        for refund in unsent {
            let Some(intent) = self
                .store
                .payment(refund.payment_id)
                .await?
                .and_then(|p| p.stripe_payment_intent_id)
            else {
                continue;
            };
            match self
                .send_refund(
                    refund.id,
                    refund.payment_id,
                    intent,
                    refund.amount,
                    refund.reason.as_deref(),
                )
                .await
            {
                Ok(()) => resent.sent += 1,
                Err(BillingError::Stripe(error))
                    if !matches!(
                        error,
                        StripeError::Unavailable(_) | StripeError::RateLimited
                    ) =>
                {
                    resent.refused += 1;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(resent)
    }

    pub async fn refunds_of(&self, payment: PaymentId) -> Result<Vec<Refund>, BillingError> {
        Ok(self.store.refunds_of(payment).await?)
    }
}

/// What `resend_unsent_refunds` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResentRefunds {
    /// Stripe answered with the refund (made now, or already made before the crash).
    pub sent: usize,
    /// Stripe refused: the refund is failed and holds nothing back any more.
    pub refused: usize,
}
