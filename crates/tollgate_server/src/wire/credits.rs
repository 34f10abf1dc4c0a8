//! Credits: purchases, payments and refunds, the balance and its ledger, usage, coupons.

use serde::Serialize;
use time::OffsetDateTime;
use tollgate_core::coupon::Coupon;
use tollgate_core::credits::{
    BalanceView, CheckoutPurchase, CreditPolicy, IntentPurchase, ReferralRule,
};
use tollgate_core::ledger::{Balance, LedgerEntry};
use tollgate_core::payment::{Payment, Refund};
use tollgate_core::referral::ReferralView;
use tollgate_core::stripe::{
    CheckoutSessionId, PaymentIntentSnapshot, StripeChargeId, StripePaymentIntentId, StripeRefundId,
};
use tollgate_core::usage::{Consumption, UsageOutcome, UsageSummary};
use tollgate_core::{EntryId, PaymentId, RefundId, UserId};

#[derive(Serialize)]
pub struct PaymentBody<'a> {
    pub id: PaymentId,
    pub user_id: UserId,
    /// `checkout` or `payment_intent`.
    pub kind: &'static str,
    /// The credit pack bought, if any (otherwise a custom amount).
    pub package: Option<&'a str>,
    /// Minor units of `currency`.
    pub amount: i64,
    pub currency: &'a str,
    /// Credits the payment grants once completed.
    pub credits: i64,
    pub status: &'static str,
    pub refunded_amount: i64,
    pub stripe_checkout_session_id: Option<&'a CheckoutSessionId>,
    pub stripe_payment_intent_id: Option<&'a StripePaymentIntentId>,
    pub stripe_charge_id: Option<&'a StripeChargeId>,
    pub description: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

impl<'a> PaymentBody<'a> {
    pub fn of(payment: &'a Payment) -> Self {
        Self {
            id: payment.id,
            user_id: payment.user_id,
            kind: payment.kind.as_str(),
            package: payment.package.as_deref(),
            amount: payment.amount,
            currency: payment.currency.as_str(),
            credits: payment.credits,
            status: payment.status.as_str(),
            refunded_amount: payment.refunded_amount,
            stripe_checkout_session_id: payment.stripe_checkout_session_id.as_ref(),
            stripe_payment_intent_id: payment.stripe_payment_intent_id.as_ref(),
            stripe_charge_id: payment.stripe_charge_id.as_ref(),
            description: payment.description.as_deref(),
            created_at: payment.created_at,
            completed_at: payment.completed_at,
        }
    }
}

/// One payment with its refunds.
#[derive(Serialize)]
pub struct PaymentDetailBody<'a> {
    #[serde(flatten)]
    pub payment: PaymentBody<'a>,
    pub refunds: Vec<RefundBody<'a>>,
}

#[derive(Serialize)]
pub struct RefundBody<'a> {
    pub id: RefundId,
    pub payment_id: PaymentId,
    pub amount: i64,
    pub currency: &'a str,
    pub status: &'static str,
    pub reason: Option<&'a str>,
    /// The admin who issued it; `null` for a refund made in Stripe's dashboard.
    pub admin_id: Option<UserId>,
    pub stripe_refund_id: Option<&'a StripeRefundId>,
    /// Credits taken back when it succeeded.
    pub credits_reversed: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl<'a> RefundBody<'a> {
    pub fn of(refund: &'a Refund) -> Self {
        Self {
            id: refund.id,
            payment_id: refund.payment_id,
            amount: refund.amount,
            currency: refund.currency.as_str(),
            status: refund.status.as_str(),
            reason: refund.reason.as_deref(),
            admin_id: refund.admin_id,
            stripe_refund_id: refund.stripe_refund_id.as_ref(),
            credits_reversed: refund.credits_reversed,
            created_at: refund.created_at,
        }
    }
}

/// A Checkout purchase just started: where to send the buyer.
#[derive(Serialize)]
pub struct CheckoutPurchaseBody<'a> {
    pub session_id: &'a CheckoutSessionId,
    pub url: Option<&'a str>,
    pub payment_id: PaymentId,
    pub status: &'static str,
    pub amount: i64,
    pub currency: &'a str,
    pub credits: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl<'a> CheckoutPurchaseBody<'a> {
    pub fn of(purchase: &'a CheckoutPurchase) -> Self {
        Self {
            session_id: &purchase.session_id,
            url: purchase.url.as_deref(),
            payment_id: purchase.payment_id,
            status: purchase.status.as_str(),
            amount: purchase.amount,
            currency: purchase.currency.as_str(),
            credits: purchase.credits,
            expires_at: purchase.expires_at,
        }
    }
}

/// A PaymentIntent just created, for the app to confirm with Stripe.js.
#[derive(Serialize)]
pub struct IntentPurchaseBody<'a> {
    pub id: &'a StripePaymentIntentId,
    pub client_secret: Option<&'a str>,
    pub payment_id: PaymentId,
    pub status: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub credits: i64,
}

impl<'a> IntentPurchaseBody<'a> {
    pub fn of(purchase: &'a IntentPurchase) -> Self {
        Self {
            id: &purchase.id,
            client_secret: purchase.client_secret.as_deref(),
            payment_id: purchase.payment_id,
            status: &purchase.status,
            amount: purchase.amount,
            currency: purchase.currency.as_str(),
            credits: purchase.credits,
        }
    }
}

#[derive(Serialize)]
pub struct BalanceBody {
    pub user_id: UserId,
    pub credits: i64,
    /// Set while the balance is below zero (credits refunded after they were spent).
    #[serde(with = "time::serde::rfc3339::option")]
    pub negative_since: Option<OffsetDateTime>,
}

impl BalanceBody {
    pub fn of(balance: &Balance) -> Self {
        Self {
            user_id: balance.user_id,
            credits: balance.credits,
            negative_since: balance.negative_since,
        }
    }
}

/// The member's balance with its latest ledger entries.
#[derive(Serialize)]
pub struct BalanceViewBody<'a> {
    #[serde(flatten)]
    pub balance: BalanceBody,
    pub negative: bool,
    pub recent: Vec<LedgerEntryBody<'a>>,
}

impl<'a> BalanceViewBody<'a> {
    pub fn of(view: &'a BalanceView) -> Self {
        Self {
            balance: BalanceBody::of(&view.balance),
            negative: view.negative,
            recent: view.recent.iter().map(LedgerEntryBody::of).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct LedgerEntryBody<'a> {
    pub id: EntryId,
    pub user_id: UserId,
    pub delta: i64,
    pub source: &'static str,
    pub source_id: &'a str,
    pub description: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl<'a> LedgerEntryBody<'a> {
    pub fn of(entry: &'a LedgerEntry) -> Self {
        Self {
            id: entry.id,
            user_id: entry.user_id,
            delta: entry.delta,
            source: entry.source.as_str(),
            source_id: &entry.source_id,
            description: &entry.description,
            created_at: entry.created_at,
        }
    }
}

/// What one consumption did, tagged by `outcome`.
#[derive(Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OutcomeBody {
    Counted { used: i64, limit: Option<i64> },
    Spent { credits: i64, balance: i64 },
    OverQuota { used: i64, limit: i64 },
    Insufficient { needed: i64, balance: i64 },
}

/// The error beside a refused consumption's outcome (402).
#[derive(Serialize)]
pub struct RefusalBody {
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
pub struct ConsumptionBody<'a> {
    #[serde(flatten)]
    pub outcome: OutcomeBody,
    /// The same idempotency key was seen before: that consumption's result, not a new one.
    pub replayed: bool,
    pub feature: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RefusalBody>,
}

impl<'a> ConsumptionBody<'a> {
    pub fn of(consumption: &Consumption, feature: &'a str, error: Option<RefusalBody>) -> Self {
        let outcome = match consumption.outcome {
            UsageOutcome::Counted { used, limit } => OutcomeBody::Counted { used, limit },
            UsageOutcome::Spent { credits, balance } => OutcomeBody::Spent { credits, balance },
            UsageOutcome::OverQuota { used, limit } => OutcomeBody::OverQuota { used, limit },
            UsageOutcome::Insufficient { needed, balance } => {
                OutcomeBody::Insufficient { needed, balance }
            }
        };
        Self {
            outcome,
            replayed: consumption.replayed,
            feature,
            error,
        }
    }
}

#[derive(Serialize)]
pub struct FeatureUsageBody<'a> {
    pub feature: &'a str,
    pub used: i64,
    /// `null`: unlimited.
    pub limit: Option<i64>,
    pub remaining: Option<i64>,
}

/// This period's usage per feature, and the credit balance.
#[derive(Serialize)]
pub struct UsageBody<'a> {
    #[serde(with = "time::serde::rfc3339")]
    pub period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub period_end: OffsetDateTime,
    pub features: Vec<FeatureUsageBody<'a>>,
    pub credits: i64,
}

impl<'a> UsageBody<'a> {
    pub fn of(usage: &'a UsageSummary) -> Self {
        Self {
            period_start: usage.period_start,
            period_end: usage.period_end,
            features: usage
                .features
                .iter()
                .map(|f| FeatureUsageBody {
                    feature: &f.feature,
                    used: f.used,
                    limit: f.limit,
                    remaining: f.remaining,
                })
                .collect(),
            credits: usage.credits,
        }
    }
}

#[derive(Serialize)]
pub struct CouponBody<'a> {
    /// What members type, upper-case (`WELCOME10`).
    pub code: &'a str,
    pub credits: i64,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl<'a> CouponBody<'a> {
    pub fn of(coupon: &'a Coupon) -> Self {
        Self {
            code: &coupon.code,
            credits: coupon.credits,
            max_redemptions: coupon.max_redemptions,
            redemptions: coupon.redemptions,
            expires_at: coupon.expires_at,
            created_at: coupon.created_at,
        }
    }
}

/// A credit pack on sale.
#[derive(Serialize)]
pub struct PackBody<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    /// The amount written for people (`$10.00`).
    pub price: String,
    pub credits: i64,
}

/// A currency in which any amount within bounds may be bought.
#[derive(Serialize)]
pub struct CustomAmountBody<'a> {
    pub currency: &'a str,
    pub credits_per_minor_unit: i64,
    pub min_amount: i64,
    pub max_amount: i64,
}

/// `{data, custom_amounts}`: what can be bought.
#[derive(Serialize)]
pub struct PacksBody<'a> {
    pub data: Vec<PackBody<'a>>,
    pub custom_amounts: Vec<CustomAmountBody<'a>>,
}

impl<'a> PacksBody<'a> {
    pub fn of(credits: &'a CreditPolicy) -> Self {
        Self {
            data: credits
                .packs
                .iter()
                .map(|pack| PackBody {
                    id: &pack.id,
                    name: &pack.name,
                    amount: pack.price.minor,
                    currency: pack.price.currency.as_str(),
                    price: pack.price.display(),
                    credits: pack.credits,
                })
                .collect(),
            custom_amounts: credits
                .currencies
                .iter()
                .map(|(currency, rule)| CustomAmountBody {
                    currency: currency.as_str(),
                    credits_per_minor_unit: rule.credits_per_minor_unit,
                    min_amount: rule.min_amount,
                    max_amount: rule.max_amount,
                })
                .collect(),
        }
    }
}

/// A PaymentIntent as Stripe has it now, with the payment it pays.
#[derive(Serialize)]
pub struct IntentBody<'a> {
    pub id: &'a StripePaymentIntentId,
    pub status: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub payment_id: PaymentId,
    pub payment_status: &'static str,
}

impl<'a> IntentBody<'a> {
    pub fn of(intent: &'a PaymentIntentSnapshot, payment: &Payment) -> Self {
        Self {
            id: &intent.id,
            status: &intent.status,
            amount: intent.amount,
            currency: &intent.currency,
            payment_id: payment.id,
            payment_status: payment.status.as_str(),
        }
    }
}

/// A coupon redeemed: the code as stored, the credits granted, the balance after.
#[derive(Serialize)]
pub struct RedemptionBody {
    pub code: String,
    pub credits: i64,
    pub balance: i64,
}

/// The referral bonus rule, in minor units of its currency.
#[derive(Serialize)]
pub struct ReferralBonusBody<'a> {
    pub min_purchase: MoneyBody<'a>,
    pub bonus_credits: i64,
}

#[derive(Serialize)]
pub struct MoneyBody<'a> {
    pub minor: i64,
    pub currency: &'a str,
}

/// The member's referral code, how many signed up with it, and the bonus (if any).
#[derive(Serialize)]
pub struct ReferralBody<'a> {
    pub code: &'a str,
    pub referred: i64,
    pub bonus: Option<ReferralBonusBody<'a>>,
}

impl<'a> ReferralBody<'a> {
    pub fn of(view: &'a ReferralView, rule: Option<&'a ReferralRule>) -> Self {
        Self {
            code: &view.code,
            referred: view.referred,
            bonus: rule.map(|rule| ReferralBonusBody {
                min_purchase: MoneyBody {
                    minor: rule.min_purchase.minor,
                    currency: rule.min_purchase.currency.as_str(),
                },
                bonus_credits: rule.bonus_credits,
            }),
        }
    }
}
