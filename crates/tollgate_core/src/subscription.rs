//! A member's subscription as tollgate keeps it (synced from Stripe, never from a browser),
//! and the views derived from it: seed 000's payment status, seed 001's tier, entitlements.
//! Keeps invariant 1: only Stripe's state decides who paid.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use crate::UserId;
use crate::plan::Catalog;
use crate::stripe::{StripeCustomerId, StripePriceId, StripeSubscriptionId, SubscriptionStatus};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub id: StripeSubscriptionId,
    pub user_id: UserId,
    pub customer: StripeCustomerId,
    pub status: SubscriptionStatus,
    pub price: StripePriceId,
    pub plan: Option<String>,
    pub quantity: u64,
    pub current_period_start: OffsetDateTime,
    pub current_period_end: OffsetDateTime,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub trial_end: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl Subscription {
    /// Whether this subscription grants access now: Stripe keeps `active` until the period
    /// ends even when it is set to cancel, so the status alone decides.
    pub fn is_entitled(&self) -> bool {
        matches!(
            self.status,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing
        )
    }

    /// Whether a new checkout would make a second live subscription.
    pub fn is_live(&self) -> bool {
        !self.status.is_terminal() && self.status != SubscriptionStatus::Incomplete
    }
}

/// The subscription that speaks for a user: the newest live one, else the newest.
pub fn current(subscriptions: &[Subscription]) -> Option<&Subscription> {
    subscriptions
        .iter()
        .filter(|s| s.is_live())
        .max_by_key(|s| s.created_at)
        .or_else(|| subscriptions.iter().max_by_key(|s| s.created_at))
}

/// Seed 000's `subscriptionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Signed up, never paid (or the first payment is still pending).
    Preapproved,
    Paid,
    PaymentFailed,
    Cancelled,
}

impl PaymentStatus {
    pub fn of(subscription: Option<&Subscription>) -> Self {
        match subscription.map(|s| s.status) {
            None | Some(SubscriptionStatus::Incomplete) => PaymentStatus::Preapproved,
            Some(SubscriptionStatus::Active | SubscriptionStatus::Trialing) => PaymentStatus::Paid,
            Some(
                SubscriptionStatus::PastDue
                | SubscriptionStatus::Unpaid
                | SubscriptionStatus::Paused,
            ) => PaymentStatus::PaymentFailed,
            Some(SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired) => {
                PaymentStatus::Cancelled
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Preapproved => "preapproved",
            PaymentStatus::Paid => "paid",
            PaymentStatus::PaymentFailed => "payment_failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }
}

/// What a user may do now: the hot path host applications ask on every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entitlements {
    pub active: bool,
    pub plan: Option<String>,
    pub features: Vec<String>,
    pub limits: BTreeMap<String, i64>,
    pub current_period_end: Option<OffsetDateTime>,
}

impl Entitlements {
    pub fn of(subscription: Option<&Subscription>, catalog: &Catalog) -> Self {
        let Some(subscription) = subscription.filter(|s| s.is_entitled()) else {
            return Self {
                active: false,
                plan: None,
                features: vec![],
                limits: BTreeMap::new(),
                current_period_end: None,
            };
        };
        let plan = subscription.plan.as_deref().and_then(|id| catalog.plan(id));
        Self {
            active: true,
            plan: subscription.plan.clone(),
            features: plan.map(|p| p.features.clone()).unwrap_or_default(),
            limits: plan.map(|p| p.limits.clone()).unwrap_or_default(),
            current_period_end: Some(subscription.current_period_end),
        }
    }
}

/// A user's billing summary: the seeds' fields, derived rather than stored twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingSummary {
    /// Seed 000: `preapproved | paid | payment_failed | cancelled`.
    pub subscription_status: PaymentStatus,
    /// Seed 000: `subscriptionActive`.
    pub subscription_active: bool,
    /// Seed 000: when the latest payment was confirmed by Stripe.
    pub payment_date: Option<OffsetDateTime>,
    /// Seed 001: `free` or `pro`.
    pub tier: &'static str,
    pub current_period_end: Option<OffsetDateTime>,
    pub subscription: Option<Subscription>,
}

impl BillingSummary {
    pub fn of(subscription: Option<&Subscription>, last_payment: Option<OffsetDateTime>) -> Self {
        let active = subscription.is_some_and(Subscription::is_entitled);
        Self {
            subscription_status: PaymentStatus::of(subscription),
            subscription_active: active,
            payment_date: last_payment,
            tier: if active { "pro" } else { "free" },
            current_period_end: subscription.map(|s| s.current_period_end),
            subscription: subscription.cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn subscription(status: SubscriptionStatus, created: i64) -> Subscription {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000 + created).expect("time");
        Subscription {
            id: StripeSubscriptionId::parse(&format!("sub_{created}")).expect("id"),
            user_id: UserId::new(),
            customer: StripeCustomerId::parse("cus_1").expect("id"),
            status,
            price: StripePriceId::parse("price_1").expect("id"),
            plan: Some("pro".into()),
            quantity: 1,
            current_period_start: t,
            current_period_end: t + Duration::days(30),
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            trial_end: None,
            created_at: t,
        }
    }

    #[test]
    fn seed_000_statuses_follow_stripe_statuses() {
        use SubscriptionStatus::*;
        assert_eq!(PaymentStatus::of(None), PaymentStatus::Preapproved);
        for (status, expected) in [
            (Incomplete, PaymentStatus::Preapproved),
            (Active, PaymentStatus::Paid),
            (Trialing, PaymentStatus::Paid),
            (PastDue, PaymentStatus::PaymentFailed),
            (Unpaid, PaymentStatus::PaymentFailed),
            (Canceled, PaymentStatus::Cancelled),
            (IncompleteExpired, PaymentStatus::Cancelled),
        ] {
            assert_eq!(
                PaymentStatus::of(Some(&subscription(status, 0))),
                expected,
                "{status:?}"
            );
        }
    }

    #[test]
    fn the_newest_live_subscription_speaks_for_the_user() {
        let old_active = subscription(SubscriptionStatus::Active, 0);
        let newer_canceled = subscription(SubscriptionStatus::Canceled, 100);
        let subs = [old_active.clone(), newer_canceled.clone()];
        assert_eq!(current(&subs), Some(&old_active));
        assert_eq!(
            current(std::slice::from_ref(&newer_canceled)),
            Some(&newer_canceled)
        );
        assert_eq!(current(&[]), None);
    }

    #[test]
    fn only_an_active_or_trialing_subscription_entitles() {
        let catalog = Catalog::default();
        assert!(
            Entitlements::of(Some(&subscription(SubscriptionStatus::Active, 0)), &catalog).active
        );
        assert!(
            !Entitlements::of(
                Some(&subscription(SubscriptionStatus::PastDue, 0)),
                &catalog
            )
            .active
        );
        let summary =
            BillingSummary::of(Some(&subscription(SubscriptionStatus::Trialing, 0)), None);
        assert_eq!((summary.tier, summary.subscription_active), ("pro", true));
    }
}
