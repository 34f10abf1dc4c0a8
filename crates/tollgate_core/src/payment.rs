//! Payments (one-time credit purchases) and their refunds, and the one rule of their status:
//! it only moves forward, so a late or repeated event can never move a payment back.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::credits::ReferralRule;
use crate::money::{Currency, Money};
use crate::stripe::{CheckoutSessionId, StripeChargeId, StripePaymentIntentId, StripeRefundId};
use crate::{PaymentId, RefundId, UserId};

/// How the purchase was paid: a Checkout Session, or a PaymentIntent confirmed by the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    Checkout,
    PaymentIntent,
}

impl PaymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkout => "checkout",
            Self::PaymentIntent => "payment_intent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "checkout" => Some(Self::Checkout),
            "payment_intent" => Some(Self::PaymentIntent),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    /// The last attempt was declined. The customer may still retry in the same session or
    /// intent, so a later success can complete the payment; nothing else moves it back.
    Failed,
    Completed,
    Canceled,
    Expired,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        Self::Pending,
        Self::Failed,
        Self::Completed,
        Self::Canceled,
        Self::Expired,
        Self::PartiallyRefunded,
        Self::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The forward moves: `pending → completed | failed | canceled | expired` (a declined
    /// attempt may still be followed by a success, a cancel or the session's expiry), then
    /// `completed → partially_refunded → refunded`.
    pub fn can_become(self, next: PaymentStatus) -> bool {
        use PaymentStatus::*;
        matches!(
            (self, next),
            (Pending, Failed | Completed | Canceled | Expired)
                | (Failed, Completed | Canceled | Expired)
                | (Completed, PartiallyRefunded | Refunded)
                | (PartiallyRefunded, Refunded)
        )
    }

    /// Money was received (and possibly partly or wholly given back).
    pub fn was_paid(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::PartiallyRefunded | Self::Refunded
        )
    }
}

#[derive(Clone, Debug)]
pub struct Payment {
    pub id: PaymentId,
    pub user_id: UserId,
    pub kind: PaymentKind,
    /// The credit pack bought, if any (otherwise a custom amount).
    pub package: Option<String>,
    /// Minor units of `currency` (seed 002's `amount`).
    pub amount: i64,
    pub currency: Currency,
    /// Credits this payment grants once completed.
    pub credits: i64,
    pub status: PaymentStatus,
    /// How much of `amount` has been refunded, in minor units.
    pub refunded_amount: i64,
    pub stripe_checkout_session_id: Option<CheckoutSessionId>,
    pub stripe_payment_intent_id: Option<StripePaymentIntentId>,
    pub stripe_charge_id: Option<StripeChargeId>,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
}

impl Payment {
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency.clone())
    }

    /// What can still be refunded, in minor units.
    pub fn refundable(&self) -> i64 {
        if self.status.was_paid() {
            self.amount - self.refunded_amount
        } else {
            0
        }
    }
}

/// A payment about to be written `pending`, before Stripe is asked for anything, so that an
/// event about it always finds its row.
#[derive(Clone, Debug)]
pub struct NewPayment {
    pub id: PaymentId,
    pub user_id: UserId,
    pub kind: PaymentKind,
    pub package: Option<String>,
    pub amount: Money,
    pub credits: i64,
    pub description: Option<String>,
    pub created_at: OffsetDateTime,
}

/// What Stripe says became of a payment, applied by `BillingStore::apply_sync`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentOutcome {
    pub payment: PaymentId,
    pub status: PaymentStatus,
    /// What was actually charged (after any promotion code), when completed.
    pub amount_paid: Option<i64>,
    pub payment_intent: Option<StripePaymentIntentId>,
    pub charge: Option<StripeChargeId>,
    /// The referral rule in force, applied if this completes the buyer's first purchase.
    pub referral: Option<ReferralRule>,
    pub at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
    Canceled,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Stripe's refund statuses; `requires_action` is still pending.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" | "requires_action" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            "canceled" => Some(Self::Canceled),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Refund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: i64,
    pub currency: Currency,
    pub status: RefundStatus,
    pub reason: Option<String>,
    /// The admin who issued it; `None` for a refund made in Stripe's dashboard.
    pub admin_id: Option<UserId>,
    pub stripe_refund_id: Option<StripeRefundId>,
    /// Credits taken back when it succeeded.
    pub credits_reversed: i64,
    pub created_at: OffsetDateTime,
}

/// A refund an admin asked for, written `pending` before Stripe is called.
#[derive(Clone, Debug)]
pub struct NewRefund {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: i64,
    pub reason: Option<String>,
    pub admin_id: UserId,
    pub created_at: OffsetDateTime,
}

/// A refund as Stripe has it now, matched to our payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundOutcome {
    pub stripe_refund: StripeRefundId,
    /// Ours, from the refund's metadata, when tollgate issued it.
    pub refund: Option<RefundId>,
    pub payment: PaymentId,
    pub amount: i64,
    pub status: RefundStatus,
    pub reason: Option<String>,
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::PaymentStatus::{self, *};

    #[test]
    fn a_payment_only_moves_forward() {
        assert!(Pending.can_become(Completed));
        assert!(Pending.can_become(Expired));
        assert!(Failed.can_become(Completed));
        assert!(Completed.can_become(PartiallyRefunded));
        assert!(PartiallyRefunded.can_become(Refunded));
        for back in [Pending, Failed, Canceled, Expired] {
            assert!(!Completed.can_become(back), "completed → {back:?}");
            assert!(!Refunded.can_become(back), "refunded → {back:?}");
        }
        assert!(!Expired.can_become(Completed));
        assert!(!Refunded.can_become(PartiallyRefunded));
        for status in PaymentStatus::ALL {
            assert!(!status.can_become(status), "{status:?} → itself");
        }
    }

    #[test]
    fn statuses_survive_their_text_form() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
    }
}
