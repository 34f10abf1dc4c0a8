//! The port to Stripe: what tollgate asks of Stripe, in tollgate's own types. Implemented by
//! `tollgate_stripe` over the async-stripe client; the emulator answers the same HTTP API.
//! Keeps: every create carries an idempotency key derived from our own ids (invariant 5).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::UserId;

macro_rules! stripe_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Accepts Stripe's id form: the prefix then letters, digits and underscores.
            pub fn parse(text: &str) -> Result<Self, InvalidStripeId> {
                let rest = text.strip_prefix($prefix).ok_or(InvalidStripeId)?;
                if rest.is_empty() || rest.len() > 250 || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(InvalidStripeId);
                }
                Ok(Self(text.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a Stripe id of the expected kind")]
pub struct InvalidStripeId;

stripe_id!(StripeCustomerId, "cus_");
stripe_id!(StripeSubscriptionId, "sub_");
stripe_id!(StripePriceId, "price_");
stripe_id!(StripeProductId, "prod_");
stripe_id!(CheckoutSessionId, "cs_");
stripe_id!(StripeInvoiceId, "in_");
stripe_id!(StripeEventId, "evt_");
stripe_id!(StripeAccountId, "acct_");
stripe_id!(StripePaymentIntentId, "pi_");
stripe_id!(StripeChargeId, "ch_");
stripe_id!(StripeRefundId, "re_");

/// Stripe's subscription statuses (https://docs.stripe.com/billing/subscriptions/overview#subscription-statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Unpaid => "unpaid",
            Self::Paused => "paused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "canceled" => Self::Canceled,
            "unpaid" => Self::Unpaid,
            "paused" => Self::Paused,
            _ => return None,
        })
    }

    /// Terminal statuses: a subscription never leaves them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Canceled | Self::IncompleteExpired)
    }
}

/// A customer as Stripe has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerSnapshot {
    pub id: StripeCustomerId,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub deleted: bool,
}

/// A subscription as Stripe has it now. Since API version 2025-03-31.basil the billing
/// period lives on the subscription item; the adapter reads it from the first item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSnapshot {
    pub id: StripeSubscriptionId,
    pub customer: StripeCustomerId,
    pub status: SubscriptionStatus,
    pub price: StripePriceId,
    /// The price's lookup key, when it has one (plans may be configured by lookup key).
    pub price_lookup_key: Option<String>,
    pub quantity: u64,
    pub current_period_start: OffsetDateTime,
    pub current_period_end: OffsetDateTime,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub trial_end: Option<OffsetDateTime>,
    pub created: OffsetDateTime,
    pub metadata: BTreeMap<String, String>,
    /// The subscription's most recent invoice, so its payment lands with the status it paid for.
    pub latest_invoice: Option<StripeInvoiceId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckoutMode {
    Payment,
    Subscription,
    Setup,
}

/// A Checkout Session as Stripe has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutSnapshot {
    pub id: CheckoutSessionId,
    pub mode: CheckoutMode,
    /// `open`, `complete` or `expired`.
    pub status: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    pub customer: Option<StripeCustomerId>,
    pub subscription: Option<StripeSubscriptionId>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub url: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub payment_intent: Option<StripePaymentIntentId>,
    pub expires_at: OffsetDateTime,
}

/// A PaymentIntent as Stripe has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentIntentSnapshot {
    pub id: StripePaymentIntentId,
    /// `requires_payment_method`, `requires_confirmation`, `requires_action`, `processing`,
    /// `requires_capture`, `canceled` or `succeeded`.
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub customer: Option<StripeCustomerId>,
    /// Handed to the app's front end to confirm the payment; never logged.
    pub client_secret: Option<String>,
    pub latest_charge: Option<StripeChargeId>,
    /// The code of the last failed attempt (`card_declined`, …), if the last attempt failed.
    pub last_error_code: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A refund as Stripe has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundSnapshot {
    pub id: StripeRefundId,
    pub amount: i64,
    pub currency: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub charge: Option<StripeChargeId>,
    pub payment_intent: Option<StripePaymentIntentId>,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// An invoice as Stripe has it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceSnapshot {
    pub id: StripeInvoiceId,
    pub customer: StripeCustomerId,
    /// From `parent.subscription_details.subscription` (API 2025-03-31.basil and later).
    pub subscription: Option<StripeSubscriptionId>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    /// When it was paid (`status_transitions.paid_at`).
    pub paid_at: Option<OffsetDateTime>,
    pub hosted_invoice_url: Option<String>,
    pub created: OffsetDateTime,
}

/// A price, for the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceSnapshot {
    pub id: StripePriceId,
    pub product: StripeProductId,
    pub lookup_key: Option<String>,
    pub unit_amount: i64,
    pub currency: String,
    /// `month` or `year` for recurring prices; `None` for one-time prices.
    pub interval: Option<String>,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct NewCustomer {
    pub user_id: UserId,
    pub email: Option<String>,
    /// Derived from the user id, so a retry or a concurrent request never makes a second customer.
    pub idempotency_key: String,
    /// Test mode only: the test clock the customer lives on (time travel for renewals).
    pub test_clock: Option<String>,
}

/// What a checkout sells: a catalog price, or an amount priced inline (credit purchases).
#[derive(Clone, Debug)]
pub enum CheckoutLine {
    Price {
        price: StripePriceId,
        quantity: u64,
    },
    Amount {
        amount: i64,
        currency: String,
        name: String,
    },
}

#[derive(Clone, Debug)]
pub struct NewCheckout {
    pub mode: CheckoutMode,
    pub customer: StripeCustomerId,
    pub line: CheckoutLine,
    pub success_url: String,
    pub cancel_url: String,
    pub client_reference_id: String,
    /// Put on the session, and (subscription mode) on the subscription too.
    pub metadata: BTreeMap<String, String>,
    pub trial_period_days: Option<u32>,
    pub allow_promotion_codes: bool,
    /// Payment mode: put on the session's PaymentIntent, so its events name our payment.
    pub payment_intent_metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

#[derive(Clone, Debug)]
pub struct NewPaymentIntent {
    pub customer: StripeCustomerId,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub idempotency_key: String,
}

#[derive(Clone, Debug)]
pub struct NewStripeRefund {
    pub payment_intent: StripePaymentIntentId,
    pub amount: i64,
    /// Our refund id and the admin's reason, so the refund's events name our refund.
    pub metadata: BTreeMap<String, String>,
    /// Connect only: whether the platform gives back its application fee, in proportion.
    pub refund_application_fee: Option<bool>,
    pub idempotency_key: String,
}

#[derive(Clone, Debug)]
pub struct NewProductPrice {
    pub product_name: String,
    pub lookup_key: String,
    pub unit_amount: i64,
    pub currency: String,
    /// `month` / `year`; `None` for one-time.
    pub interval: Option<String>,
    pub idempotency_key: String,
}

/// What went wrong talking to Stripe, in our terms; never Stripe's raw text to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("card declined: {code}")]
    Card {
        code: String,
        decline_code: Option<String>,
        message: String,
    },
    #[error("invalid request: {message}")]
    InvalidRequest {
        param: Option<String>,
        message: String,
    },
    #[error("not found in Stripe")]
    NotFound,
    #[error("Stripe refused our credentials")]
    Authentication,
    #[error("Stripe rate limit reached")]
    RateLimited,
    /// Network failure, timeout or 5xx after retries.
    #[error("Stripe unavailable: {0}")]
    Unavailable(String),
    /// What answered is not Stripe's API (a wrong `stripe.api_base`), or the client cannot be
    /// set up: retrying will not help, the configuration must change.
    #[error("Stripe is misconfigured: {0}")]
    Misconfigured(String),
}

#[async_trait]
pub trait StripeApi: Send + Sync {
    async fn create_customer(&self, request: &NewCustomer)
    -> Result<StripeCustomerId, StripeError>;
    async fn customer(&self, id: &StripeCustomerId) -> Result<CustomerSnapshot, StripeError>;

    async fn create_checkout_session(
        &self,
        request: &NewCheckout,
    ) -> Result<CheckoutSnapshot, StripeError>;
    async fn checkout_session(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<CheckoutSnapshot, StripeError>;

    async fn subscription(
        &self,
        id: &StripeSubscriptionId,
    ) -> Result<SubscriptionSnapshot, StripeError>;
    /// Cancels now, or sets `cancel_at_period_end`.
    async fn cancel_subscription(
        &self,
        id: &StripeSubscriptionId,
        at_period_end: bool,
    ) -> Result<SubscriptionSnapshot, StripeError>;
    /// Clears `cancel_at_period_end`.
    async fn resume_subscription(
        &self,
        id: &StripeSubscriptionId,
    ) -> Result<SubscriptionSnapshot, StripeError>;

    async fn invoice(&self, id: &StripeInvoiceId) -> Result<InvoiceSnapshot, StripeError>;

    async fn create_payment_intent(
        &self,
        request: &NewPaymentIntent,
    ) -> Result<PaymentIntentSnapshot, StripeError>;
    async fn payment_intent(
        &self,
        id: &StripePaymentIntentId,
    ) -> Result<PaymentIntentSnapshot, StripeError>;

    async fn create_refund(&self, request: &NewStripeRefund)
    -> Result<RefundSnapshot, StripeError>;
    async fn refund(&self, id: &StripeRefundId) -> Result<RefundSnapshot, StripeError>;
    /// Every refund of a charge (a `charge.refunded` event names the charge, not the refund).
    async fn refunds_of_charge(
        &self,
        charge: &StripeChargeId,
    ) -> Result<Vec<RefundSnapshot>, StripeError>;

    /// A billing portal session for the customer; returns its URL.
    async fn create_portal_session(
        &self,
        customer: &StripeCustomerId,
        return_url: &str,
    ) -> Result<String, StripeError>;

    /// The active price with this lookup key, if any.
    async fn price_by_lookup_key(
        &self,
        lookup_key: &str,
    ) -> Result<Option<PriceSnapshot>, StripeError>;
    async fn price(&self, id: &StripePriceId) -> Result<PriceSnapshot, StripeError>;
    /// Creates a product and a price for it (used to seed the emulator's catalog).
    async fn create_product_and_price(
        &self,
        request: &NewProductPrice,
    ) -> Result<PriceSnapshot, StripeError>;

    /// Test mode only: a test clock frozen at `frozen_time`; returns its id.
    async fn create_test_clock(
        &self,
        frozen_time: OffsetDateTime,
        name: &str,
        idempotency_key: &str,
    ) -> Result<String, StripeError>;

    /// Test mode only: moves a test clock to `frozen_time` and returns once Stripe has done
    /// everything that came due (renewals, retries, cancellations).
    async fn advance_test_clock(
        &self,
        id: &str,
        frozen_time: OffsetDateTime,
    ) -> Result<(), StripeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_kinds_apart() {
        assert!(StripeCustomerId::parse("cus_123abc").is_ok());
        assert!(StripeCustomerId::parse("sub_123").is_err());
        assert!(StripeCustomerId::parse("cus_").is_err());
        assert!(StripeCustomerId::parse("cus_a b").is_err());
        assert!(CheckoutSessionId::parse("cs_test_a1B2").is_ok());
    }

    #[test]
    fn statuses_survive_their_text_form() {
        for status in [
            SubscriptionStatus::Incomplete,
            SubscriptionStatus::IncompleteExpired,
            SubscriptionStatus::Trialing,
            SubscriptionStatus::Active,
            SubscriptionStatus::PastDue,
            SubscriptionStatus::Canceled,
            SubscriptionStatus::Unpaid,
            SubscriptionStatus::Paused,
        ] {
            assert_eq!(SubscriptionStatus::parse(status.as_str()), Some(status));
        }
    }
}
