//! The webhook inbox: insert-once by event id, lease-based claiming (PostgreSQL: `FOR UPDATE
//! SKIP LOCKED` so several instances share the work; SQLite: the single writer serialises
//! claims), settling, listing and replay.

use sqlx::any::AnyRow;
use time::{Duration, OffsetDateTime};
use tollgate_core::StoreError;
use tollgate_core::inbox::{EventStatus, InboxEvent, NewEvent};
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;

use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse};
use crate::{Backend, SqlStore};

pub(crate) const EVENT_COLUMNS: &str = "id, type, account, created, api_version, livemode, payload, status, attempts, last_error, received_at, processed_at";

pub(crate) fn event_from_row(row: &AnyRow) -> Result<InboxEvent, StoreError> {
    let attempts: i64 = get(row, "attempts")?;
    let livemode: i64 = get(row, "livemode")?;
    Ok(InboxEvent {
        id: parse(row, "id", StripeEventId::parse)?,
        event_type: get(row, "type")?,
        account: get(row, "account")?,
        created: get(row, "created")?,
        api_version: get(row, "api_version")?,
        livemode: livemode != 0,
        payload: get(row, "payload")?,
        status: parse(row, "status", |s| {
            EventStatus::parse(s).ok_or("unknown status")
        })?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error: get(row, "last_error")?,
        received_at: get_time(row, "received_at")?,
        processed_at: get_opt_time(row, "processed_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn insert_event(&self, event: &NewEvent) -> Result<bool, StoreError> {
        let received = millis(event.received_at);
        let processed = (event.status != EventStatus::Received).then_some(received);
        let result = sqlx::query(
            "INSERT INTO stripe_events (id, type, account, created, api_version, livemode, payload, status, \
                 attempts, received_at, next_attempt_at, processed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9, $10) ON CONFLICT (id) DO NOTHING",
        )
        .bind(event.id.as_str())
        .bind(&event.event_type)
        .bind(event.account.clone())
        .bind(event.created)
        .bind(event.api_version.clone())
        .bind(i64::from(event.livemode))
        .bind(&event.payload)
        .bind(event.status.as_str())
        .bind(received)
        .bind(processed)
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    pub(crate) async fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        // The one dialect difference of the inbox: PostgreSQL skips rows another instance holds.
        let lock = match self.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "UPDATE stripe_events SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM stripe_events \
                          WHERE status = 'received' AND next_attempt_at <= $2 \
                            AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY received_at, id LIMIT $3 {lock}) \
             RETURNING {EVENT_COLUMNS}"
        ))
        .bind(millis(now + lease))
        .bind(millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.write)
        .await
        .map_err(db_error)?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        events.sort_by(|a, b| (a.received_at, a.id.as_str()).cmp(&(b.received_at, b.id.as_str())));
        Ok(events)
    }

    pub(crate) async fn settle(
        &self,
        id: &StripeEventId,
        status: EventStatus,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let done =
            matches!(status, EventStatus::Processed | EventStatus::Ignored).then_some(millis(now));
        sqlx::query(
            "UPDATE stripe_events SET status = $1, last_error = $2, \
                 next_attempt_at = COALESCE($3, next_attempt_at), locked_until = NULL, processed_at = $4 \
             WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(error.map(|e| e.chars().take(2000).collect::<String>()))
        .bind(next_attempt_at.map(millis))
        .bind(done)
        .bind(id.as_str())
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    pub(crate) async fn find_event(
        &self,
        id: &StripeEventId,
    ) -> Result<Option<InboxEvent>, StoreError> {
        sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM stripe_events WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(event_from_row)
        .transpose()
    }

    pub(crate) async fn list_events(
        &self,
        status: Option<EventStatus>,
        page: Page<StripeEventId>,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM stripe_events \
             WHERE ($1 IS NULL OR status = $1) \
               AND ($2 IS NULL OR (received_at, id) < (SELECT received_at, id FROM stripe_events WHERE id = $2)) \
             ORDER BY received_at DESC, id DESC LIMIT $3"
        ))
        .bind(status.map(EventStatus::as_str))
        .bind(page.before.map(|id| id.as_str().to_string()))
        .bind(i64::from(page.limit))
        .fetch_all(&self.read)
        .await
        .map_err(db_error)?;
        rows.iter().map(event_from_row).collect()
    }

    pub(crate) async fn requeue(
        &self,
        id: Option<&StripeEventId>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE stripe_events SET status = 'received', attempts = 0, next_attempt_at = $1, \
                 locked_until = NULL, last_error = NULL, processed_at = NULL \
             WHERE ($2 IS NULL AND status = 'failed') OR id = $2",
        )
        .bind(millis(now))
        .bind(id.map(|id| id.as_str().to_string()))
        .execute(&self.write)
        .await
        .map_err(db_error)?;
        Ok(result.rows_affected())
    }
}
