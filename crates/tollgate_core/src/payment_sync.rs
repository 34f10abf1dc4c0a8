//! The event path for credit purchases and refunds: an event only says which payment or
//! refund to look at; what it became is read from the object Stripe has now (the session for
//! Checkout payments, the PaymentIntent otherwise, the refund for refunds), so duplicated,
//! reordered or overlapping events all lead to the same single outcome (invariant 3).

use crate::billing::Billing;
use crate::payment::{
    Payment, PaymentKind, PaymentOutcome, PaymentStatus, RefundOutcome, RefundStatus,
};
use crate::store::SyncChanges;
use crate::stripe::{
    CheckoutSnapshot, PaymentIntentSnapshot, RefundSnapshot, StripeChargeId, StripePaymentIntentId,
    StripeRefundId,
};
use crate::sync::SyncError;
use crate::{PaymentId, RefundId};

impl Billing<'_> {
    /// A payment-mode session's payment, if it is one of ours.
    pub(crate) async fn sync_checkout_payment(
        &self,
        session: &CheckoutSnapshot,
        changes: &mut SyncChanges,
    ) -> Result<(), SyncError> {
        let by_metadata = match metadata_payment(&session.metadata) {
            Some(id) => self.store.payment(id).await?,
            None => None,
        };
        let payment = match by_metadata {
            Some(payment) => Some(payment),
            None => self.store.payment_by_checkout(&session.id).await?,
        };
        let Some(payment) = payment else {
            return Err(SyncError::Skip("payment of no payment of ours".into()));
        };
        changes.payment = self.checkout_outcome(&payment, session).await?;
        Ok(())
    }

    /// A `payment_intent.*` event: the payment it belongs to, judged by its authoritative object.
    pub(crate) async fn sync_intent_payment(
        &self,
        id: &StripePaymentIntentId,
        changes: &mut SyncChanges,
    ) -> Result<(), SyncError> {
        let intent = self.stripe.payment_intent(id).await?;
        let by_metadata = match metadata_payment(&intent.metadata) {
            Some(id) => self.store.payment(id).await?,
            None => None,
        };
        let payment = match by_metadata {
            Some(payment) => Some(payment),
            None => self.store.payment_by_intent(id).await?,
        };
        let Some(payment) = payment else {
            return Err(SyncError::Skip(
                "payment intent of no payment of ours".into(),
            ));
        };
        changes.payment = match (payment.kind, &payment.stripe_checkout_session_id) {
            // A Checkout payment follows its session: the session decides expired or paid.
            (PaymentKind::Checkout, Some(session)) => {
                let session = self.stripe.checkout_session(session).await?;
                self.checkout_outcome(&payment, &session).await?
            }
            _ => self.intent_outcome(&payment, &intent),
        };
        Ok(())
    }

    /// `refund.*` events name a refund; `charge.refunded` a charge with all its refunds.
    pub(crate) async fn sync_refund(
        &self,
        id: &StripeRefundId,
        changes: &mut SyncChanges,
    ) -> Result<(), SyncError> {
        let refund = self.stripe.refund(id).await?;
        let outcome = self.refund_outcome(&refund).await?;
        changes.refunds.extend(outcome);
        if changes.refunds.is_empty() {
            return Err(SyncError::Skip("refund of no payment of ours".into()));
        }
        Ok(())
    }

    pub(crate) async fn sync_charge_refunds(
        &self,
        charge: &StripeChargeId,
        changes: &mut SyncChanges,
    ) -> Result<(), SyncError> {
        for refund in self.stripe.refunds_of_charge(charge).await? {
            let outcome = self.refund_outcome(&refund).await?;
            changes.refunds.extend(outcome);
        }
        if changes.refunds.is_empty() {
            return Err(SyncError::Skip("refunds of no payment of ours".into()));
        }
        Ok(())
    }

    async fn checkout_outcome(
        &self,
        payment: &Payment,
        session: &CheckoutSnapshot,
    ) -> Result<Option<PaymentOutcome>, SyncError> {
        let status = match (session.status.as_str(), session.payment_status.as_str()) {
            ("complete", "paid" | "no_payment_required") => Some(PaymentStatus::Completed),
            ("expired", _) => Some(PaymentStatus::Expired),
            _ => None,
        };
        let intent = match &session.payment_intent {
            Some(id) => Some(self.stripe.payment_intent(id).await?),
            None => None,
        };
        // Open, or complete but unpaid (a delayed payment method): a failed attempt shows on
        // the intent; otherwise the payment is still pending.
        let status = status.or_else(|| {
            intent.as_ref().and_then(|i| {
                (i.last_error_code.is_some() || i.status == "canceled")
                    .then_some(PaymentStatus::Failed)
            })
        });
        Ok(status.map(|status| PaymentOutcome {
            payment: payment.id,
            status,
            amount_paid: (status == PaymentStatus::Completed)
                .then_some(session.amount_total)
                .flatten(),
            payment_intent: session.payment_intent.clone(),
            charge: intent.and_then(|i| i.latest_charge),
            referral: self.credits.referral.clone(),
            at: self.clock.now(),
        }))
    }

    fn intent_outcome(
        &self,
        payment: &Payment,
        intent: &PaymentIntentSnapshot,
    ) -> Option<PaymentOutcome> {
        let status = match intent.status.as_str() {
            "succeeded" => PaymentStatus::Completed,
            "canceled" => PaymentStatus::Canceled,
            "requires_payment_method" if intent.last_error_code.is_some() => PaymentStatus::Failed,
            _ => return None,
        };
        Some(PaymentOutcome {
            payment: payment.id,
            status,
            amount_paid: (status == PaymentStatus::Completed).then_some(intent.amount),
            payment_intent: Some(intent.id.clone()),
            charge: intent.latest_charge.clone(),
            referral: self.credits.referral.clone(),
            at: self.clock.now(),
        })
    }

    async fn refund_outcome(
        &self,
        refund: &RefundSnapshot,
    ) -> Result<Option<RefundOutcome>, SyncError> {
        let by_metadata = match metadata_payment(&refund.metadata) {
            Some(id) => self.store.payment(id).await?,
            None => None,
        };
        let payment = match (by_metadata, &refund.payment_intent) {
            (Some(payment), _) => Some(payment),
            (None, Some(intent)) => self.store.payment_by_intent(intent).await?,
            (None, None) => None,
        };
        let Some(payment) = payment else {
            return Ok(None);
        };
        let Some(status) = RefundStatus::parse(&refund.status) else {
            return Err(SyncError::Skip(format!(
                "unknown refund status {:?}",
                refund.status
            )));
        };
        Ok(Some(RefundOutcome {
            stripe_refund: refund.id.clone(),
            refund: refund
                .metadata
                .get("tollgate_refund_id")
                .and_then(|id| RefundId::parse(id).ok()),
            payment: payment.id,
            amount: refund.amount,
            status,
            reason: refund
                .metadata
                .get("reason")
                .cloned()
                .or_else(|| refund.reason.clone()),
            at: self.clock.now(),
        }))
    }
}

fn metadata_payment(metadata: &std::collections::BTreeMap<String, String>) -> Option<PaymentId> {
    metadata
        .get("payment_id")
        .and_then(|id| PaymentId::parse(id).ok())
}
