//! Plans, subscriptions, the billing summary, entitlements and invoices.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use tollgate_core::UserId;
use tollgate_core::invoice::Invoice;
use tollgate_core::plan::Plan;
use tollgate_core::stripe::{
    CheckoutMode, CheckoutSessionId, CheckoutSnapshot, StripeCustomerId, StripeInvoiceId,
    StripePaymentIntentId, StripePriceId, StripeSubscriptionId,
};
use tollgate_core::subscription::{BillingSummary, Entitlements, Subscription};

#[derive(Serialize)]
pub struct PlanBody<'a> {
    /// Our name for the plan, used in requests (`{"plan": "pro_monthly"}`).
    pub id: &'a str,
    pub name: &'a str,
    pub price_id: Option<&'a StripePriceId>,
    pub amount: i64,
    pub currency: &'a str,
    pub interval: &'static str,
    pub features: &'a [String],
    pub limits: &'a BTreeMap<String, i64>,
    pub trial_period_days: Option<u32>,
}

impl<'a> PlanBody<'a> {
    pub fn of(plan: &'a Plan) -> Self {
        Self {
            id: &plan.id,
            name: &plan.name,
            price_id: plan.price_id.as_ref(),
            amount: plan.amount,
            currency: &plan.currency,
            interval: plan.interval.as_str(),
            features: &plan.features,
            limits: &plan.limits,
            trial_period_days: plan.trial_period_days,
        }
    }
}

#[derive(Serialize)]
pub struct SubscriptionBody<'a> {
    pub id: &'a StripeSubscriptionId,
    pub user_id: UserId,
    pub customer: &'a StripeCustomerId,
    pub status: &'static str,
    pub price: &'a StripePriceId,
    pub plan: Option<&'a str>,
    pub quantity: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub current_period_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub current_period_end: OffsetDateTime,
    pub cancel_at_period_end: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub canceled_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub trial_end: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl<'a> SubscriptionBody<'a> {
    pub fn of(subscription: &'a Subscription) -> Self {
        Self {
            id: &subscription.id,
            user_id: subscription.user_id,
            customer: &subscription.customer,
            status: subscription.status.as_str(),
            price: &subscription.price,
            plan: subscription.plan.as_deref(),
            quantity: subscription.quantity,
            current_period_start: subscription.current_period_start,
            current_period_end: subscription.current_period_end,
            cancel_at_period_end: subscription.cancel_at_period_end,
            canceled_at: subscription.canceled_at,
            ended_at: subscription.ended_at,
            trial_end: subscription.trial_end,
            created_at: subscription.created_at,
        }
    }
}

/// The member's billing in seed 000's and seed 001's words, with the subscription.
#[derive(Serialize)]
pub struct SummaryBody<'a> {
    /// `preapproved | paid | payment_failed | cancelled`.
    pub subscription_status: &'static str,
    pub subscription_active: bool,
    /// When the latest payment was confirmed by Stripe.
    #[serde(with = "time::serde::rfc3339::option")]
    pub payment_date: Option<OffsetDateTime>,
    /// `free` or `pro`.
    pub tier: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
    pub subscription: Option<SubscriptionBody<'a>>,
}

impl<'a> SummaryBody<'a> {
    pub fn of(summary: &'a BillingSummary) -> Self {
        Self {
            subscription_status: summary.subscription_status.as_str(),
            subscription_active: summary.subscription_active,
            payment_date: summary.payment_date,
            tier: summary.tier,
            current_period_end: summary.current_period_end,
            subscription: summary.subscription.as_ref().map(SubscriptionBody::of),
        }
    }
}

#[derive(Serialize)]
pub struct EntitlementsBody<'a> {
    pub active: bool,
    pub plan: Option<&'a str>,
    pub features: &'a [String],
    pub limits: &'a BTreeMap<String, i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub current_period_end: Option<OffsetDateTime>,
}

impl<'a> EntitlementsBody<'a> {
    pub fn of(entitlements: &'a Entitlements) -> Self {
        Self {
            active: entitlements.active,
            plan: entitlements.plan.as_deref(),
            features: &entitlements.features,
            limits: &entitlements.limits,
            current_period_end: entitlements.current_period_end,
        }
    }
}

#[derive(Serialize)]
pub struct InvoiceBody<'a> {
    pub id: &'a StripeInvoiceId,
    pub user_id: UserId,
    pub subscription: Option<&'a StripeSubscriptionId>,
    pub status: &'a str,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: &'a str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub paid_at: Option<OffsetDateTime>,
    pub hosted_invoice_url: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl<'a> InvoiceBody<'a> {
    pub fn of(invoice: &'a Invoice) -> Self {
        Self {
            id: &invoice.id,
            user_id: invoice.user_id,
            subscription: invoice.subscription.as_ref(),
            status: &invoice.status,
            amount_due: invoice.amount_due,
            amount_paid: invoice.amount_paid,
            currency: &invoice.currency,
            paid_at: invoice.paid_at,
            hosted_invoice_url: invoice.hosted_invoice_url.as_deref(),
            created_at: invoice.created_at,
        }
    }
}

/// A subscription Checkout just started: where to send the member.
#[derive(Serialize)]
pub struct CheckoutStartedBody<'a> {
    pub id: &'a CheckoutSessionId,
    pub url: Option<&'a str>,
}

/// A Checkout Session as Stripe has it now.
#[derive(Serialize)]
pub struct CheckoutSessionBody<'a> {
    pub id: &'a CheckoutSessionId,
    /// `open`, `complete` or `expired`.
    pub status: &'a str,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: &'a str,
    pub customer: Option<&'a StripeCustomerId>,
    pub subscription: Option<&'a StripeSubscriptionId>,
    pub mode: CheckoutMode,
    pub amount_total: Option<i64>,
    pub currency: Option<&'a str>,
    pub payment_intent: Option<&'a StripePaymentIntentId>,
    /// Unix seconds.
    pub expires_at: i64,
}

impl<'a> CheckoutSessionBody<'a> {
    pub fn of(session: &'a CheckoutSnapshot) -> Self {
        Self {
            id: &session.id,
            status: &session.status,
            payment_status: &session.payment_status,
            customer: session.customer.as_ref(),
            subscription: session.subscription.as_ref(),
            mode: session.mode,
            amount_total: session.amount_total,
            currency: session.currency.as_deref(),
            payment_intent: session.payment_intent.as_ref(),
            expires_at: session.expires_at.unix_timestamp(),
        }
    }
}
