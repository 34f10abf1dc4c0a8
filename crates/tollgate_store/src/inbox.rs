//! The webhook inbox: insert-once by event id, lease-based claiming (PostgreSQL: `FOR UPDATE
//! SKIP LOCKED` so several instances share the work; SQLite: the single writer serialises
//! claims), settling, listing and replay. On a served SQLite file the events go through the
//! inbox journal first (`journal.rs`): appended and synced before their 2xx, folded into
//! `stripe_events` before anything reads the inbox, so every read sees every acknowledged event.

use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::Arc;
use tollgate_core::store::InboxStore;

use sqlx::any::AnyRow;
use sqlx::{Any, Executor};
use time::{Duration, OffsetDateTime};
use tollgate_core::StoreError;
use tollgate_core::inbox::{EventStatus, InboxEvent, NewEvent, Settlement};
use tollgate_core::store::Page;
use tollgate_core::stripe::StripeEventId;

use crate::columns::{db_error, get, get_opt_time, get_time, millis, parse, push_values};
use crate::journal::InboxJournal;
use crate::journal_thread::{JournalThread, Rows};
use crate::{Backend, SqlStore};

/// Events folded from the journal per statement and commit: big enough to share a commit's
/// cost, small enough not to hold SQLite's one writer for long.
const FOLD_ROWS: usize = 500;

/// The journal, the thread that appends to it, and the order its folds keep.
#[derive(Debug)]
pub(crate) struct JournaledInbox {
    pub(crate) file: Arc<InboxJournal>,
    /// Checks each group of deliveries for duplicates and appends it, one group at a time, so
    /// two deliveries of one id in different groups cannot both pass the check.
    appender: JournalThread,
    /// One fold at a time, so that each event is read back and inserted once.
    folding: tokio::sync::Mutex<()>,
}

impl JournaledInbox {
    pub(crate) fn new(file: InboxJournal, rows: Rows) -> std::io::Result<Self> {
        let file = Arc::new(file);
        Ok(Self {
            appender: JournalThread::start(Arc::clone(&file), rows)?,
            file,
            folding: tokio::sync::Mutex::new(()),
        })
    }
}

pub(crate) fn journal_error(error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("inbox journal: {error}"))
}

fn joined<T>(outcome: Result<std::io::Result<T>, tokio::task::JoinError>) -> Result<T, StoreError> {
    match outcome {
        Ok(result) => result.map_err(journal_error),
        Err(e) => Err(StoreError::Unavailable(format!("inbox journal task: {e}"))),
    }
}

/// Event ids read per statement when the journal learns which are rows.
const SCAN_IDS: i64 = 10_000;

/// Rows per statement of `insert_events` and `settle`: at most 10 parameters each, well below
/// SQLite's limit of 32 766.
const MAX_ROWS_PER_INSERT: usize = 1000;

pub(crate) const EVENT_COLUMNS: &str = "id, type, account, created, api_version, livemode, payload, status, attempts, last_error, received_at, processed_at";

/// Settles an event as processed inside the transaction that applied its changes.
pub(crate) async fn mark_processed(
    tx: &mut sqlx::Transaction<'_, Any>,
    event: &StripeEventId,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE stripe_events SET status = 'processed', processed_at = $1, last_error = NULL, \
         locked_until = NULL WHERE id = $2",
    )
    .bind(millis(at))
    .bind(event.as_str())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

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

/// One multi-row `INSERT … ON CONFLICT (id) DO NOTHING RETURNING id`; adds the ids it stored.
async fn insert_rows<'e>(
    executor: impl Executor<'e, Database = Any>,
    backend: Backend,
    fresh: &[&NewEvent],
    inserted: &mut HashSet<String>,
) -> Result<(), StoreError> {
    let mut sql = String::from(
        "INSERT INTO stripe_events (id, type, account, created, api_version, livemode, payload, \
             status, received_at, next_attempt_at, processed_at) VALUES ",
    );
    push_values(&mut sql, backend, fresh.len(), 11);
    // RETURNING lists only the rows inserted: an id missing from it was already stored.
    sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
    let mut query = sqlx::query(&sql);
    for event in fresh {
        let received = millis(event.received_at);
        let processed = (event.status != EventStatus::Received).then_some(received);
        query = query
            .bind(event.id.as_str())
            .bind(event.event_type.as_str())
            .bind(event.account.as_deref())
            .bind(event.created)
            .bind(event.api_version.as_deref())
            .bind(i64::from(event.livemode))
            .bind(event.payload.as_str())
            .bind(event.status.as_str())
            .bind(received)
            .bind(received)
            .bind(processed);
    }
    for row in query.fetch_all(executor).await.map_err(db_error)? {
        inserted.insert(get::<String>(&row, "id")?);
    }
    Ok(())
}

#[async_trait]
impl InboxStore for SqlStore {
    /// Inserts a batch in one statement, so one commit covers every delivery that arrived
    /// together (group commit). Returns, per event, whether it was stored: `false` for an id
    /// already stored, and for a later repeat of an id within the batch.
    async fn record_events(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, StoreError> {
        if let Some(journal) = &self.journal {
            return journal.appender.record(events).await;
        }
        let mut first_of_id = HashSet::with_capacity(events.len());
        let fresh: Vec<&NewEvent> = events
            .iter()
            .filter(|e| first_of_id.insert(e.id.as_str()))
            .collect();
        let mut inserted = HashSet::with_capacity(fresh.len());
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        if fresh.len() <= MAX_ROWS_PER_INSERT {
            // One statement is one transaction: no BEGIN/COMMIT round trips.
            insert_rows(&self.write, self.backend(), &fresh, &mut inserted).await?;
        } else {
            // Chunks keep each statement below SQLite's 32 766 bound parameters.
            let mut tx = self.write.begin().await.map_err(db_error)?;
            for chunk in fresh.chunks(MAX_ROWS_PER_INSERT) {
                insert_rows(&mut *tx, self.backend(), chunk, &mut inserted).await?;
            }
            tx.commit().await.map_err(db_error)?;
        }
        let mut answered = HashSet::with_capacity(events.len());
        Ok(events
            .iter()
            .map(|e| inserted.contains(e.id.as_str()) && answered.insert(e.id.as_str()))
            .collect())
    }

    async fn claim_events(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        self.fold_journal().await?;
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

    /// Records the outcomes of a batch in one statement (one commit). Errors are cut to
    /// 2,000 characters: enough to diagnose, bounded in the row.
    async fn settle_events(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if settlements.is_empty() {
            return Ok(());
        }
        self.fold_journal().await?;
        let done = millis(now);
        for chunk in settlements.chunks(MAX_ROWS_PER_INSERT) {
            // A CTE names the columns of VALUES in both dialects (SQLite has no `AS v(…)`).
            let mut sql = String::from(
                "WITH v (id, status, last_error, next_attempt_at, processed_at) AS (VALUES ",
            );
            push_values(&mut sql, self.backend(), chunk.len(), 5);
            sql.push_str(
                ") UPDATE stripe_events SET status = v.status, last_error = v.last_error, \
                     next_attempt_at = COALESCE(v.next_attempt_at, stripe_events.next_attempt_at), \
                     locked_until = NULL, processed_at = v.processed_at \
                 FROM v WHERE stripe_events.id = v.id",
            );
            let mut query = sqlx::query(&sql);
            for settlement in chunk {
                let finished = matches!(
                    settlement.status,
                    EventStatus::Processed | EventStatus::Ignored
                );
                query = query
                    .bind(settlement.id.as_str())
                    .bind(settlement.status.as_str())
                    .bind(
                        settlement
                            .error
                            .as_ref()
                            .map(|e| e.chars().take(2000).collect::<String>()),
                    )
                    .bind(settlement.next_attempt_at.map(millis))
                    .bind(finished.then_some(done));
            }
            query.execute(&self.write).await.map_err(db_error)?;
        }
        Ok(())
    }

    async fn event(&self, id: &StripeEventId) -> Result<Option<InboxEvent>, StoreError> {
        self.fold_journal().await?;
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

    /// Newest first. Only the conditions asked for are written into the statement, so each is
    /// an index range: `($1 IS NULL OR …)` hid them from PostgreSQL's generic plans, and a page
    /// deep in a 200 000-event inbox read 50 000 rows (77 ms), a `failed` list all of them
    /// (311 ms). The status is one of our constants, written as a literal so that the partial
    /// index of that status matches (`received`: the claim index; `failed`: migration 0006).
    async fn events(
        &self,
        status: Option<EventStatus>,
        page: Page<StripeEventId>,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        self.fold_journal().await?;
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM stripe_events WHERE TRUE");
        if let Some(status) = status {
            sql.push_str(" AND status = '");
            sql.push_str(status.as_str());
            sql.push('\'');
        }
        if page.before.is_some() {
            sql.push_str(
                " AND (received_at, id) < (SELECT received_at, id FROM stripe_events WHERE id = $1)",
            );
        }
        let limit = if page.before.is_some() { "$2" } else { "$1" };
        sql.push_str(" ORDER BY received_at DESC, id DESC LIMIT ");
        sql.push_str(limit);
        let mut query = sqlx::query(&sql);
        if let Some(before) = &page.before {
            query = query.bind(before.as_str());
        }
        let rows = query
            .bind(i64::from(page.limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_error)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn record_event(&self, event: &NewEvent) -> Result<bool, StoreError> {
        let stored = self.record_events(vec![event.clone()]).await?;
        Ok(stored.first().copied().unwrap_or(false))
    }

    fn groups_event_writes(&self) -> bool {
        self.journal.is_some()
    }

    async fn settle_event(
        &self,
        event: &StripeEventId,
        status: EventStatus,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let settlement = Settlement {
            id: event.clone(),
            status,
            error: error.map(str::to_string),
            next_attempt_at,
        };
        self.settle_events(std::slice::from_ref(&settlement), now)
            .await
    }

    async fn replay_event(
        &self,
        id: &StripeEventId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.requeue(Some(id), now).await? == 1)
    }

    async fn replay_failed(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.requeue(None, now).await
    }
}

impl SqlStore {
    /// Tells the journal every event id that is a row already, reading the primary key in
    /// pages: what lets it answer "new" without asking the table (`id_filter.rs`).
    pub(crate) async fn remember_stored_events(
        &self,
        journal: &InboxJournal,
    ) -> Result<(), StoreError> {
        let count = sqlx::query("SELECT count(*) AS n FROM stripe_events")
            .fetch_one(&self.read)
            .await
            .map_err(db_error)?;
        journal.expect_stored(usize::try_from(get::<i64>(&count, "n")?).unwrap_or(0));
        let mut after = String::new();
        loop {
            let page =
                sqlx::query("SELECT id FROM stripe_events WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after.as_str())
                    .bind(SCAN_IDS)
                    .fetch_all(&self.read)
                    .await
                    .map_err(db_error)?;
            let ids = page
                .iter()
                .map(|row| get::<String>(row, "id"))
                .collect::<Result<Vec<_>, _>>()?;
            journal.remember_stored(ids.iter().map(String::as_str));
            match ids.last() {
                Some(last) if ids.len() == SCAN_IDS as usize => after.clone_from(last),
                _ => return Ok(()),
            }
        }
    }

    /// Moves what the journal holds into `stripe_events`, `FOLD_ROWS` at a time, each in one
    /// commit. Everything that reads or updates inbox rows calls it first; it costs a lock when
    /// there is nothing to fold.
    pub(crate) async fn fold_journal(&self) -> Result<(), StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        if !journal.file.has_unfolded() {
            return Ok(());
        }
        let _turn = journal.folding.lock().await;
        loop {
            let reader = Arc::clone(journal);
            let Some(unfolded) =
                joined(tokio::task::spawn_blocking(move || reader.file.unfolded(FOLD_ROWS)).await)?
            else {
                return Ok(());
            };
            let mut first_of_id = HashSet::with_capacity(unfolded.events.len());
            let rows: Vec<&NewEvent> = unfolded
                .events
                .iter()
                .filter(|e| first_of_id.insert(e.id.as_str()))
                .collect();
            let mut inserted = HashSet::new();
            insert_rows(&self.write, self.backend(), &rows, &mut inserted).await?;
            let ids: Vec<&str> = rows.iter().map(|e| e.id.as_str()).collect();
            journal.file.folded(unfolded.upto, &ids);
        }
    }

    pub(crate) async fn requeue(
        &self,
        id: Option<&StripeEventId>,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        self.fold_journal().await?;
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
