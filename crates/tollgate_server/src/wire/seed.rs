//! Seed 001's shapes (camelCase, times in unix milliseconds), kept as that app's client
//! expects them.

use serde::Serialize;
use time::OffsetDateTime;
use tollgate_core::stripe::{CheckoutSessionId, CheckoutSnapshot, StripeCustomerId};
use tollgate_core::stripe::{StripePriceId, StripeSubscriptionId};
use tollgate_core::subscription::Subscription;

/// `{session}`.
#[derive(Serialize)]
pub struct SessionAnswer<T> {
    pub session: T,
}

/// `{subscription}`.
#[derive(Serialize)]
pub struct SubscriptionAnswer<T> {
    pub subscription: T,
}

/// A Checkout Session: `{id, url, status}` when just created, `{id, status, customerId,
/// subscriptionId}` when retrieved.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedSessionBody<'a> {
    pub id: &'a CheckoutSessionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Option<&'a str>>,
    pub status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Option<&'a StripeCustomerId>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<Option<&'a StripeSubscriptionId>>,
}

impl<'a> SeedSessionBody<'a> {
    pub fn created(session: &'a CheckoutSnapshot) -> Self {
        Self {
            id: &session.id,
            url: Some(session.url.as_deref()),
            status: &session.status,
            customer_id: None,
            subscription_id: None,
        }
    }

    pub fn retrieved(session: &'a CheckoutSnapshot) -> Self {
        Self {
            id: &session.id,
            url: None,
            status: &session.status,
            customer_id: Some(session.customer.as_ref()),
            subscription_id: Some(session.subscription.as_ref()),
        }
    }
}

/// A subscription; after a cancel only `{id, status, cancelAtPeriodEnd, currentPeriodEnd}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeedSubscriptionBody<'a> {
    pub id: &'a StripeSubscriptionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<&'a StripeCustomerId>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_period_start: Option<i64>,
    pub current_period_end: i64,
    pub cancel_at_period_end: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_id: Option<&'a StripePriceId>,
}

impl<'a> SeedSubscriptionBody<'a> {
    pub fn full(s: &'a Subscription) -> Self {
        Self {
            customer_id: Some(&s.customer),
            current_period_start: Some(millis(s.current_period_start)),
            price_id: Some(&s.price),
            ..Self::cancelled(s)
        }
    }

    pub fn cancelled(s: &'a Subscription) -> Self {
        Self {
            id: &s.id,
            customer_id: None,
            status: s.status.as_str(),
            current_period_start: None,
            current_period_end: millis(s.current_period_end),
            cancel_at_period_end: s.cancel_at_period_end,
            price_id: None,
        }
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
