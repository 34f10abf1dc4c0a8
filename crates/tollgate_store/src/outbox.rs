//! The notification outbox: messages written with the fact they announce, unique per fact and
//! channel, leased by the delivery worker and settled as delivered, retried or failed.

use async_trait::async_trait;
use sqlx::{Any, Transaction};
use time::{Duration, OffsetDateTime};
use tollgate_core::notification::{OutboxMessage, PendingMessage, Topic};
use tollgate_core::store::OutboxStore;
use tollgate_core::{StoreError, UserId};

use crate::columns::{db_error, get, get_time, millis, parse};
use crate::{Backend, SqlStore};

pub(crate) async fn insert_message(
    tx: &mut Transaction<'_, Any>,
    message: &OutboxMessage,
) -> Result<(), StoreError> {
    let at = millis(message.created_at);
    sqlx::query(
        "INSERT INTO outbox (id, dedupe_key, topic, channel, user_id, payload, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(uuid_text())
    .bind(&message.dedupe_key)
    .bind(message.topic.as_str())
    .bind(&message.channel)
    .bind(message.user_id.to_string())
    .bind(message.payload.to_string())
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn uuid_text() -> String {
    tollgate_core::AuditId::new().to_string()
}

fn topic(text: &str) -> Option<Topic> {
    [
        Topic::SubscriptionActivated,
        Topic::PaymentSucceeded,
        Topic::PaymentFailed,
        Topic::SubscriptionCanceled,
    ]
    .into_iter()
    .find(|t| t.as_str() == text)
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_messages(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<PendingMessage>, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
                            AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY created_at, id LIMIT $3 {lock}) \
             RETURNING id, dedupe_key, topic, channel, user_id, payload, attempts, created_at"
        ))
        .bind(millis(now + lease))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let attempts: i64 = get(row, "attempts")?;
                Ok(PendingMessage {
                    id: get(row, "id")?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    message: OutboxMessage {
                        dedupe_key: get(row, "dedupe_key")?,
                        topic: parse(row, "topic", |t| topic(t).ok_or("unknown topic"))?,
                        channel: get(row, "channel")?,
                        user_id: parse(row, "user_id", UserId::parse)?,
                        payload: parse(row, "payload", |p| {
                            serde_json::from_str::<serde_json::Value>(p)
                        })?,
                        created_at: get_time(row, "created_at")?,
                    },
                })
            })
            .collect()
    }

    async fn settle_message(
        &self,
        id: &str,
        delivered: bool,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let status = match (delivered, next_attempt_at) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, last_error = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
                 locked_until = NULL, delivered_at = $4 WHERE id = $5",
        )
        .bind(status)
        .bind(error.map(|e| e.chars().take(2000).collect::<String>()))
        .bind(next_attempt_at.map(millis))
        .bind(delivered.then_some(millis(now)))
        .bind(id)
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
