//! The durable webhook inbox: a verified Stripe event is a row before it is acknowledged
//! (invariant 4), processed by a worker at least once and applied exactly once.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::stripe::StripeEventId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Received,
    Processed,
    Failed,
    Ignored,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Received => "received",
            EventStatus::Processed => "processed",
            EventStatus::Failed => "failed",
            EventStatus::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "received" => EventStatus::Received,
            "processed" => EventStatus::Processed,
            "failed" => EventStatus::Failed,
            "ignored" => EventStatus::Ignored,
            _ => return None,
        })
    }
}

/// A verified event about to be stored.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: StripeEventId,
    pub event_type: String,
    pub account: Option<String>,
    pub created: i64,
    pub api_version: Option<String>,
    pub livemode: bool,
    pub payload: String,
    pub status: EventStatus,
    pub received_at: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub struct InboxEvent {
    pub id: StripeEventId,
    pub event_type: String,
    pub account: Option<String>,
    pub created: i64,
    pub api_version: Option<String>,
    pub livemode: bool,
    pub payload: String,
    pub status: EventStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub received_at: OffsetDateTime,
    pub processed_at: Option<OffsetDateTime>,
}

/// The outcome of an attempt that applied nothing, recorded by `InboxStore::settle_events`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub id: StripeEventId,
    /// `Ignored` or `Failed` for good, or `Received` to be retried at `next_attempt_at`.
    pub status: EventStatus,
    pub error: Option<String>,
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// How an arriving event is stored: `received` for the worker when it is of a type the worker
/// syncs, or of a connected account (always routed, so that one of an account no tenant has
/// is flagged unrouted rather than silently ignored); otherwise `ignored`.
pub fn arrival_status(event_type: &str, account: Option<&str>) -> EventStatus {
    if is_handled(event_type) || account.is_some() {
        EventStatus::Received
    } else {
        EventStatus::Ignored
    }
}

/// The event types the worker syncs; every other type is stored as `ignored`.
pub fn is_handled(event_type: &str) -> bool {
    event_type.starts_with("customer.subscription.")
        || matches!(
            event_type,
            "account.updated"
                | "capability.updated"
                | "account.application.deauthorized"
                | "account.external_account.created"
                | "account.external_account.updated"
                | "account.external_account.deleted"
        )
        || matches!(
            event_type,
            "customer.created" | "customer.updated" | "customer.deleted"
        )
        || event_type.starts_with("checkout.session.")
        || event_type.starts_with("invoice.")
        || matches!(
            event_type,
            "payment_intent.succeeded"
                | "payment_intent.payment_failed"
                | "payment_intent.canceled"
                | "charge.refunded"
                | "refund.created"
                | "refund.updated"
                | "refund.failed"
        )
}

/// How long to wait before the next attempt: 2 s doubling, capped at one hour.
pub fn backoff(attempts: u32) -> Duration {
    let seconds = 2i64.saturating_pow(attempts.clamp(1, 12)).min(3600);
    Duration::seconds(seconds)
}

/// After this many attempts an event is marked `failed` and waits for a replay.
pub const MAX_ATTEMPTS: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_handles_billing_events_and_ignores_the_rest() {
        for handled in [
            "customer.subscription.updated",
            "checkout.session.completed",
            "invoice.paid",
            "customer.created",
            "payment_intent.succeeded",
            "charge.refunded",
            "refund.updated",
        ] {
            assert!(is_handled(handled), "{handled}");
        }
        for ignored in [
            "charge.succeeded",
            "payment_intent.created",
            "customer.discount.created",
            "account.application.authorized",
        ] {
            assert!(!is_handled(ignored), "{ignored}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(3), Duration::seconds(8));
        assert_eq!(backoff(30), Duration::seconds(3600));
    }
}
