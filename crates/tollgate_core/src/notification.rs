//! Notifications of billing facts (seed 000's `notifyAdmin`, host-app webhooks), written to
//! the outbox in the same transaction as the fact, delivered later with retries; one per
//! fact and channel, however often the fact's events arrive.

use serde::Serialize;
use time::OffsetDateTime;

use crate::UserId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Topic {
    #[serde(rename = "subscription.activated")]
    SubscriptionActivated,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::SubscriptionActivated => "subscription.activated",
            Topic::PaymentSucceeded => "payment.succeeded",
            Topic::PaymentFailed => "payment.failed",
            Topic::SubscriptionCanceled => "subscription.canceled",
        }
    }
}

/// One message for one channel (`email:admins` or `webhook:<url>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Unique per fact and channel, e.g. `payment.succeeded:in_123|webhook:https://app/hook`.
    pub dedupe_key: String,
    pub topic: Topic,
    pub channel: String,
    pub user_id: UserId,
    pub payload: serde_json::Value,
    pub created_at: OffsetDateTime,
}

impl OutboxMessage {
    /// One message per channel for a fact identified by `fact` (an object id).
    pub fn fan_out(
        topic: Topic,
        fact: &str,
        user_id: UserId,
        payload: serde_json::Value,
        channels: &[String],
        at: OffsetDateTime,
    ) -> Vec<Self> {
        channels
            .iter()
            .map(|channel| OutboxMessage {
                dedupe_key: format!("{}:{fact}|{channel}", topic.as_str()),
                topic,
                channel: channel.clone(),
                user_id,
                payload: payload.clone(),
                created_at: at,
            })
            .collect()
    }
}

/// A message waiting in the outbox.
#[derive(Clone, Debug)]
pub struct PendingMessage {
    pub id: String,
    pub message: OutboxMessage,
    pub attempts: u32,
}
