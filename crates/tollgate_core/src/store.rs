//! The storage port: coarse commands, each one transaction, implemented by `tollgate_store`
//! on SQLite and PostgreSQL and run through one contract test suite.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{NewUser, Role, SessionRecord, User};
use crate::api_key::{ApiKey, NewApiKey};
use crate::audit::AuditEntry;
use crate::inbox::{EventStatus, InboxEvent, NewEvent, Settlement};
use crate::invoice::Invoice;
use crate::notification::{OutboxMessage, PendingMessage};
use crate::stripe::{CheckoutSessionId, StripeCustomerId, StripeEventId};
use crate::subscription::Subscription;
use crate::{ApiKeyId, Email, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (e.g. an email already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or answered with an error; the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The stored data broke an expectation of the code (a bug or a manual edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// One page of a listing in creation order, newest first: `before` is the last id of the previous page.
#[derive(Clone, Copy, Debug)]
pub struct Page<C> {
    pub limit: u32,
    pub before: Option<C>,
}

/// Everything one event changes, applied in one transaction by `Store::apply_sync`.
#[derive(Clone, Debug, Default)]
pub struct SyncChanges {
    /// When the objects were fetched from Stripe (before the request): the order of writes.
    pub fetched_at: Option<OffsetDateTime>,
    pub customer_link: Option<(UserId, StripeCustomerId)>,
    pub checkout_status: Option<(CheckoutSessionId, String)>,
    pub subscription: Option<Subscription>,
    pub invoice: Option<Invoice>,
    pub messages: Vec<OutboxMessage>,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The database answers and every migration this build knows is applied.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Inserts a user and its audit entry; `Conflict` when the email or external id is taken.
    async fn insert_user(&self, user: &NewUser, audit: &AuditEntry) -> Result<User, StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// The user with this email and their password hash, if they have one.
    async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<String>)>, StoreError>;
    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, StoreError>;
    async fn users(&self, role: Option<Role>, page: Page<UserId>) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self, role: Option<Role>) -> Result<i64, StoreError>;

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The live session with this token hash and its user; expired sessions are not returned.
    async fn session(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(SessionRecord, User)>, StoreError>;
    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;
    /// Removes expired sessions; returns how many.
    async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    async fn insert_api_key(
        &self,
        key: &NewApiKey,
        audit: &AuditEntry,
    ) -> Result<ApiKey, StoreError>;
    /// The user's keys that are not revoked, newest first.
    async fn api_keys(&self, user: UserId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key of this user; `false` when there is no such unrevoked key.
    async fn revoke_api_key(
        &self,
        user: UserId,
        id: ApiKeyId,
        now: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool, StoreError>;
    /// The unrevoked key with this hash and its user; records the use (at most once a minute).
    async fn authenticate_api_key(
        &self,
        key_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(ApiKey, User)>, StoreError>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;

    // --- billing -------------------------------------------------------------------------

    async fn stripe_customer_of(
        &self,
        user: UserId,
    ) -> Result<Option<StripeCustomerId>, StoreError>;
    async fn user_of_stripe_customer(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Option<UserId>, StoreError>;
    /// Links a user to their Stripe customer; the first link wins and is returned, so a user
    /// has exactly one customer however many requests race (invariant 5).
    async fn link_stripe_customer(
        &self,
        user: UserId,
        customer: &StripeCustomerId,
        now: OffsetDateTime,
    ) -> Result<StripeCustomerId, StoreError>;

    async fn record_checkout_session(
        &self,
        id: &CheckoutSessionId,
        user: UserId,
        mode: &str,
        plan: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    async fn checkout_session_owner(
        &self,
        id: &CheckoutSessionId,
    ) -> Result<Option<UserId>, StoreError>;

    /// All of a user's subscriptions, newest first.
    async fn subscriptions_of(&self, user: UserId) -> Result<Vec<Subscription>, StoreError>;
    /// A user's invoices, newest first.
    async fn invoices_of(&self, user: UserId, limit: u32) -> Result<Vec<Invoice>, StoreError>;
    /// When the user's latest paid invoice was paid.
    async fn last_payment_at(&self, user: UserId) -> Result<Option<OffsetDateTime>, StoreError>;

    // --- inbox ---------------------------------------------------------------------------

    /// Stores a verified event; `false` when an event with this id is already stored.
    async fn record_event(&self, event: &NewEvent) -> Result<bool, StoreError>;
    /// Stores a batch of verified events in one transaction (group commit): all or none.
    /// One answer per event, in order: `false` when the id is already stored, or appears
    /// earlier in the same batch.
    async fn record_events(&self, events: &[NewEvent]) -> Result<Vec<bool>, StoreError>;
    /// Leases up to `limit` due `received` events for `lease`; each claim counts an attempt.
    async fn claim_events(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<InboxEvent>, StoreError>;
    /// Applies what an event (or a server-side fetch, `event: None`) changed and marks the
    /// event processed, in one transaction. Writes that
    /// are older than what is stored (by `fetched_at`), or that would move a terminal
    /// subscription, are skipped: state never rolls back (invariant 3).
    async fn apply_sync(
        &self,
        event: Option<&StripeEventId>,
        changes: &SyncChanges,
    ) -> Result<(), StoreError>;
    /// Records the outcome of an attempt that did not apply: ignored, retry later, or failed.
    async fn settle_event(
        &self,
        event: &StripeEventId,
        status: EventStatus,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// `settle_event` for a worker's batch, in one statement (per thousand outcomes).
    async fn settle_events(
        &self,
        settlements: &[Settlement],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    async fn event(&self, id: &StripeEventId) -> Result<Option<InboxEvent>, StoreError>;
    /// Events, newest first, optionally of one status.
    async fn events(
        &self,
        status: Option<EventStatus>,
        page: Page<StripeEventId>,
    ) -> Result<Vec<InboxEvent>, StoreError>;
    /// Queues an event to be processed again from scratch; `false` if there is no such event.
    async fn replay_event(
        &self,
        id: &StripeEventId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Queues every failed event again; returns how many.
    async fn replay_failed(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    // --- outbox --------------------------------------------------------------------------

    /// Leases due outbox messages.
    async fn claim_messages(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<PendingMessage>, StoreError>;
    async fn settle_message(
        &self,
        id: &str,
        delivered: bool,
        error: Option<&str>,
        next_attempt_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Audit entries, newest first.
    async fn audit_log(&self, page: Page<crate::AuditId>) -> Result<Vec<AuditEntry>, StoreError>;
}
