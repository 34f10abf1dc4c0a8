//! Admin refunds: written `pending` (with the admin in the audit log) before Stripe is asked,
//! created in Stripe with an idempotency key from our refund id, and settled only by the
//! refund's events, which take back credits once per refund object.

use std::collections::BTreeMap;

use crate::audit::{Actor, AuditEntry};
use crate::billing::{Billing, BillingError};
use crate::payment::{NewRefund, Refund};
use crate::store::RefundAdmission;
use crate::stripe::{NewStripeRefund, StripeError};
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
        let mut metadata = BTreeMap::from([
            ("tollgate_refund_id".to_string(), refund.id.to_string()),
            ("payment_id".to_string(), payment_id.to_string()),
        ]);
        if let Some(reason) = &reason {
            metadata.insert("reason".to_string(), reason.chars().take(400).collect());
        }
        let created = self
            .stripe
            .create_refund(&NewStripeRefund {
                payment_intent: intent,
                amount,
                metadata,
                refund_application_fee: None,
                idempotency_key: format!("tollgate-refund-{}", refund.id),
            })
            .await;
        let now = self.clock.now();
        match created {
            Ok(stripe_refund) => {
                self.store
                    .link_refund(refund.id, &stripe_refund.id, now)
                    .await?;
            }
            // Stripe may have made the refund before the connection failed: the row stays
            // pending, holding the amount back, until the refund's event settles it.
            Err(error @ (StripeError::Unavailable(_) | StripeError::RateLimited)) => {
                return Err(error.into());
            }
            Err(error) => {
                // Stripe refused: the refund no longer holds the amount back.
                self.store.fail_refund(refund.id, now).await?;
                return Err(error.into());
            }
        }
        self.store
            .refund(refund.id)
            .await?
            .ok_or(BillingError::UnknownPayment)
    }

    pub async fn refunds_of(&self, payment: PaymentId) -> Result<Vec<Refund>, BillingError> {
        Ok(self.store.refunds_of(payment).await?)
    }
}
